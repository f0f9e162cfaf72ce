"""Domain errors. Services raise these; api/ and ws/ map them to responses in one place each."""

from __future__ import annotations

from typing import Any


class KefuError(Exception):
    """Base of every error a client can cause; ``code`` is stable, ``status`` is the REST status."""

    code = "error"
    status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        body.update(self.details)
        return body


class BadRequest(KefuError):
    code = "bad_request"
    status = 400


class InvalidJson(KefuError):
    code = "invalid_json"
    status = 400


class OutOfRange(KefuError):
    """A well-formed value outside what can be served (a day beyond the calendar kefu computes)."""

    code = "out_of_range"
    status = 400


class ValidationFailed(KefuError):
    code = "validation_error"
    status = 422

    @classmethod
    def from_pydantic(cls, error: Any) -> ValidationFailed:
        """A readable summary of a Pydantic ``ValidationError`` (REST bodies and WS frames alike)."""
        parts = []
        for item in error.errors():
            where = ".".join(str(p) for p in item["loc"]) or "body"
            parts.append(f"{where}: {item['msg']}")
        return cls("; ".join(parts))


class Unauthorized(KefuError):
    code = "unauthorized"
    status = 401


class Forbidden(KefuError):
    code = "forbidden"
    status = 403


class NotFound(KefuError):
    code = "not_found"
    status = 404


class Conflict(KefuError):
    code = "conflict"
    status = 409


class CapacityFull(Conflict):
    code = "capacity_full"


class TooLarge(KefuError):
    code = "too_large"
    status = 413


class UnknownAction(KefuError):
    code = "unknown_action"
    status = 400


class RateLimited(KefuError):
    code = "rate_limited"
    status = 429


class Unavailable(KefuError):
    code = "unavailable"
    status = 503


class PreconditionFailed(KefuError):
    code = "precondition_failed"
    status = 412


class PrechatRequired(ValidationFailed):
    """The widget's settings require a name or email the visitor has not given."""

    code = "prechat_required"


class EmailRequired(ValidationFailed):
    code = "email_required"


class InvalidUserHash(Forbidden):
    """``identify`` with a ``user_hash`` that is not the HMAC of its ``user_id``."""

    code = "invalid_user_hash"


class IdentityConflict(Conflict):
    code = "identity_conflict"


class AttachmentTooLarge(TooLarge):
    code = "attachment_too_large"


class UnsupportedType(KefuError):
    code = "unsupported_type"
    status = 415


class AttachmentRejected(ValidationFailed):
    """The uploaded object is not what an attachment may be (its first bytes decide)."""

    code = "attachment_rejected"


class AttachmentNotUploaded(Conflict):
    code = "attachment_not_uploaded"
