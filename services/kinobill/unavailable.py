"""The infrastructure cannot serve right now: answer 503 with Retry-After, retry a safe unit once.

During a Patroni switchover or failover, a Postgres restart, or a pool running dry, requests meet
connection refused or reset, a read-only standby, ``admin_shutdown``, "the database system is starting
up", serialization failures, deadlocks, statement or pool timeouts (:func:`kinobill.transient.is_transient`
tells these from bugs). None of them says anything about the request: the client should retry it (with
the same Idempotency-Key) a moment later. So the edge answers ``503`` with ``Retry-After`` and the JSON
error shape, logs one line, and keeps the connection open (kinobill.web registers the handlers); a short
idempotent unit is retried once inside the request first. Anything else stays a 500.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import sqlalchemy.exc

from kinobill.transient import is_transient

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_AFTER_SECONDS = 2
RETRY_PAUSE_SECONDS = 0.3


def describe(exc: BaseException) -> str:
    """One line for the log: the driver's error class and the first line of its message."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first[:200]}"


def log_loop_failure(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """A worker loop's failed turn: one line when the infrastructure is away (an outage of minutes is one
    line per retry, not a traceback each), the whole traceback when it is a bug."""
    if is_transient(exc):
        logger.warning("%s: infrastructure unavailable (%s); retrying", what, describe(exc))
    else:
        logger.error("%s; retrying", what, exc_info=exc)


def worth_retrying(exc: BaseException) -> bool:
    """Unavailable, and quick to find out: a pool timeout already waited its full time."""
    from psycopg_pool import PoolTimeout

    return is_transient(exc) and not isinstance(exc, (sqlalchemy.exc.TimeoutError, PoolTimeout))


def retry_once_if_unavailable(unit: Callable[[], T], *, what: str) -> T:
    """Run a short, idempotent database unit; if the database was unavailable, run it once more after a
    pause (a connection broken by a failover, a deadlock, a leader that is back in a moment)."""
    try:
        return unit()
    except Exception as exc:
        if not worth_retrying(exc):
            raise
        log.info("%s: database unavailable (%s); retrying once", what, describe(exc))
    time.sleep(RETRY_PAUSE_SECONDS)
    return unit()


async def aretry_once_if_unavailable(unit: Callable[[], Awaitable[T]], *, what: str) -> T:
    """:func:`retry_once_if_unavailable` for a coroutine (the access endpoint's read)."""
    import asyncio

    try:
        return await unit()
    except Exception as exc:
        if not worth_retrying(exc):
            raise
        log.info("%s: database unavailable (%s); retrying once", what, describe(exc))
    await asyncio.sleep(RETRY_PAUSE_SECONDS)
    return await unit()
