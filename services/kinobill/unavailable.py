"""The database cannot serve right now: tell it apart from a bug, answer 503, retry a safe unit once.

During a Patroni switchover or failover, a Postgres restart, or a pool running dry, requests meet
connection refused or reset, a read-only standby (``25006``), ``admin_shutdown`` (``57P01``),
"the database system is starting up" (``57P03``), serialization failures and deadlocks (``40001``,
``40P01``), a statement timeout (``57014``) or a pool timeout. None of these says anything about the
request: the client should retry it (with the same Idempotency-Key) a moment later. So the edge answers
``503`` with ``Retry-After`` and the JSON error shape, logs one line, and keeps the connection open
(kinobill.web registers the handlers). Anything else from the database is a bug and stays a 500.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
import sqlalchemy.exc

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_AFTER_SECONDS = 2
RETRY_PAUSE_SECONDS = 0.3

# SQLSTATE classes and codes meaning "not now" rather than "not this": connection exception,
# insufficient resources, operator intervention (shutdown, starting up, statement timeout).
UNAVAILABLE_CLASSES = ("08", "53", "57")
UNAVAILABLE_CODES = {
    "25006",  # read_only_sql_transaction: connected to a standby (the old leader, mid-failover)
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available (lock_timeout)
}


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what it was raised from) says the database cannot serve now."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlalchemy.exc.TimeoutError):  # QueuePool limit reached
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, psycopg.Error):
            sqlstate = current.sqlstate
            if sqlstate is None:
                # no server answer at all: refused, reset, closed, or the pool's own timeout
                return isinstance(current, (psycopg.OperationalError, psycopg.InterfaceError))
            return sqlstate in UNAVAILABLE_CODES or sqlstate.startswith(UNAVAILABLE_CLASSES)
        current = current.__cause__ or current.__context__
    return False


def describe(exc: BaseException) -> str:
    """One line for the log: the driver's error class and the first line of its message."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first[:200]}"


def worth_retrying(exc: BaseException) -> bool:
    """Unavailable, and quick to find out: a pool timeout already waited its full time."""
    from psycopg_pool import PoolTimeout

    return database_unavailable(exc) and not isinstance(exc, (sqlalchemy.exc.TimeoutError, PoolTimeout))


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
