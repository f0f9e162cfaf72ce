"""What every answer shares: the base model, timestamps, the error shape."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


Iso = str  # an ISO 8601 UTC timestamp, e.g. 2024-05-01T12:00:00.000000+00:00


class ErrorAnswer(Answer):
    """Every refusal: a stable ``error`` code and a readable ``message`` (429s add ``retry_after``)."""

    error: str
    message: str
