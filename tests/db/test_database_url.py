"""DATABASE_URL in every supported form reaches the same hosts, with the same libpq parameters, in the
three clients that connect to Postgres: SQLAlchemy, the access endpoint's async psycopg pool, Django."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
import sqlalchemy as sa

from kinobill.database_url import ConnectionPolicy, DatabaseUrl, DatabaseUrlError
from kinobill.db import engine_for
from kinobill.subscriptions.access import ActiveRows
from support import behind_a_dead_host

HOSTS = ("10.0.0.1", "10.0.0.2", "10.0.0.3")
PORTS = (5411, 5421, 5431)

# The same three-node cluster, written in each form operators use.
CLUSTER_FORMS = [
    "postgresql+psycopg://kb:p%40ss@/kinobill?host=10.0.0.1,10.0.0.2,10.0.0.3&port=5411,5421,5431"
    "&target_session_attrs=read-write",
    "postgresql+psycopg://kb:p%40ss@/kinobill?host=10.0.0.1:5411&host=10.0.0.2:5421&host=10.0.0.3:5431"
    "&target_session_attrs=read-write",
    "postgresql://kb:p%40ss@10.0.0.1:5411,10.0.0.2:5421,10.0.0.3:5431/kinobill?target_session_attrs=read-write",
    "postgresql+psycopg://kb:p%40ss@/kinobill?host=10.0.0.1:5411,10.0.0.2:5421,10.0.0.3:5431"
    "&target_session_attrs=read-write",
]


@pytest.mark.parametrize("url", CLUSTER_FORMS)
def test_every_cluster_form_parses_to_the_same_hosts_and_keeps_target_session_attrs(url: str) -> None:
    parsed = DatabaseUrl.parse(url)
    assert (parsed.hosts, parsed.ports) == (HOSTS, PORTS)
    assert (parsed.user, parsed.password, parsed.dbname) == ("kb", "p@ss", "kinobill")
    assert parsed.params["target_session_attrs"] == "read-write"

    policy = ConnectionPolicy(connect_timeout_seconds=2, statement_timeout_ms=7000)
    libpq = psycopg.conninfo.conninfo_to_dict(parsed.conninfo(policy))
    assert libpq["host"] == ",".join(HOSTS) and libpq["port"] == "5411,5421,5431"
    assert libpq["target_session_attrs"] == "read-write"
    assert libpq["connect_timeout"] == "2" and libpq["keepalives"] == "1"
    assert libpq["options"] == "-c statement_timeout=7000"

    # SQLAlchemy's psycopg dialect hands libpq exactly these hosts and ports
    engine = sa.create_engine(parsed.sqlalchemy_url(), connect_args=parsed.sqlalchemy_connect_args(policy))
    _, cparams = engine.dialect.create_connect_args(engine.url)
    assert (cparams["host"], cparams["port"]) == (",".join(HOSTS), "5411,5421,5431")
    assert cparams["target_session_attrs"] == "read-write"

    django = parsed.django_database(policy, server_options="-c search_path=admin,public")
    assert (django["HOST"], django["PORT"], django["NAME"], django["PASSWORD"]) == (
        ",".join(HOSTS),
        "5411,5421,5431",
        "kinobill",
        "p@ss",
    )
    assert django["OPTIONS"]["target_session_attrs"] == "read-write"
    assert django["OPTIONS"]["options"] == "-c statement_timeout=7000 -c search_path=admin,public"


def test_a_host_list_without_target_session_attrs_asks_for_the_writable_one() -> None:
    parsed = DatabaseUrl.parse("postgresql://u@a:1,b:2/db")
    assert parsed.params["target_session_attrs"] == "read-write"
    assert "target_session_attrs" not in DatabaseUrl.parse("postgresql://u@a:1/db").params
    assert DatabaseUrl.parse("postgresql://u@a:1,b:2/db?target_session_attrs=any").params == {
        "target_session_attrs": "any"
    }


def test_single_host_socket_directory_and_url_values_winning_over_the_policy() -> None:
    single = DatabaseUrl.parse("postgresql+psycopg://kb@db.internal:6432/kinobill?sslmode=require")
    assert (single.hosts, single.ports, single.params) == (("db.internal",), (6432,), {"sslmode": "require"})
    socket = DatabaseUrl.parse("postgresql+psycopg://postgres:@/postgres?host=/tmp/kbt-x/pg")
    assert (socket.hosts, socket.ports) == (("/tmp/kbt-x/pg",), (None,))
    own = DatabaseUrl.parse("postgresql://u@h/db?connect_timeout=9&options=-c%20work_mem%3D8MB")
    params = own.libpq_params(ConnectionPolicy(statement_timeout_ms=0))
    assert params["connect_timeout"] == "9"
    assert params["options"] == "-c work_mem=8MB"
    args = own.sqlalchemy_connect_args(ConnectionPolicy(statement_timeout_ms=100))
    assert "connect_timeout" not in args and args["options"] == "-c statement_timeout=100 -c work_mem=8MB"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u@h/db", "postgresql://"),
        ("postgresql://u@/db?host=a,b&port=1,2,3", "2 hosts but 3 ports"),
        ("postgresql://u@a:1/db?host=b", "both"),
        ("postgresql://u@/db?host=a:1&port=2", "both as host:port and in"),
        ("postgresql://u@/db?host=a&port=x", "non-numeric"),
        ("", "empty"),
    ],
)
def test_unusable_urls_are_refused_with_the_reason(url: str, says: str) -> None:
    with pytest.raises(DatabaseUrlError, match=says):
        DatabaseUrl.parse(url)


# --- against the session's real Postgres: a dead first host is skipped by every client -------------


def test_sqlalchemy_and_the_async_pool_reach_the_writable_host(migrated_database: str) -> None:
    for url in behind_a_dead_host(migrated_database):
        engine = engine_for(url, 1, 0, True, ConnectionPolicy(statement_timeout_ms=4321))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW statement_timeout")).scalar_one() == "4321ms"
            assert conn.execute(sa.text("SELECT NOT pg_is_in_recovery()")).scalar_one()
            assert conn.connection.driver_connection.info.get_parameters()  # type: ignore[union-attr]
        engine.dispose()

        rows = ActiveRows(url, min_size=1, max_size=1, policy=ConnectionPolicy(statement_timeout_ms=1234))

        async def read(rows: ActiveRows) -> tuple[str, list]:
            await rows.pool.open(wait=True, timeout=10)
            try:
                async with rows.pool.connection() as conn:
                    cur = await conn.execute("SHOW statement_timeout")
                    shown = (await cur.fetchone())[0]  # type: ignore[index]
                return shown, list(await rows(uuid.uuid4()))
            finally:
                await rows.pool.close()

        assert asyncio.run(read(rows)) == ("1234ms", [])
