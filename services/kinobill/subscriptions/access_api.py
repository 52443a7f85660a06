"""HTTP adapter for Auth: ``GET /internal/v1/users/{user_id}/subscriptions/active`` (service token).

On Auth's login path, so the cached path stays on the event loop: an ``async`` route, a
``redis.asyncio`` client created once per process, and the service token's RS256 verification
remembered by the token's string (:class:`~kinobill.security.VerifiedTokenCache`). Only a cache miss
goes to Postgres, still on the event loop (psycopg's async pool: see ``ActiveRows``).
The rules are in ``access.py``.
"""

from __future__ import annotations

import uuid
from functools import lru_cache

import redis.asyncio
from fastapi import APIRouter, Request, Response

from kinobill.callers import Caller, accepting
from kinobill.runtime import get_runtime
from kinobill.subscriptions.access import ActiveAccess, ActiveRows, matches

access_router = APIRouter(prefix="/internal/v1", tags=["internal"])


@lru_cache(maxsize=1)
def active_access() -> ActiveAccess:
    """One per process (each uvicorn worker), created on the first request, inside its event loop."""
    runtime = get_runtime()
    client = redis.asyncio.Redis.from_url(
        runtime.settings.redis_url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
    )
    s = runtime.settings
    rows = ActiveRows(
        s.database_url,
        max_size=s.db_pool_size,
        policy=s.db_connection_policy,
        pool_timeout=s.db_pool_timeout_seconds,
    )
    return ActiveAccess(rows=rows, now=runtime.clock.now, aredis=client)


# Checked inside the route (not a Depends) so the cached path stays on the event loop.
authenticate_service = accepting(Caller.AUTH)


ETAG_HEADER = {"ETag": {"description": "Strong validator of the answer", "schema": {"type": "string"}}}


@access_router.get(
    "/users/{user_id}/subscriptions/active",
    responses={
        200: {"description": "The user's access now", "headers": ETAG_HEADER},
        304: {"description": "Unchanged since the ETag in If-None-Match", "headers": ETAG_HEADER},
    },
    openapi_extra={"x-callers": sorted(map(str, authenticate_service.accepted_callers))},  # type: ignore[attr-defined]
)
async def active_subscriptions(user_id: uuid.UUID, request: Request) -> Response:
    """What grants the user access now: plan code, period, access until; a strong ETag (304 on match)."""
    authenticate_service(request)
    answer, cached = await active_access().answer(user_id)
    headers = {"ETag": answer.etag, "Cache-Control": "no-cache", "X-Cache": "hit" if cached else "miss"}
    if matches(request.headers.get("if-none-match"), answer.etag):
        return Response(status_code=304, headers=headers)
    return Response(answer.body, media_type="application/json", headers=headers)
