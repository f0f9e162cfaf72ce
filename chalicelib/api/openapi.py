"""The OpenAPI 3.1 document of the REST API, generated from the app's routes and their contracts.

Every route Chalice knows (``app.routes``) is described from what is declared on it
(``api.contract``) and the Pydantic models named there, so the document cannot list a route the app
does not have, or miss one: ``tests/api/test_openapi.py`` fails on a route without a contract, and
schemathesis (``tests/e2e/test_contract_e2e.py``) checks every answer of the running stack against it.
"""

from __future__ import annotations

import functools
from http import HTTPStatus
from typing import Any

from chalice import Chalice
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib import __version__
from chalicelib.api import answers, bodies, contract, queries

Json = dict[str, Any]
REF = "#/components/schemas/{model}"
ERROR = "ErrorAnswer"
BEARER = "bearer"
# Who an authorizer admits (chalicelib/api/auth_guard.py); anything else answers 401 at the gateway.
AUTHORIZERS = {"agent_auth": "an agent's token", "any_auth": "an agent's or a visitor's token"}
# Routes whose token is optional: without one they answer less, never 401.
OPTIONAL_TOKEN = {("GET", "/api/system/health"): "an admin's token adds the per-table checks"}


class MissingContract(LookupError):
    """A route declares no contract, or names a model that does not exist."""


def _model(module: Any, name: str) -> type[BaseModel]:
    found = getattr(module, name, None)
    if not (isinstance(found, type) and issubclass(found, BaseModel)):
        raise MissingContract(f"{module.__name__} has no model {name!r}")
    return found


def _statuses(method: str, path: str, entry: Any, promised: contract.Contract) -> set[int]:
    """Every refusal the route can give: its own, and those of every route of its kind."""
    statuses = set(promised.errors) | {400, 500}  # 400: a malformed request, refused by API Gateway itself
    if entry.authorizer is not None and (method, path) not in OPTIONAL_TOKEN:
        statuses.add(401)
    if promised.body:
        statuses |= {400, 413, 415, 422}  # bad JSON, too large, not JSON, invalid fields
    if promised.query:
        statuses |= {400, 422}  # not a number, out of range
    return statuses - set(promised.answers)


def _response(status: int, ref: Json | None, media: tuple[str, ...] = ()) -> Json:
    response: Json = {"description": HTTPStatus(status).phrase}
    if ref is not None:
        response["content"] = {"application/json": {"schema": ref}}
        for other in media:
            response["content"][other] = {"schema": {"type": "string"}}
    if status == 429:
        response["headers"] = {"Retry-After": {"description": "seconds to wait before trying again",
                                               "schema": {"type": "integer", "minimum": 0}}}
    return response


def _query_parameters(model: type[BaseModel]) -> list[Json]:
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        described = prop.pop("description", None)
        options = [p for p in prop.pop("anyOf", [prop]) if p.get("type") != "null"]  # absent, not null
        inner = {k: v for k, v in {**options[0], **prop}.items()
                 if k not in ("title", "description") and not (k == "default" and v is None)}
        parameter: Json = {"name": name, "in": "query", "required": name in required, "schema": inner}
        if described:
            parameter["description"] = described
        parameters.append(parameter)
    return parameters


def _routes(app: Chalice) -> list[tuple[str, str, Any, contract.Contract]]:
    found = []
    for path, methods in sorted(app.routes.items()):
        for method, entry in sorted(methods.items()):
            promised = contract.of(entry.view_function)
            if promised is None:
                raise MissingContract(f"{method} {path} ({entry.view_name}) declares no contract")
            found.append((path, method, entry, promised))
    return found


def _schemas(routes: list[tuple[str, str, Any, contract.Contract]]) -> tuple[dict, Json]:
    wanted: dict[tuple[type[BaseModel], str], None] = {(_model(answers, ERROR), "serialization"): None}
    for _path, _method, _entry, promised in routes:
        if promised.body:
            wanted[(_model(bodies, promised.body), "validation")] = None
        for name in promised.answers.values():
            if name:
                wanted[(_model(answers, name), "serialization")] = None
        if promised.query:
            _model(queries, promised.query)
    refs, definitions = models_json_schema(list(wanted), by_alias=True, ref_template=REF)
    return {model.__name__: ref for (model, _mode), ref in refs.items()}, definitions.get("$defs", {})


def _operation(path: str, method: str, entry: Any, promised: contract.Contract, refs: dict) -> Json:
    # Views of different blueprints share names (agents' and visitors' ``me``): the blueprint's
    # module qualifies them, so that every id stays unique and keeps its meaning as routes are added.
    area = str(getattr(entry.view_function, "__module__", "")).rpartition(".")[2]
    name = entry.view_name if entry.view_name.startswith(f"{area}_") else f"{area}_{entry.view_name}"
    operation: Json = {"operationId": name, "responses": {}}
    doc = (getattr(entry.view_function, "__doc__", None) or "").strip()
    operation["summary"] = promised.summary or doc.split("\n")[0] or f"{method} {path}"
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "string", "minLength": 1}} for name in entry.view_args]
    if promised.query:
        parameters += _query_parameters(_model(queries, promised.query))
    parameters += [{"name": name, "in": "header", "required": False, "description": what,
                    "schema": {"type": "string"}} for name, what in promised.headers.items()]
    if parameters:
        operation["parameters"] = parameters
    if promised.body:
        operation["requestBody"] = {"required": False, "content": {
            "application/json": {"schema": refs[promised.body]}}}
    first = min(promised.answers)
    for status, name in sorted(promised.answers.items()):
        operation["responses"][str(status)] = _response(
            status, refs[name] if name else None, promised.media if status == first else ())
    for status in sorted(_statuses(method, path, entry, promised)):
        operation["responses"][str(status)] = _response(status, refs[ERROR])
    if (method, path) in OPTIONAL_TOKEN:
        operation["security"] = [{}, {BEARER: []}]
        operation["description"] = f"Public; {OPTIONAL_TOKEN[(method, path)]}."
    elif entry.authorizer is not None:
        operation["security"] = [{BEARER: []}]
        operation["description"] = f"Needs {AUTHORIZERS.get(entry.authorizer.name, 'a token')}."
    else:
        operation["security"] = []
    return operation


@functools.lru_cache(maxsize=4)
def _document(app: Chalice) -> Json:
    routes = _routes(app)
    refs, definitions = _schemas(routes)
    paths: Json = {}
    for path, method, entry, promised in routes:
        paths.setdefault(path, {})[method.lower()] = _operation(path, method, entry, promised, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{app.app_name} REST API", "version": __version__,
                 "description": "Errors are `{\"error\": code, \"message\": text}`. "
                                "The WebSocket protocol: docs/protocol.md and docs/asyncapi.json."},
        "paths": paths,
        "components": {"schemas": definitions,
                       "securitySchemes": {BEARER: {"type": "http", "scheme": "bearer",
                                                    "bearerFormat": "JWT"}}},
    }


def document(app: Chalice, base_path: str = "/") -> Json:
    """The document, with the server at ``base_path`` (the API Gateway stage, when there is one)."""
    return {**_document(app), "servers": [{"url": base_path}]}
