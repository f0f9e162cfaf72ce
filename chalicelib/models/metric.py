"""Per-minute latency histograms (PK ``hour``, e.g. ``2026-11-28T14``; SK ``slot``,
``<epoch minute>#<kind>#<name>``, e.g. ``29780640#rest#GET /api/agents``). One item per route or
WebSocket action per minute, updated only with ``ADD`` so every Lambda container merges into it
without reading. A reader of the last 60 minutes Queries at most two hours by SK range (no Scan).
``h00``..``h40`` count requests per fixed log-scale latency bin (see ``LATENCY_EDGES_MS``), top
level because DynamoDB's ``ADD`` works on top-level attributes only. ``expires_at`` (TTL) keeps
two days."""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta

# Bin i holds latencies below LATENCY_EDGES_MS[i] (and at or above the previous edge): upper
# edges 1 ms, 1.41 ms, 2 ms ... doubling every two bins up to about 17 minutes; the last bin is open.
BINS = 41
LATENCY_EDGES_MS = tuple(2 ** (i / 2) for i in range(BINS - 1))


def bin_name(index: int) -> str:
    return f"h{index:02d}"


class MetricModel(KefuModel):
    """One route's (or action's) requests, errors and latency histogram in one minute."""

    Meta = table_meta("metrics", ttl_attribute="expires_at")

    hour = UnicodeAttribute(hash_key=True)
    slot = UnicodeAttribute(range_key=True)
    requests = NumberAttribute(default=0)
    errors_4xx = NumberAttribute(default=0)
    errors_5xx = NumberAttribute(default=0)
    expires_at = NumberAttribute(default=0)
    for _index in range(BINS):
        vars()[bin_name(_index)] = NumberAttribute(null=True)
    del _index
