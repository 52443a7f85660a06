"""Engines and the table definitions shared by both schemas (outbox, idempotency keys)."""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import Engine

from kinobill.database_url import ConnectionPolicy, DatabaseUrl

DEFAULT_POLICY = ConnectionPolicy()

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

NOW = sa.text("now()")


def timestamp(name: str, nullable: bool = True, **kw: object) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, **kw)  # type: ignore[arg-type]


def outbox_table(schema: str) -> sa.Table:
    """Events written in the same transaction as the state change; the relay publishes them."""
    return sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        timestamp("created_at", nullable=False, server_default=NOW),
        timestamp("published_at"),
        sa.Index(f"ix_{schema}_outbox_unpublished", "id", postgresql_where=sa.text("published_at IS NULL")),
        schema=schema,
    )


def idempotency_keys_table(schema: str) -> sa.Table:
    """Idempotency-Key records: one per (caller scope, key); the database enforces uniqueness."""
    return sa.Table(
        "idempotency_keys",
        metadata,
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),  # in_progress | done
        sa.Column("response_status", sa.Integer),
        sa.Column("response_body", pg.JSONB),
        timestamp("created_at", nullable=False, server_default=NOW),
        timestamp("locked_until", nullable=False),
        timestamp("expires_at", nullable=False),
        sa.Index(f"ix_{schema}_idempotency_expires", "expires_at"),
        schema=schema,
    )


def emails_table(schema: str) -> sa.Table:
    """E-mails to send: inserted with the state change, sent by a worker, once per dedupe key."""
    return sa.Table(
        "emails",
        metadata,
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("dedupe_key", sa.Text, nullable=False, unique=True),
        sa.Column("user_id", pg.UUID(as_uuid=True)),
        sa.Column("to_address", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),  # the plain-text part
        sa.Column("html_body", sa.Text),  # the HTML part (multipart/alternative when present)
        sa.Column("locale", sa.Text),  # the language and zone it was rendered in (a resend is the same)
        sa.Column("zoneinfo", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        timestamp("created_at", nullable=False, server_default=NOW),
        timestamp("claimed_until"),
        timestamp("sent_at"),
        timestamp("sending_at"),  # the intent to send, committed first: never sent twice
        timestamp("dead_at"),  # given up (bad address, or failed every attempt)
        sa.Column("last_error", sa.Text),
        sa.Index(
            f"ix_{schema}_emails_unsent",
            "created_at",
            postgresql_where=sa.text("sent_at IS NULL AND dead_at IS NULL"),
        ),
        schema=schema,
    )


@lru_cache(maxsize=8)
def engine_for(
    url: str,
    pool_size: int = 10,
    max_overflow: int = 20,
    pre_ping: bool = True,
    policy: ConnectionPolicy = DEFAULT_POLICY,
    pool_timeout: float = 5.0,
) -> Engine:
    """A pooled engine on every host of DATABASE_URL (:mod:`kinobill.database_url`).

    `pre_ping` (one round trip per checkout, ~0.1 ms) drops a connection that a failover or a restart
    broke before a request uses it; when one is found dead, SQLAlchemy also discards every older
    connection of the pool. `pool_timeout` bounds the wait for a free connection: past it the request
    is answered 503 (kinobill.unavailable) instead of queueing for 30 s."""
    parsed = DatabaseUrl.parse(url)
    return sa.create_engine(
        parsed.sqlalchemy_url(),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
        pool_timeout=pool_timeout,
        connect_args=parsed.sqlalchemy_connect_args(policy),
    )


def one_off_engine(url: str) -> Engine:
    """An unpooled engine for one job (migrations, seeding) on every host of DATABASE_URL; no statement
    timeout, since a migration may legitimately run long."""
    parsed = DatabaseUrl.parse(url)
    return sa.create_engine(
        parsed.sqlalchemy_url(),
        poolclass=sa.pool.NullPool,
        connect_args=parsed.sqlalchemy_connect_args(ConnectionPolicy(statement_timeout_ms=0)),
    )
