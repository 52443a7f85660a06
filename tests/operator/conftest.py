"""Operator tests: the kopf handlers against a real Postgres, and kopf itself against kmock.

The handlers run scheduler passes, and a pass takes *every* due subscription of its database. The session's
shared database (``migrated_database``) also has the full suite's background worker running its own
scheduler, and other tests' subscriptions; so these tests use a private database on the same server,
created and migrated here, where the only due subscriptions are the ones the tests insert.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from operator_support import CRD_PATH


@pytest.fixture(scope="session")
def operator_engine(operator_database: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(operator_database)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def crd() -> dict[str, Any]:
    return dict(yaml.safe_load(CRD_PATH.read_text()))
