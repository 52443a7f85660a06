"""What every Kinobill HTTP service shares: error shape, auth dependencies, health, metrics, request ids.

Errors are always `{"error": {"code": "...", "message": "...", "details": ...}}`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Protocol

import psycopg
import redis
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram
from pydantic import BaseModel, ConfigDict, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kinobill import errors
from kinobill.domain import errors as rules
from kinobill.fields import check_storable
from kinobill.idempotency import IdempotencyStore
from kinobill.limits import RequestLimitsMiddleware, request_limits
from kinobill.logs import request_id
from kinobill.metrics import latest_metrics
from kinobill.openapi import describe_edges
from kinobill.runtime import get_runtime
from kinobill.security import (
    AuthenticationError,
    InvalidEmailClaim,
    UserPrincipal,
    user_from_claims,
)
from kinobill.transient import is_transient
from kinobill.unavailable import RETRY_AFTER_SECONDS, describe

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "kinobill_http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "kinobill_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class TokenDecoder(Protocol):
    def decode(self, token: str) -> dict: ...


class ApiError(Exception):
    """An error an HTTP adapter answers as-is (status, stable code, message, optional details). Only
    adapters raise it; the service layer raises application errors (`kinobill.errors`) and domain
    errors, which `ERROR_STATUS` maps."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped; every text storable."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        return check_storable(data)  # NUL, lone surrogates, NaN, deep nesting: 422, not a 500 in Postgres


def error_body(code: str, message: str, details: Any = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    if status == 503 and not any(k.lower() == "retry-after" for k in headers or {}):
        headers = {**(headers or {}), "Retry-After": str(RETRY_AFTER_SECONDS)}  # every 503 says when
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


# The one table from what the service layer raises to an HTTP status (the most specific class wins).
# A broken domain rule is 422 unless it is a conflict with the current state (409).
ERROR_STATUS: dict[type[Exception], int] = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.InvalidRequest: 422,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.Unavailable: 503,
    errors.ApplicationError: 422,
    rules.PlanNotOnSale: 409,
    rules.InvalidTransition: 409,
    rules.NothingToRefund: 409,
    rules.RefundPeriodOver: 409,
    rules.DomainError: 422,
}


def status_of(exc: Exception) -> int:
    """The HTTP status of an application or domain error (`ERROR_STATUS`, most specific class first)."""
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return 500


def refusal(exc: errors.ApplicationError) -> tuple[int, dict[str, Any]]:
    """The status and JSON body answering an application error."""
    return status_of(exc), error_body(exc.code, exc.message, exc.details)


def idempotent_response(
    store: IdempotencyStore, scope: str, key: str, fingerprint: str, operation: Callable[[], tuple[int, Any]]
) -> JSONResponse:
    """Run `operation` once per (scope, Idempotency-Key) and answer its stored response."""
    stored = store.run(scope, key, fingerprint, operation, refusal)
    return JSONResponse(stored.body, status_code=stored.status)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    431: "headers_too_large",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(errors.ApplicationError)
    async def _application_error(_: Request, exc: errors.ApplicationError) -> JSONResponse:
        return error_response(status_of(exc), exc.code, exc.message, exc.details)

    @app.exception_handler(rules.DomainError)
    async def _domain_error(_: Request, exc: rules.DomainError) -> JSONResponse:
        return error_response(status_of(exc), exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(p for p in first["loc"] if p not in ("body",)) or "request"
        return error_response(422, "invalid_request", f"{where}: {first['msg']}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return error_response(
            exc.status_code, _HTTP_CODES.get(exc.status_code, "error"), message, headers=headers
        )

    # Registered per class (not as the catch-all below): Starlette re-raises what the catch-all handles,
    # so the server logs a second traceback and drops the keep-alive connection.
    @app.exception_handler(sa.exc.SQLAlchemyError)
    @app.exception_handler(psycopg.Error)
    @app.exception_handler(redis.RedisError)
    async def _infrastructure(_: Request, exc: Exception) -> JSONResponse:
        if not is_transient(exc):
            log.exception("unhandled infrastructure error")
            return error_response(500, "internal_error", "internal error; the request may be retried")
        database = not isinstance(exc, redis.RedisError)
        log.warning("%s unavailable, answered 503: %s", "database" if database else "redis", describe(exc))
        return error_response(
            503,
            "database_unavailable" if database else "redis_unavailable",
            "a backing service is unavailable for a moment; retry the request",
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; the request may be retried")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. Starlette's 405 names only the first matching route's
    methods (`GET /plans` and `POST /plans` are two routes), so `Allow` would miss the others."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


class RequestContextMiddleware:
    """Request id (X-Request-ID in and out) and Prometheus metrics, as a plain ASGI middleware."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = ""
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:64]
                break
        rid = rid or uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], path, str(status)).inc()
            HTTP_LATENCY.labels(self.service, scope["method"], path).observe(time.perf_counter() - started)
            request_id.reset(token)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "missing bearer token")
    return token.strip()


def user_dependency(verifier: Callable[[], TokenDecoder]) -> Callable[[Request], UserPrincipal]:
    def current_user(request: Request) -> UserPrincipal:
        try:
            return user_from_claims(verifier().decode(bearer_token(request)))
        except AuthenticationError as exc:
            log.info("user token refused: %s", exc)  # the reason stays in the log, not in the answer
            raise ApiError(401, "unauthorized", "the bearer token is invalid or expired") from exc
        except InvalidEmailClaim as exc:  # before anything is written: no purchase stuck by it
            message = f"the token's email claim is not usable: {exc}"
            raise ApiError(422, "invalid_email_claim", message) from exc

    return current_user


def idempotency_key_header(request: Request) -> str:
    key = request.headers.get("idempotency-key", "").strip()
    if not key:
        raise ApiError(400, "idempotency_key_required", "the Idempotency-Key header is required")
    if len(key) > 64 or not key.isprintable():
        raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1-64 printable characters")
    return key


IdempotencyKey = Annotated[str, Depends(idempotency_key_header)]
CurrentUser = Annotated[UserPrincipal, Depends(user_dependency(lambda: get_runtime().user_tokens))]
# Internal endpoints take the caller they accept from kinobill.callers (AdminCaller, ...).


def configuration_check() -> str:
    """ "ok" when the token keys load; otherwise every authenticated request would fail."""
    try:
        get_runtime().user_tokens  # noqa: B018 - building the verifiers loads and parses the keys
        get_runtime().service_tokens  # noqa: B018
    except Exception as exc:
        return f"error: {exc}"
    return "ok"


def add_operational_routes(
    app: FastAPI, engine: Callable[[], sa.Engine], redis_client: Callable[[], redis.Redis]
) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        checks: dict[str, str] = {"configuration": configuration_check()}
        try:
            # ready = the database accepts writes: a standby (an old leader, a single-host URL pointing
            # at a replica after a failover) answers reads but would fail every purchase
            with engine().connect() as conn:
                read_only = conn.execute(
                    sa.text("SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'")
                ).scalar_one()
            checks["database"] = "error: read-only" if read_only else "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            redis_client().ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
        )

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(latest_metrics(), media_type=CONTENT_TYPE_LATEST)


def build_app(
    *,
    service: str,
    title: str,
    routers: Iterable[Any],
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    engine: Callable[[], sa.Engine],
    redis_client: Callable[[], redis.Redis],
) -> FastAPI:
    app = FastAPI(title=title, lifespan=lifespan, docs_url="/docs", redoc_url=None)
    install_error_handlers(app)
    add_operational_routes(app, engine, redis_client)
    for router in routers:
        app.include_router(router)
    describe_edges(app, idempotency_key_header)
    app.add_middleware(RequestLimitsMiddleware, limits=request_limits(get_runtime().settings))
    app.add_middleware(RequestContextMiddleware, service=service)
    return app


AsyncHandler = Callable[..., Awaitable[Any]]
