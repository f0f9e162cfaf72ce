"""The console's saved replies and customer panel: ``/api/canned-responses``, ``/api/customers``
(its closed list and search answer ``chat.SessionPage`` / ``chat.SessionList``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.answers.chat import Session
from chalicelib.api.answers.common import Answer, Iso
from chalicelib.api.answers.people import Attribute


class CannedResponse(Answer):
    id: str
    scope: Literal["team", "personal"]
    shortcut: str
    title: str | None
    text: str
    created_by: str
    created_at: Iso
    updated_at: Iso | None


class CannedResponses(Answer):
    canned_responses: list[CannedResponse]


class Software(Answer):
    name: str
    version: str | None


class CustomerContext(Answer):
    """Where the customer writes from (what their newest conversation's page told)."""

    page_url: str | None = None
    page_title: str | None = None
    referrer: str | None = None
    language: str | None = None
    time_zone: str | None = None
    user_agent: str | None = None


class Customer(Answer):
    visitor_id: str
    name: str | None
    email: str | None
    verified: bool
    user_id: str | None
    attributes: dict[str, Attribute]
    created_at: Iso | None
    context: CustomerContext
    browser: Software | None = Field(description="from the user agent")
    os: Software | None
    device: str | None
    sessions: list[Session] = Field(description="their latest conversations, newest first")
