"""The admin agent every local stack starts with, so a developer can log in straight away.

The admin lives in DynamoDB and therefore persists through snapshots; its generated password is
saved beside the snapshot so the banner can show it again on later starts.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from devstack.environment import write_private

log = logging.getLogger(__name__)

ADMIN_FILE = "admin.json"


@dataclass(frozen=True)
class AdminCredentials:
    """What the banner shows. ``password`` is None when it is not known to this stack."""

    username: str
    password: str | None
    created: bool
    problem: str | None = None


def _saved_password(data_dir: Path | None, username: str) -> str | None:
    if data_dir is None or not (data_dir / ADMIN_FILE).exists():
        return None
    saved = json.loads((data_dir / ADMIN_FILE).read_text(encoding="utf-8"))
    return saved.get("password") if saved.get("username") == username else None


def seed_admin(data_dir: Path | None) -> AdminCredentials:
    """Create the admin unless it exists (``KEFU_ADMIN_USERNAME`` / ``KEFU_ADMIN_PASSWORD``)."""
    username = os.environ.get("KEFU_ADMIN_USERNAME") or "admin"
    given = os.environ.get("KEFU_ADMIN_PASSWORD") or None
    saved = None if given else _saved_password(data_dir, username)
    password = given or saved or secrets.token_urlsafe(12)
    try:
        from chalicelib.services.agents import ensure_admin
    except ImportError as e:
        problem = f"admin not seeded: chalicelib.services.agents.ensure_admin is missing ({e})"
        log.error(problem)
        return AdminCredentials(username, None, created=False, problem=problem)
    created = ensure_admin(username, password)
    if created and not given and data_dir is not None:
        write_private(data_dir / ADMIN_FILE, json.dumps({"username": username, "password": password}))
    if created or given or saved:
        return AdminCredentials(username, password, created=created)
    # The admin predates this data dir's saved password (or it was deleted): we cannot know it.
    return AdminCredentials(username, None, created=False,
                            problem="existing admin, password unknown: set KEFU_ADMIN_PASSWORD "
                                    "or start with --fresh")
