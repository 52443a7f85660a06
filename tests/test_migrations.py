"""Alembic owns both schemas: migrations run on an empty database, again on a migrated one, and match the
table definitions the code uses (no drift between `tables.py` and the migration history)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import kinobill.billing.tables
import kinobill.subscriptions.tables  # noqa: F401  (registers every table on the metadata)
from kinobill import migrations
from kinobill.db import metadata


@pytest.fixture()
def empty_database(database_url: str):
    name = f"mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(database_url).set(database=name).render_as_string(hide_password=False)
    yield url
    sa.create_engine(url).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migrations_apply_to_an_empty_database_twice_and_match_the_code(empty_database: str):
    migrations.upgrade(empty_database)
    migrations.upgrade(empty_database)  # idempotent: nothing to do the second time
    engine = sa.create_engine(empty_database)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM public.alembic_version")).scalar_one()
        assert version == migrations.head_revision()
        context = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, _parent: (
                    type_ != "schema" or name in ("subscriptions", "billing")
                ),
                "compare_type": True,
            },
        )
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == [], f"tables.py and the migrations disagree: {diff}"
