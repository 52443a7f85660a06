"""Unit of work over one database transaction (Cosmic Python, chapter 6), SQLAlchemy Core flavour.

A service subclasses it to attach its repositories; leaving the block without `commit()` rolls back.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import sqlalchemy as sa


class UnitOfWork:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._conn: sa.Connection | None = None

    @property
    def conn(self) -> sa.Connection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._conn

    def __enter__(self) -> Self:
        self._conn = self.engine.connect()
        self._conn.begin()
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
        self.conn.commit()
        self.conn.begin()

    def rollback(self) -> None:
        self.conn.rollback()
        self.conn.begin()
