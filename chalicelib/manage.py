"""Operator commands against a deployed stage (or the local stack), e.g. the first admin:

    python -m chalicelib.manage create-agent --username alice --role admin --display-name "Alice"
    python -m chalicelib.manage reports --from 2026-11-01 --to 2026-11-25    # backfill daily reports

    python -m chalicelib.manage --stage prod create-agent --username alice --role admin

The password is asked for (or read from ``KEFU_NEW_AGENT_PASSWORD``), never taken as an argument,
so it stays out of shell history. The target must be named: ``--stage`` or ``KEFU_STAGE`` (tables
and region then come from the same variables the functions use: ``KEFU_TABLE_PREFIX``,
``AWS_REGION``). Without either, a local stack (``make run``) running from this checkout is used
when there is one (and ``AWS_ENDPOINT_URL_DYNAMODB`` is not set); otherwise the command refuses,
rather than write to whatever tables AWS credentials happen to reach. Every command first says on
stderr which stage, tables, region and endpoint it works on.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import date
from pathlib import Path

BAR_WIDTH = 30


def _progress(done: int, total: int, day: date) -> None:
    """A one-line progress bar on stderr, redrawn in place."""
    filled = BAR_WIDTH * done // total
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} {day.isoformat()}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_SESSION_TOKEN": "testing"}


def _running_local_stack() -> dict | None:
    """What ``python -m devstack`` wrote about itself (``<data dir>/stack.json``), if it still runs."""
    data_dir = Path(os.environ.get("KEFU_DATA_DIR") or Path(__file__).resolve().parent.parent / ".data")
    try:
        described = json.loads((data_dir / "stack.json").read_text(encoding="utf-8"))
        os.kill(int(described["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return described


class NoTarget(Exception):
    """The command was not told which deployment to work on."""


def choose_target(stage: str | None) -> None:
    """Settle, before anything reads the configuration, which tables the command works on: the
    stage named by ``--stage`` or ``KEFU_STAGE``, or else the running local stack. ``NoTarget``
    when neither names one, or when the two disagree."""
    named = os.environ.get("KEFU_STAGE")
    if stage and named and stage != named:
        raise NoTarget(f"--stage {stage} disagrees with KEFU_STAGE={named}")
    stage = stage or named
    if not os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"):
        stack = _running_local_stack()
        if stack is not None and stage in (None, stack["stage"]):
            use_local_stack(stack)
            return
    if not stage:
        raise NoTarget("name the deployment to work on: --stage <stage> (or KEFU_STAGE); "
                       "for the local stack, start it first (make run)")
    os.environ["KEFU_STAGE"] = stage


def describe_target() -> str:
    """Which stage, tables, region and DynamoDB endpoint the command works on."""
    from chalicelib.config import get_config

    config = get_config()
    return (f"stage {config.stage}: tables {config.table_prefix}-*, region {config.region}, "
            f"DynamoDB {config.dynamodb_endpoint or 'of the AWS account in use'}")


def use_local_stack(stack: dict) -> None:
    """Point at the running local stack described by ``stack``."""
    os.environ.update(LOCAL_CREDENTIALS)  # the local stack never needs, nor gets, real ones
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update({"AWS_ENDPOINT_URL_DYNAMODB": stack["dynamodb_endpoint"], "KEFU_STAGE": stack["stage"],
                       "KEFU_TABLE_PREFIX": stack["table_prefix"], "AWS_REGION": stack["region"],
                       "AWS_DEFAULT_REGION": stack["region"]})
    sys.stderr.write(f"using the local stack at {stack['rest_url']} (DynamoDB {stack['dynamodb_endpoint']})\n")


def _password() -> str:
    password = os.environ.get("KEFU_NEW_AGENT_PASSWORD")
    if password:
        return password
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise SystemExit("passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.manage")
    parser.add_argument("--stage", help="the deployment to work on (else KEFU_STAGE, else the running local stack)")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-agent", help="create an agent or admin account")
    create.add_argument("--username", required=True)
    create.add_argument("--display-name")
    create.add_argument("--role", choices=("agent", "admin"), default="agent")
    create.add_argument("--max-concurrent", type=int)
    commands.add_parser("list-agents", help="list agent accounts")
    backfill = commands.add_parser("reports", help="generate and store the daily reports of a range of days")
    backfill.add_argument("--from", dest="first", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD")
    backfill.add_argument("--to", dest="last", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD")
    args = parser.parse_args(argv)

    try:
        choose_target(args.stage)
    except NoTarget as e:
        sys.stderr.write(f"refused: {e}\n")
        return 2
    sys.stderr.write(f"working on {describe_target()}\n")
    from chalicelib.errors import KefuError
    from chalicelib.services import agents
    from chalicelib.services.analytics import reports as daily_reports

    try:
        if args.command == "reports":
            reports = daily_reports.generate_reports(args.first, args.last, progress=_progress)
            summary = [{"date": r["date"], "sessions": r["overall"]["sessions_started"]} for r in reports]
            sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        elif args.command == "create-agent":
            password = _password()
            if len(password) < 8:
                raise SystemExit("the password needs at least 8 characters")
            agent = agents.create_agent(args.username, password, args.display_name, args.role,
                                        args.max_concurrent)
            sys.stdout.write(json.dumps(agent.to_public(), indent=2) + "\n")
        else:
            listing = [a.to_public() for a in agents.list_agents()]
            sys.stdout.write(json.dumps(listing, indent=2) + "\n")
    except KefuError as e:
        sys.stderr.write(f"{e.code}: {e.message}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
