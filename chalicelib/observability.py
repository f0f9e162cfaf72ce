"""The Powertools singletons. Import them from here so every module logs to one service."""

from aws_lambda_powertools import Logger, Metrics

SERVICE = "kefu"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Kefu", service=SERVICE)
