"""The daily report, stored at 00:10 UTC for the day before.

Safe to run more than once: storing replaces the day's report. On top of that, a delivery
EventBridge repeats (same event ``id``) is answered from the Powertools Idempotency record
instead of being computed again; a delivery that failed leaves no record, so its retry runs.
Idempotency records live in the reports table under their own key prefix (``kefu-daily_report#``).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from chalice import Blueprint, Cron

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.services.analytics import reports as daily_reports

bp = Blueprint(__name__)

# What the daily report touches (its generated IAM policy gives it these tables alone, and no
# @connections): it reads the day's sessions, activity, messages and agents, stores the report and
# its idempotency record.
TABLES_USED = ("sessions", "activity", "reports", "agents", "messages")
PUSHES_TO_SOCKETS = False

IDEMPOTENCY_EXPIRY_SECONDS = 24 * 3600


def run_daily_report(delivery: dict[str, Any]) -> dict[str, Any]:
    """Generate and store the report of the day before the delivery's ``time``."""
    delivered = datetime.fromisoformat(delivery["time"]) if delivery.get("time") else clock.now()
    day = daily_reports.report_day_for(delivered)
    body = daily_reports.generate_report(day)
    return {"date": day.isoformat(), "sessions": body["overall"]["sessions_started"],
            "generated_at": body["generated_at"]}


@functools.lru_cache(maxsize=1)
def idempotent_run():
    """``run_daily_report`` behind Powertools Idempotency, keyed on the event id (built on first
    use: the persistence layer makes a boto3 client, whose own retries resend a lost answer);
    with its config and its store."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    store = _own_write_aware_store()(table_name=get_config().table_name("reports"), key_attr="report_id")
    config = IdempotencyConfig(event_key_jmespath="id", expires_after_seconds=IDEMPOTENCY_EXPIRY_SECONDS)
    run = idempotent_function(data_keyword_argument="delivery", persistence_store=store, config=config)
    return config, store, run(run_daily_report)


def _own_write_aware_store() -> type:
    """Powertools' DynamoDB persistence layer, but a put of the in-progress record whose answer was
    lost (botocore retries it and meets the record it wrote, AWS_FACTS) is recognised by the two
    expiry timestamps it wrote and taken as done, instead of failing the delivery as "already in
    progress" with nobody running it."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemAlreadyExistsError
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

    class OwnWriteAwareLayer(DynamoDBPersistenceLayer):
        def _put_record(self, data_record: DataRecord) -> None:
            try:
                super()._put_record(data_record)
            except IdempotencyItemAlreadyExistsError as e:
                found = e.old_data_record
                if found is None or (found.status, found.expiry_timestamp, found.in_progress_expiry_timestamp) != (
                        data_record.status, data_record.expiry_timestamp, data_record.in_progress_expiry_timestamp):
                    raise

    return OwnWriteAwareLayer


@bp.schedule(Cron(10, 0, "*", "*", "?", "*"), name="daily_report")
def daily_report(event):
    """Yesterday's report, stored (replacing any earlier run)."""
    config, _, run = idempotent_run()
    config.register_lambda_context(event.context)  # an in-progress record expires with the invocation
    return run(delivery=event.to_dict())
