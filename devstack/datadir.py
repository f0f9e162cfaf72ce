"""What the local stack keeps in its data dir, and setting it aside for a fresh start.

A fresh start (``--fresh``, ``KEFU_FRESH=1``) must not destroy anything: the stack's files move into
``{data_dir}/previous-<UTC time>/``, from where moving them back undoes it. Only the stack's own
files move, so a data dir pointed at a folder holding other things leaves those alone.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from devstack.admin import ADMIN_FILE
from devstack.dynamodb import SNAPSHOT_FILE
from devstack.environment import IDENTITY_SECRET_FILE, JWT_SECRET_FILE, OUTBOX_FILE
from devstack.journal import JOURNAL_DIR

# The data a stack keeps: the tables (snapshot and journal), the admin's password, the JWT secret
# (a fresh start issues new tokens: the users the old ones named are gone), the identity secret
# and the mail sent. Not stack.json, which only describes the running stack.
STACK_DATA = (SNAPSHOT_FILE, JOURNAL_DIR, ADMIN_FILE, JWT_SECRET_FILE, IDENTITY_SECRET_FILE, OUTBOX_FILE)
PREVIOUS_PREFIX = "previous-"


def set_aside(data_dir: Path) -> Path | None:
    """Move the stack's data in ``data_dir`` into a new ``previous-<UTC time>`` folder beside it and
    return that folder; None when there was nothing to move."""
    present = [data_dir / name for name in STACK_DATA if (data_dir / name).exists()]
    if not present:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = data_dir / f"{PREVIOUS_PREFIX}{stamp}"
    suffix = 2
    while target.exists():
        target = data_dir / f"{PREVIOUS_PREFIX}{stamp}-{suffix}"
        suffix += 1
    target.mkdir(parents=True)
    for path in present:
        os.replace(path, target / path.name)
    return target
