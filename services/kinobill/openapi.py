"""The OpenAPI document says what the services really answer: the Idempotency-Key header where a route
requires it, the bearer token, and every error status a client can get, with the error shape.

FastAPI documents a route's body, path and query parameters and its success status; the rest lives in
dependencies that read the request themselves and in the edge's error handlers, so it is added here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}},
        }
    },
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}

# Statuses any operation may answer: a bad request or header (400), its body or headers too large
# (413, 431), invalid input (422), the database or a dependency unavailable (503, with Retry-After).
COMMON_ERRORS = {
    "400": "Bad request (malformed body, header or Idempotency-Key)",
    "413": "The body is larger than the limit",
    "415": "The body is not JSON",
    "422": "Invalid input",
    "431": "The headers are larger than the limit",
    "503": "Temporarily unavailable; retry (Retry-After)",
}
AUTH_ERRORS = {
    "401": "Missing, invalid or expired bearer token",
    "403": "This caller may not call this operation",
}
STATE_ERRORS = {
    "404": "Not found (or not the caller's)",
    "409": "Conflicts with the current state, or a request with this Idempotency-Key is in flight",
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "1-64 printable characters; a retry with the same key and body gets the same answer",
    "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[ -~]+$"},
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, also those of included routers (kept as their original router)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes)


def describe_edges(app: FastAPI, idempotency_dependency: Callable[..., Any]) -> None:
    """Make `app.openapi()` include the headers and error answers the edge adds to every route."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        for route in _api_routes(app.routes):
            if not route.include_in_schema:
                continue
            for method in route.methods or ():
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                _describe(operation, route, idempotency_dependency)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _describe(operation: dict[str, Any], route: APIRoute, idempotency_dependency: Callable[..., Any]) -> None:
    calls = set(_calls(route.dependant))
    if idempotency_dependency in calls:
        operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    public = operation.setdefault("security", [{"bearer": []}]) == []  # a route may declare none
    callers = sorted({str(c) for call in calls for c in getattr(call, "accepted_callers", ())})
    if callers:
        # The service identities this internal operation accepts (kinobill.callers); no entry: a user token.
        operation["x-callers"] = callers
    errors = {**COMMON_ERRORS, **({} if public else AUTH_ERRORS), **STATE_ERRORS}
    declared = {str(status) for status in route.responses}  # the route's own answers (e.g. an HTML 404)
    responses = operation.setdefault("responses", {})
    for status, description in errors.items():
        if status in declared:
            continue
        responses.setdefault(status, {"description": description})
        responses[status]["content"] = {"application/json": {"schema": ERROR_REF}}
