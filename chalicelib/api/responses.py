"""Request parsing and the one mapping from domain errors to REST responses."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from chalice import Blueprint, Response

from chalicelib import runtime
from chalicelib.api import contract
from chalicelib.errors import BadRequest, KefuError, TooLarge, ValidationFailed
from chalicelib.jsontext import strict_json
from chalicelib.observability import logger
from chalicelib.services import performance

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

MAX_BODY_BYTES = 64 * 1024
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
ModelT = TypeVar("ModelT", bound="BaseModel")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body=body, status_code=status,
                    headers={"Content-Type": "application/json", **NOSNIFF, **(headers or {})})


def error_response(error: KefuError) -> Response:
    retry_after = error.details.get("retry_after")
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return json_response(error.to_dict(), status=error.status, headers=headers)


def validation_message(error: ValidationError) -> str:
    """A readable summary of what failed validation, for the ``message`` of a 422."""
    return ValidationFailed.from_pydantic(error).message


def parse_body(bp: Blueprint, model: type[ModelT]) -> ModelT:
    """The JSON body validated by ``model``; 400/413/422 for what a client got wrong."""
    raw = bp.current_request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise TooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes")
    data = strict_json(raw, "request body") if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object")
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ValidationFailed(validation_message(e)) from e


def source_ip(bp: Blueprint) -> str | None:
    """The caller's address as API Gateway saw it."""
    context = bp.current_request.context or {}
    return (context.get("identity") or {}).get("sourceIp")


def query_params(bp: Blueprint) -> dict[str, str]:
    return dict(bp.current_request.query_params or {})


def int_param(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise BadRequest(f"{name} must be an integer") from e
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must be between {low} and {high}")
    return value


CHALICE_CODES = {
    "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "BadRequest": "bad_request",
    "BadRequestError": "bad_request",
    "InternalServerError": "internal_error",
}


def house_shape(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """HTTP middleware: the answers Chalice gives itself (405, 415...) in our ``{"error",
    "message"}`` shape, and ``nosniff`` on every response."""
    runtime.count_invocation()
    response = get_response(event)
    body = response.body
    if isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code = CHALICE_CODES.get(str(body["Code"]), "error")
        response.body = {"error": code, "message": body["Message"]}
        response.headers["Content-Type"] = "application/json"
    response.headers.update(NOSNIFF)
    return response


def handles_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into ``{"error", "message"}`` responses; log the unexpected ones."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except KefuError as e:
            return error_response(e)
        except Exception:
            logger.exception("unhandled error")
            return json_response({"error": "internal_error",
                                  "message": "An internal error occurred."}, status=500)

    return wrapper


def timed(name: str, view: Callable[..., Any]) -> Callable[..., Any]:
    """Record each call's latency and status under ``name`` (``services.performance``)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        response = view(*args, **kwargs)
        elapsed = time.perf_counter() - started
        status = response.status_code if isinstance(response, Response) else 200
        performance.record("rest", name, elapsed, status)
        return response

    return wrapper


def route(bp: Blueprint, path: str, *, answers: Mapping[int, str | None] | None = None,
          body: str | None = None, query: str | None = None, errors: tuple[int, ...] = (),
          media: tuple[str, ...] = (), headers: Mapping[str, str] | None = None,
          **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``bp.route`` with the error mapping applied and every call timed, so no view forgets; the
    view's contract (``api.contract``: model names of its body, query and answers, its errors) is
    kept on it for the OpenAPI document."""
    name = f"{','.join(options.get('methods') or ['GET'])} {path}"
    promised = None if answers is None else contract.Contract(
        answers=dict(answers), body=body, query=query, errors=tuple(errors), media=tuple(media),
        headers=dict(headers or {}))

    def decorate(view: Callable[..., Any]) -> Any:
        wrapped = contract.attach(timed(name, handles_errors(view)), promised)
        return bp.route(path, **options)(wrapped)

    return decorate
