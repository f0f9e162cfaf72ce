"""The OpenAPI document: public, valid OpenAPI 3.1, one operation per route the app has, and each
view reading exactly the body and query parameters its contract names (read from the view's code,
so a view that starts reading a parameter without declaring it fails here)."""

from __future__ import annotations

import ast
import inspect
from typing import Any

import pytest
from openapi_spec_validator import validate

from app import app
from chalicelib.api import answers, bodies, contract, openapi, queries


def routes() -> list[tuple[str, str, Any]]:
    return [(path, method, entry) for path, methods in sorted(app.routes.items())
            for method, entry in sorted(methods.items())]


def view_code(entry: Any) -> Any:
    """The undecorated view (``route`` wraps it in ``timed`` and ``handles_errors``)."""
    return inspect.unwrap(entry.view_function)


def test_the_document_is_public_and_valid_openapi_3_1(api):
    response = api.get("/api/openapi.json")

    assert response.status_code == 200
    document = response.json_body
    assert document["openapi"] == "3.1.0"
    validate(document)
    assert document["servers"] == [{"url": "/"}]


def test_every_route_of_the_app_is_an_operation_and_nothing_else_is():
    document = openapi.document(app)

    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    assert documented == {(path, method) for path, method, _ in routes()}


@pytest.mark.parametrize(("path", "method", "entry"), routes(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_route_declares_a_contract_whose_models_exist(path, method, entry):
    promised = contract.of(entry.view_function)

    assert promised is not None, f"{method} {path}: route(..., answers=...) missing"
    assert promised.answers, f"{method} {path} declares no answer"
    for name in promised.answers.values():
        assert name is None or issubclass(getattr(answers, name), answers.BaseModel)
    if promised.body:
        assert issubclass(getattr(bodies, promised.body), bodies.Body)
    if promised.query:
        assert issubclass(getattr(queries, promised.query), queries.Query)


def test_routes_with_an_authorizer_document_401_and_every_error_has_the_house_shape():
    document = openapi.document(app)
    for path, method, entry in routes():
        responses = document["paths"][path][method.lower()]["responses"]
        if entry.authorizer is not None and (method, path) not in openapi.OPTIONAL_TOKEN:
            assert "401" in responses, f"{method} {path}"
        declared = contract.of(entry.view_function).answers  # health answers 503 with its report
        for status, response in responses.items():
            if int(status) >= 400 and int(status) not in declared:
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorAnswer"}, f"{method} {path} {status}"
    error = document["components"]["schemas"]["ErrorAnswer"]
    assert set(error["required"]) == {"error", "message"}


def test_a_route_without_a_contract_fails_the_document():
    from chalice import Chalice

    bare = Chalice(app_name="bare")

    @bare.route("/undeclared")
    def undeclared():
        return {}

    with pytest.raises(openapi.MissingContract, match="GET /undeclared"):
        openapi.document(bare)


# -- what each view reads, from its code ---------------------------------------------------------


def _functions_reached(view: Any) -> list[ast.FunctionDef]:
    """The view's own code and that of the module-level helpers it calls (``_shaped``, ``_page_params``)."""
    module = inspect.getmodule(view)
    tree = ast.parse(inspect.getsource(module))
    by_name = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    todo, seen = [view.__name__], []
    while todo:
        name = todo.pop()
        node = by_name.get(name)
        if node is None or node in seen:
            continue
        seen.append(node)
        todo += [call.func.id for call in ast.walk(node)
                 if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)]
    return seen


def _constant(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_params(node: ast.AST) -> bool:
    """``params`` or ``query_params(bp)`` itself."""
    return (isinstance(node, ast.Name) and node.id == "params") or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "query_params")


def query_names_read(view: Any) -> set[str]:
    """``params.get("x")``, ``query_params(bp).get("x")``, ``params["x"]``, ``"x" in params``,
    ``int_param(params, "x", ...)``."""
    names: set[str] = set()
    for function in _functions_reached(view):
        for node in ast.walk(function):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "get" and _is_params(node.func.value) and node.args:
                names.add(_constant(node.args[0]))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "int_param" and len(node.args) > 1:
                names.add(_constant(node.args[1]))
            elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In) \
                    and isinstance(node.comparators[0], ast.Name) and node.comparators[0].id == "params":
                names.add(_constant(node.left))
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
                    and node.value.id == "params":
                names.add(_constant(node.slice))
    assert None not in names, f"{view.__name__} reads a query parameter whose name is not a literal"
    return names


def bodies_parsed(view: Any) -> set[str]:
    return {node.args[1].id for function in _functions_reached(view) for node in ast.walk(function)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "parse_body" and len(node.args) > 1 and isinstance(node.args[1], ast.Name)}


@pytest.mark.parametrize(("path", "method", "entry"), routes(), ids=lambda v: v if isinstance(v, str) else "")
def test_each_view_reads_exactly_the_query_and_body_it_declares(path, method, entry):
    promised = contract.of(entry.view_function)
    view = view_code(entry)
    if not hasattr(inspect.getmodule(view), "bp"):
        return  # the CORS preflights, made by cors.enable: no body, no parameters
    declared = set()
    if promised.query:
        model = getattr(queries, promised.query)
        declared = {field.alias or name for name, field in model.model_fields.items()}

    assert query_names_read(view) == declared, f"{method} {path}"
    assert bodies_parsed(view) == ({promised.body} if promised.body else set()), f"{method} {path}"


def test_the_checker_sees_parameters_read_through_helpers():
    def read(path: str, method: str = "GET") -> set[str]:
        return query_names_read(view_code(app.routes[path][method]))

    assert read("/api/connections") == {"limit", "cursor", "user_id", "role"}  # via _page_params
    assert read("/api/analytics/report") == {"date", "format", "table"}  # via _shaped
    assert read("/api/kefu/queue") == {"limit", "after"}  # "after" in params
