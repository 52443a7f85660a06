"""Unit of work over one database transaction (Cosmic Python, chapter 6), SQLAlchemy Core flavour.

A service subclasses it to attach its repositories and to name its schema's outbox and e-mail tables;
leaving the block without `commit()` rolls back. Events (`add_event`) and e-mails (`queue_email`) are
written in the same transaction as the change that caused them, so they leave with it or not at all.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, ClassVar, Self

import sqlalchemy as sa

from kinobill.mail import queue_email, queue_emails
from kinobill.outbox import add_event, add_events


class UnitOfWork:
    outbox_table: ClassVar[sa.Table]  # the service schema's outbox (events for the relay)
    emails_table: ClassVar[sa.Table]  # and its e-mail queue

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._conn: sa.Connection | None = None
        self._deferred: tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]] | None = None

    @property
    def conn(self) -> sa.Connection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._conn

    def __enter__(self) -> Self:
        self._conn = self.engine.connect()
        self._conn.begin()
        self._deferred = None
        self._attach(self._conn)
        return self

    def _attach(self, conn: sa.Connection) -> None:
        """Create the repositories on this connection (subclasses)."""

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                conn.rollback()
        finally:
            conn.close()

    def commit(self) -> None:
        self.flush()
        self.conn.commit()
        self.conn.begin()

    def rollback(self) -> None:
        self.conn.rollback()
        self.conn.begin()
        if self._deferred is not None:
            self._deferred = ([], [])

    # --- events and e-mails, in this transaction ---------------------------------------------

    def defer_writes(self) -> None:
        """Batch handlers: from now on events and e-mails are collected and written at `commit` (before
        it, in the same transaction) as multi-row INSERTs. `queue_email` then answers whether the
        e-mail has an address, not whether its dedupe key was new."""
        self._deferred = ([], [])

    def add_event(self, stream: str, payload: dict[str, Any]) -> None:
        if self._deferred is not None:
            self._deferred[0].append((stream, payload))
        else:
            add_event(self.conn, self.outbox_table, stream, payload)

    def queue_email(self, **kw: Any) -> bool:
        """Queue an e-mail (`dedupe_key`, `to`, `user_id`, `email`: see `notifications.Mail.letter`);
        False when it has no address or this event already queued it."""
        if self._deferred is not None:
            self._deferred[1].append(kw)
            return bool(kw.get("to"))
        return queue_email(self.conn, self.emails_table, **kw)

    def flush(self) -> None:
        """Write the deferred events and e-mails (see `defer_writes`) in the current transaction."""
        if not self._deferred:
            return
        events, emails = self._deferred
        self._deferred = ([], [])
        by_stream: dict[str, list[dict[str, Any]]] = {}
        for stream, payload in events:
            by_stream.setdefault(stream, []).append(payload)
        for stream, payloads in by_stream.items():
            add_events(self.conn, self.outbox_table, stream, payloads)
        queue_emails(self.conn, self.emails_table, emails)
