"""``python -m devstack`` (``make run``): start the local stack, print where it is, run until
Ctrl-C or SIGTERM, then stop cleanly (sockets closed, snapshot saved). Every write DynamoDB
acknowledged is journaled first, so even ``kill -9`` loses nothing acknowledged.

Ports: ``KEFU_HTTP_PORT`` (8000), ``KEFU_WS_PORT`` (8001), ``KEFU_WS_MGMT_PORT`` (8002); data:
``KEFU_DATA_DIR`` (``.data/``); ``--fresh`` or ``KEFU_FRESH=1`` starts with empty tables (the old
data is moved into ``<data dir>/previous-<time>/``, not deleted); ``KEFU_SCHEDULES=0`` keeps the
scheduled jobs from running.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devstack import environment
from devstack.stack import Stack


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _banner(stack: Stack) -> str:
    admin = stack.admin
    if admin is None:
        admin_line = "  admin        - (not seeded)"
    elif admin.password is None:
        admin_line = f"  admin        {admin.username} ({admin.problem})"
    else:
        created = " (created now)" if admin.created else ""
        admin_line = f"  admin        {admin.username} / {admin.password}{created}"
    data_lines = [f"  data         {_data_line(stack)}"]
    if stack.previous_data is not None:
        data_lines.append(f"  previous     {stack.previous_data}   (--fresh moved the old data here)")
    return "\n".join([
        "",
        "kefu local stack is up",
        f"  Customer     {stack.widget_url}   (the demo page with the chat widget)",
        f"  Console      {stack.console_url}   (agents log in here)",
        f"  Widget       {stack.rest_url}/widget.js",
        f"  REST         {stack.rest_url}",
        f"  WebSocket    {stack.ws_url}?token=<token>",
        f"  @connections {stack.management_endpoint}",
        f"  DynamoDB     {stack.dynamodb_endpoint}",
        *_aws_lines(stack),
        f"  sim          {stack.sim}",
        admin_line,
        *data_lines,
        "Ctrl-C stops it.",
        "",
    ])


def _aws_lines(stack: Stack) -> list[str]:
    from chalicelib.config import get_config

    config = get_config()
    outbox = f"every mail also in {stack.outbox_path} and this log" if stack.outbox_path else "mail in this log"
    secret = (f"the secret in {stack.data_dir / environment.IDENTITY_SECRET_FILE}" if stack.data_dir is not None
              else "KEFU_IDENTITY_SECRET")
    return [
        f"  S3           {stack.s3_endpoint}   (attachments: bucket {config.attachments_bucket})",
        f"  SES          {stack.ses_endpoint}   (from {config.mail_from}; {outbox})",
        f"  identify     user_hash = hex HMAC-SHA256 of user_id with {secret}",
    ]


def _data_line(stack: Stack) -> str:
    if stack.data_dir is None:
        return "- (nothing kept)"
    if stack.is_journaled:
        return (f"{stack.data_dir}   (snapshot + journal: {stack.loaded_items} items loaded, "
                f"{stack.replayed_writes} journaled writes replayed; every acknowledged write survives a crash)")
    return (f"{stack.data_dir}   (snapshot every {stack.snapshot_interval:g} s of the external DynamoDB: "
            f"{stack.loaded_items} items loaded)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true",
                        help="start with empty tables (the old data moves to <data dir>/previous-<time>/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("KEFU_DEVSTACK_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("websockets", "botocore", "werkzeug", "pynamodb"):  # moto logs every request
        logging.getLogger(noisy).setLevel(logging.WARNING)

    stack = Stack(
        http_port=_port("KEFU_HTTP_PORT", 8000),
        ws_port=_port("KEFU_WS_PORT", 8001),
        mgmt_port=_port("KEFU_WS_MGMT_PORT", 8002),
        data_dir=Path(os.environ.get("KEFU_DATA_DIR") or environment.DEFAULT_DATA_DIR),
        fresh=args.fresh or environment.is_true("KEFU_FRESH", False),
        schedules=environment.is_true("KEFU_SCHEDULES", True),
    )
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start()
    except OSError as e:
        print(f"could not start the local stack: {e}\n(is another one running? the ports are set with "
              "KEFU_HTTP_PORT, KEFU_WS_PORT and KEFU_WS_MGMT_PORT)", file=sys.stderr)
        return 1
    # The app, its libraries' models and the stack's servers live as long as the process: set
    # aside from the collector, a full collection walks only what came after (a burst of new
    # conversations otherwise met one that walked all of it, a tenth of a second of every request).
    gc.collect()
    gc.freeze()
    try:
        print(_banner(stack), flush=True)
        while not stopping.wait(timeout=0.2):
            pass
    finally:
        print("stopping...", flush=True)
        stack.stop()
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
