"""Workspace settings an admin changes without redeploying (PK ``name``: ``widget``).

The document is kept as JSON text: it is read and written whole, validated by the service before
it is stored, and its ETag is a hash of that text. ``revision`` grows by one with every write, so
a write can be conditioned on the revision it replaces (``If-Match``). ``writes`` holds the ids of
the last few writes (each one extends the list it read, under the revision condition, so none is
ever dropped but the oldest): a retry after a lost answer finds its own there, even when another
admin saved after it.
"""

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta

WIDGET_SETTINGS = "widget"


class SettingsModel(KefuModel):
    """One named settings document."""

    Meta = table_meta("settings")

    name = UnicodeAttribute(hash_key=True)
    document = UnicodeAttribute()  # JSON text, as validated when it was written
    revision = NumberAttribute(default=0)
    updated_at = UnicodeAttribute(null=True)
    updated_by = UnicodeAttribute(null=True)
    writes = ListAttribute(of=UnicodeAttribute, null=True)  # the last writes' ids, oldest first
