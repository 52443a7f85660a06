"""Operator tests: the kopf handlers against a real Postgres, and kopf itself against kmock.

The handlers run scheduler passes, and a pass takes *every* due subscription of its database. The session's
shared database (``migrated_database``) also has the full suite's background worker running its own
scheduler, and other tests' subscriptions; so these tests use a private database on the same server,
created and migrated here, where the only due subscriptions are the ones the tests insert.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from operator_support import CRD_PATH


@pytest.fixture(scope="session")
def operator_database(migrated_database: str) -> Iterator[str]:
    from kinobill import migrations

    name = f"kb_operator_{uuid.uuid4().hex[:10]}"
    server = sa.create_engine(migrated_database, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(migrated_database).set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(url)
    yield url
    with server.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


@pytest.fixture(scope="session")
def operator_engine(operator_database: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(operator_database)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def crd() -> dict[str, Any]:
    return dict(yaml.safe_load(CRD_PATH.read_text()))
