"""Saved replies (canned responses). PK ``owner``: ``team`` for the replies admins manage for
everyone, an agent's id for their personal ones; SK ``canned_id`` (``t_...`` team, ``p_...``
personal, so an id alone says which partition holds it). An agent's picker is two Queries: the
team's partition and their own."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta

TEAM = "team"


class CannedResponseModel(KefuModel):
    """One saved reply: a ``shortcut`` typed after ``/`` in the composer, and its text (which may
    hold ``{{customer.name}}`` and ``{{agent.name}}``, filled in by the console)."""

    Meta = table_meta("canned_responses")

    owner = UnicodeAttribute(hash_key=True)
    canned_id = UnicodeAttribute(range_key=True)
    shortcut = UnicodeAttribute()
    title = UnicodeAttribute(null=True)
    text = UnicodeAttribute()
    created_by = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)

    @property
    def scope(self) -> str:
        return "team" if self.owner == TEAM else "personal"

    def to_public(self) -> dict:
        return {"id": self.canned_id, "scope": self.scope, "shortcut": self.shortcut, "title": self.title,
                "text": self.text, "created_by": self.created_by, "created_at": self.created_at,
                "updated_at": self.updated_at}
