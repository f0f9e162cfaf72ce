"""The Powertools singletons. Import them from here so every module logs to one service.

Metrics are CloudWatch EMF lines flushed at the end of each invocation (``app.py`` wraps every
handler with ``metrics.log_metrics``); ``POWERTOOLS_METRICS_DISABLED`` turns them off (tests, the
local console).
"""

import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "kefu"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Kefu", service=SERVICE)

# Most invocations (pings, reads) record no metric; that is not worth a warning each time.
warnings.filterwarnings("ignore", message="No application metrics to publish")


def count(name: str, value: int = 1) -> None:
    """Add to a count metric of this invocation."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
