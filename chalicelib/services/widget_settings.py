"""The widget's settings, changed by an admin without redeploying: colour, position, greeting,
business hours, offline text, avatar, pre-chat fields (docs/protocol.md).

One document, validated whole before it is stored (``api.bodies.WidgetSettingsBody``), read whole.
Until an admin saves one, the defaults below apply. Writes are conditioned on the revision they
replace, so an ``If-Match`` from an admin holding an old copy is refused instead of undoing a
newer change.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

import msgspec

from chalicelib import clock
from chalicelib.errors import PreconditionFailed
from chalicelib.models import SettingsModel
from chalicelib.models.base import conditional, get_or_none, rounds
from chalicelib.models.settings import WIDGET_SETTINGS
from chalicelib.services.container import Recent

DEFAULTS: dict[str, Any] = {
    "color": "#2f6fed",
    "position": "right",
    "greeting": None,
    "offline_text": "We're away right now. Leave your email and we'll reply there.",
    "avatar_url": None,
    "prechat": {"name": "optional", "email": "optional"},
    "business_hours": None,
}
WRITE_ROUNDS = 3
WRITES_KEPT = 10  # ids of the last writes kept on the item (see models.settings)
RECENT_SECONDS = 10.0


class WidgetSettings(msgspec.Struct, frozen=True):
    document: dict[str, Any]
    revision: int
    updated_at: str | None

    def etag(self, body: Any) -> str:
        """A strong ETag for ``body`` (what is served of these settings): the revision, which
        ``If-Match`` is checked against, and a hash of the body's canonical text."""
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return f'"r{self.revision}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"'


# the settings as this container last read or wrote them (``recent``)
_recent: Recent[str, WidgetSettings] = Recent(max_age=RECENT_SECONDS)


def revision_of(etag: str) -> int | None:
    """The revision an ETag of ``WidgetSettings.etag`` names (None for anything else)."""
    match = re.fullmatch(r'(?:W/)?"r(\d+)-[0-9a-f]+"', etag.strip())
    return int(match.group(1)) if match else None


def current() -> WidgetSettings:
    """The settings in force (the defaults until an admin saved some)."""
    return _settings_of(get_or_none(SettingsModel, WIDGET_SETTINGS))


def _settings_of(stored: SettingsModel | None) -> WidgetSettings:
    if stored is None:
        settings = WidgetSettings(dict(DEFAULTS), 0, None)
    else:
        settings = WidgetSettings({**DEFAULTS, **json.loads(stored.document)}, int(stored.revision or 0),
                                  stored.updated_at)
    _keep(settings)
    return settings


def recent() -> WidgetSettings:
    """The settings as this container read them at most ``RECENT_SECONDS`` ago, for what a frame
    checks (a ``start_session``'s pre-chat form and greeting): a read per frame would be a seventh
    of a conversation's start. A change binds every container within that time."""
    return _recent.get(WIDGET_SETTINGS) or current()


def _keep(settings: WidgetSettings) -> None:
    """Remember ``settings`` unless a newer revision is remembered (a read that started before a
    save may end after it)."""
    known = _recent.get(WIDGET_SETTINGS)
    if known is None or settings.revision >= known.revision:
        _recent.put(WIDGET_SETTINGS, settings)


def replace(document: dict[str, Any], admin_id: str, if_match: str | None = None) -> WidgetSettings:
    """Store ``document`` (already validated) as the settings. ``if_match`` (an ETag of the
    settings, or ``*``): only while they are still at the revision it names
    (``precondition_failed`` otherwise); without it the last writer wins."""
    text = json.dumps(document, sort_keys=True, ensure_ascii=False)
    expected = None if if_match is None or if_match.strip() == "*" else revision_of(if_match)
    if if_match is not None and if_match.strip() != "*" and expected is None:
        raise PreconditionFailed("If-Match must be an ETag of the settings")
    write_id = uuid.uuid4().hex[:16]

    def written_by_this_call() -> bool:
        stored = get_or_none(SettingsModel, WIDGET_SETTINGS)
        return stored is not None and write_id in (stored.writes or ())

    for _ in rounds(WRITE_ROUNDS):
        stored = get_or_none(SettingsModel, WIDGET_SETTINGS)
        before = _settings_of(stored)
        if expected is not None and expected != before.revision:
            raise PreconditionFailed("the settings changed since you read them; read them again")
        now = clock.iso()
        writes = [*((stored.writes or []) if stored is not None else [])[-(WRITES_KEPT - 1):], write_id]
        item = SettingsModel(WIDGET_SETTINGS, document=text, revision=before.revision + 1, updated_at=now,
                             updated_by=admin_id, writes=writes)
        condition = (SettingsModel.revision == before.revision) if before.revision \
            else SettingsModel.name.does_not_exist()

        if conditional(lambda i=item, c=condition: i.save(condition=c), already_done=written_by_this_call):
            saved = WidgetSettings({**DEFAULTS, **document}, before.revision + 1, now)
            _keep(saved)
            return saved
        if expected is not None:
            break
    raise PreconditionFailed("the settings changed meanwhile; read them again")
