"""Alembic environment: one history for both schemas (`subscriptions`, `billing`).

Each service owns its schema; a single linear history keeps cross-schema deploys ordered.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

import kinobill.billing.tables
import kinobill.subscriptions.tables  # noqa: F401  (registers the tables on metadata)
from kinobill.db import metadata, one_off_engine

SCHEMAS = ("subscriptions", "billing")
config = context.config


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    if type_ == "schema":
        return name in SCHEMAS
    return True


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = one_off_engine(url)
    with engine.connect() as connection:
        # Serialise concurrent `migrate` runs (several pods starting at once).
        connection.execute(sa.text("SELECT pg_advisory_lock(7321001)"))
        for schema in SCHEMAS:
            connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=metadata,
            include_schemas=True,
            include_name=include_name,
            version_table_schema="public",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.execute(sa.text("SELECT pg_advisory_unlock(7321001)"))
        connection.commit()


run_migrations_online()
