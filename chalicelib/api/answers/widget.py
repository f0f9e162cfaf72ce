"""The widget's settings and whether anyone can answer now: ``/api/widget``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.answers.common import Answer, Iso

Prechat = Literal["off", "optional", "required"]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class PrechatFields(Answer):
    name: Prechat
    email: Prechat


class BusinessHours(Answer):
    timezone: str
    weekly: dict[Day, list[list[str]]] = Field(description='per day, ["HH:MM", "HH:MM"] intervals')


class CorsCheck(Answer):
    """Whether the API admits the ``Origin`` that asked (a widget on a refused page says why)."""

    origin: str | None
    allowed: bool
    setting: str


class WidgetSettings(Answer):
    color: str
    position: Literal["right", "left"]
    greeting: str | None
    offline_text: str
    avatar_url: str | None
    prechat: PrechatFields
    business_hours: BusinessHours | None
    updated_at: Iso | None = Field(description="null until an admin saved settings")
    cors: CorsCheck


class Availability(Answer):
    """Advisory: the first message asks again."""

    can_answer: bool
    reason: Literal["available", "busy", "no_agents", "closed"]
    within_hours: bool
    agents_online: bool
    next_open_at: Iso | None
    offline_text: str | None
    checked_at: Iso
