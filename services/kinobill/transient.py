"""Which failures are the infrastructure's (retry later, the message is fine) and which are the message's.

A stream handler or a sender that meets a database that is down, read-only (a failover in progress),
restarting, or that aborted the transaction for a serialization failure or a deadlock, or a Redis or
Billing that does not answer, has learnt nothing about the message: it is retried with back-off and never
counts toward the dead-letter limit. Anything else is the message's own fault (poison) after enough tries.
"""

from __future__ import annotations

import psycopg
import redis
import sqlalchemy.exc

from kinobill.errors import Unavailable

# SQLSTATEs that say "the database cannot do this now", not "this is wrong".
TRANSIENT_SQLSTATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "25006",  # read_only_sql_transaction (a standby, during failover)
    "57P01",  # admin_shutdown
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now (starting up)
    "53300",  # too_many_connections
    "57014",  # query_canceled (statement_timeout, e.g. a lock held by a dying leader's session)
    "55P03",  # lock_not_available (lock_timeout)
    "08000",
    "08001",
    "08003",
    "08004",
    "08006",  # connection exceptions
}


def is_transient(exc: BaseException) -> bool:
    """True when `exc` (or what it was raised from) is a temporary failure of Postgres, Redis or Billing."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)):
            return True
        if isinstance(current, redis.ResponseError) and str(current).startswith(("READONLY", "LOADING")):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, (sqlalchemy.exc.TimeoutError, psycopg.OperationalError)):
            sqlstate = getattr(current, "sqlstate", None)
            if sqlstate is None or sqlstate in TRANSIENT_SQLSTATES or sqlstate.startswith("08"):
                return True
        if isinstance(current, psycopg.Error) and getattr(current, "sqlstate", None) in TRANSIENT_SQLSTATES:
            return True
        if isinstance(current, Unavailable):
            return True  # Billing or the provider did not answer (retry, same key)
        # SQLAlchemy keeps the driver's error as `.orig` (also its cause when it raised it)
        current = current.__cause__ or getattr(current, "orig", None) or current.__context__
    return False
