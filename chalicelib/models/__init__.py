"""PynamoDB models: the only code that knows table layout, and the one source of truth for tables.

``ALL_MODELS`` drives local/test table creation (``create_all_tables``) and the CloudFormation
resources (``infra/generate.py``); ``tests/unit/test_table_drift.py`` fails when they disagree.
"""

from __future__ import annotations

from chalicelib.models.activity import ActivityModel
from chalicelib.models.agent import AgentModel
from chalicelib.models.assignment import AssignmentModel
from chalicelib.models.attachment import AttachmentModel
from chalicelib.models.canned import CannedResponseModel
from chalicelib.models.connection import ConnectionModel
from chalicelib.models.counter import CounterModel
from chalicelib.models.customer_term import CustomerTermModel
from chalicelib.models.limit import LimitModel
from chalicelib.models.message import MessageKeyModel, MessageModel
from chalicelib.models.metric import MetricModel
from chalicelib.models.report import ReportModel
from chalicelib.models.session import SessionModel
from chalicelib.models.settings import SettingsModel
from chalicelib.models.ticket import TicketModel
from chalicelib.models.visitor import VisitorModel
from chalicelib.models.wsstats import WsStatsModel

ALL_MODELS = (
    ConnectionModel,
    VisitorModel,
    AgentModel,
    SessionModel,
    MessageModel,
    MessageKeyModel,
    AssignmentModel,
    CounterModel,
    ReportModel,
    WsStatsModel,
    LimitModel,
    MetricModel,
    ActivityModel,
    SettingsModel,
    AttachmentModel,
    CannedResponseModel,
    CustomerTermModel,
    TicketModel,
)

__all__ = [
    "ALL_MODELS",
    "ActivityModel",
    "AgentModel",
    "AssignmentModel",
    "AttachmentModel",
    "CannedResponseModel",
    "ConnectionModel",
    "CounterModel",
    "CustomerTermModel",
    "LimitModel",
    "MessageKeyModel",
    "MessageModel",
    "MetricModel",
    "ReportModel",
    "SessionModel",
    "SettingsModel",
    "TicketModel",
    "VisitorModel",
    "WsStatsModel",
]
