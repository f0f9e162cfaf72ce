"""Analytics: figures of a period, stored daily reports, insights, and their files.

Modules, each owning one thing: ``periods`` (the days asked for, bounded), ``data`` (what a period
reads, through time-keyed keys only), ``metrics`` (the definitions, pure functions over the data),
``statistics`` (a range's figures with the live counts), ``reports`` (the stored daily reports),
``insights`` (two periods compared, findings in plain language), ``csv_export`` and ``chart`` (the
figures as CSV tables and as the server's SVG chart). Definitions: docs/analytics.md.
"""
