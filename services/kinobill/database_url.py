"""DATABASE_URL, parsed once, for every client that connects to Postgres.

Three clients connect: SQLAlchemy (services, workers, migrations), the async psycopg pool behind the
access endpoint, and Django (the admin). Each wants the connection in its own shape; all of them
must reach the same hosts with the same libpq parameters, so that after a Patroni failover every one
of them follows the leader. Accepted forms (``postgresql://`` or ``postgresql+psycopg://``):

* one host: ``postgresql+psycopg://user:pw@db:5432/kinobill``; a unix socket directory in ``?host=/dir``;
* hosts and ports as lists: ``…@/kinobill?host=h1,h2,h3&port=5432,5433,5434``;
* repeated ``host=h:p``: ``…@/kinobill?host=h1:5432&host=h2:5433`` (also ``?host=h1:5432,h2:5433``);
* hosts in the authority: ``postgresql://user:pw@h1:5432,h2:5433/kinobill``.

Every other query parameter is a libpq parameter and is kept (``target_session_attrs``, ``sslmode``,
``application_name``...). With more than one host and no ``target_session_attrs``, ``read-write`` is
added: a list of hosts is a cluster, and the services write.

:class:`ConnectionPolicy` adds what the URL usually leaves out, each one explicit: ``connect_timeout``
(per host, so a host that accepts and never answers costs at most this), a ``statement_timeout``, TCP
keepalives and ``tcp_user_timeout`` (a leader that vanished mid-query is noticed in seconds, not after
the kernel's two hours). Values the URL sets win over the policy's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import sqlalchemy as sa
from psycopg.conninfo import make_conninfo

SCHEMES = ("postgresql", "postgres")
MULTI_HOST_DEFAULT_TARGET = "read-write"
_HOST_PORT = re.compile(r"^(?P<host>\[[^\]]*\]|[^:]*)(?::(?P<port>\d*))?$")


class DatabaseUrlError(ValueError):
    """DATABASE_URL cannot be used: says which part is wrong (never echoes the password)."""


@dataclass(frozen=True)
class ConnectionPolicy:
    """Timeouts and keepalives every connection gets unless the URL sets them."""

    connect_timeout_seconds: int = 3
    statement_timeout_ms: int = 30_000
    keepalives_idle_seconds: int = 10
    keepalives_interval_seconds: int = 5
    keepalives_count: int = 3
    tcp_user_timeout_ms: int = 15_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConnectionPolicy:
        """``DB_CONNECT_TIMEOUT`` (seconds) and ``DB_STATEMENT_TIMEOUT_MS``, the names the services'
        settings read; for processes without them (the admin)."""
        env = os.environ if environ is None else environ
        return cls(
            connect_timeout_seconds=int(env.get("DB_CONNECT_TIMEOUT", cls.connect_timeout_seconds)),
            statement_timeout_ms=int(env.get("DB_STATEMENT_TIMEOUT_MS", cls.statement_timeout_ms)),
        )

    def libpq_defaults(self) -> dict[str, str]:
        return {
            "connect_timeout": str(self.connect_timeout_seconds),
            "keepalives": "1",
            "keepalives_idle": str(self.keepalives_idle_seconds),
            "keepalives_interval": str(self.keepalives_interval_seconds),
            "keepalives_count": str(self.keepalives_count),
            "tcp_user_timeout": str(self.tcp_user_timeout_ms),
        }

    def server_options(self) -> str:
        """Session settings sent at connect time (libpq ``options``); 0 disables the statement timeout."""
        return f"-c statement_timeout={self.statement_timeout_ms}" if self.statement_timeout_ms else ""


@dataclass(frozen=True)
class DatabaseUrl:
    """One parsed DATABASE_URL: credentials, database, the host list and the libpq parameters."""

    user: str
    password: str
    dbname: str
    hosts: tuple[str, ...]
    ports: tuple[int | None, ...]
    params: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str) -> DatabaseUrl:
        if not url:
            raise DatabaseUrlError("DATABASE_URL is empty")
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.split("+", 1)[0] not in SCHEMES:
            raise DatabaseUrlError(f"DATABASE_URL must be a postgresql:// URL, not {scheme!r}")
        authority, _, path_and_query = rest.partition("/")
        userinfo, at, hostlist = authority.rpartition("@")
        if not at:
            userinfo, hostlist = "", authority
        user, _, password = userinfo.partition(":")
        parts = urlsplit("x://h/" + path_and_query)
        dbname = unquote(parts.path.lstrip("/"))
        params: dict[str, str] = {}
        query_hosts: list[str] = []
        query_ports: list[str] = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key == "host":
                query_hosts.extend(value.split(","))
            elif key == "port":
                query_ports.extend(value.split(","))
            elif key in ("user", "password", "dbname"):
                user, password, dbname = (
                    value if key == "user" else user,
                    value if key == "password" else password,
                    value if key == "dbname" else dbname,
                )
            else:
                params[key] = value
        if hostlist and query_hosts:
            raise DatabaseUrlError("DATABASE_URL names hosts both before the path and in ?host=")
        hosts, ports = _split_hosts(
            [unquote(h) for h in hostlist.split(",")] if hostlist else query_hosts, query_ports
        )
        if len(hosts) > 1:
            params.setdefault("target_session_attrs", MULTI_HOST_DEFAULT_TARGET)
        return cls(unquote(user), unquote(password), dbname, hosts, ports, params)

    # --- what each client needs -----------------------------------------------------------------

    def libpq_params(self, policy: ConnectionPolicy | None = None) -> dict[str, str]:
        """Keyword parameters for libpq (psycopg.connect, psycopg_pool, Django OPTIONS + HOST/PORT)."""
        out: dict[str, str] = {}
        if self.hosts:
            out["host"] = ",".join(self.hosts)
        if any(p is not None for p in self.ports):
            out["port"] = ",".join("" if p is None else str(p) for p in self.ports)
        if self.user:
            out["user"] = self.user
        if self.password:
            out["password"] = self.password
        if self.dbname:
            out["dbname"] = self.dbname
        if policy is not None:
            for key, value in policy.libpq_defaults().items():
                out.setdefault(key, value)
        out.update(self.params)
        if policy is not None:
            out["options"] = join_options(policy.server_options(), self.params.get("options", ""))
            if not out["options"]:
                del out["options"]
        return out

    def conninfo(self, policy: ConnectionPolicy | None = None) -> str:
        """A libpq ``key=value`` connection string (psycopg's pools take this)."""
        return make_conninfo("", **self.libpq_params(policy))

    def sqlalchemy_url(self) -> sa.URL:
        """The psycopg 3 dialect's URL: hosts and ports as the ``host=h1,h2&port=p1,p2`` lists, which
        SQLAlchemy hands to libpq as they are (it splits ``host:port`` only for a single host)."""
        query: dict[str, str] = dict(self.params)
        if self.hosts:
            query["host"] = ",".join(self.hosts)
        if any(p is not None for p in self.ports):
            query["port"] = ",".join("" if p is None else str(p) for p in self.ports)
        return sa.URL.create(
            "postgresql+psycopg",
            username=self.user or None,
            password=self.password or None,
            database=self.dbname or None,
            query=query,
        )

    def sqlalchemy_connect_args(self, policy: ConnectionPolicy) -> dict[str, Any]:
        """``connect_args`` adding the policy to :meth:`sqlalchemy_url` (the URL's own values win)."""
        args: dict[str, Any] = {k: v for k, v in policy.libpq_defaults().items() if k not in self.params}
        options = join_options(policy.server_options(), self.params.get("options", ""))
        if options:
            args["options"] = options
        return args

    def django_database(self, policy: ConnectionPolicy, *, server_options: str = "") -> dict[str, Any]:
        """The connection part of a Django ``DATABASES`` entry (psycopg 3 backend): every host and
        port, and every libpq parameter (``target_session_attrs`` included) in OPTIONS."""
        params = self.libpq_params(policy)
        options: dict[str, Any] = {
            k: v for k, v in params.items() if k not in ("host", "port", "user", "password", "dbname")
        }
        merged = join_options(options.get("options", ""), server_options)
        if merged:
            options["options"] = merged
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.dbname or "postgres",
            "USER": self.user,
            "PASSWORD": self.password,
            "HOST": params.get("host", ""),
            "PORT": params.get("port", ""),
            "OPTIONS": options,
        }


def _split_hosts(
    raw_hosts: list[str], raw_ports: list[str]
) -> tuple[tuple[str, ...], tuple[int | None, ...]]:
    hosts: list[str] = []
    ports: list[int | None] = []
    for token in raw_hosts:
        token = token.strip()
        if token.startswith("/"):  # a unix socket directory carries no port
            hosts.append(token)
            ports.append(None)
            continue
        match = _HOST_PORT.match(token)
        if not match:
            raise DatabaseUrlError(f"DATABASE_URL has an unreadable host {token!r}")
        hosts.append(match["host"].strip("[]"))
        ports.append(int(match["port"]) if match["port"] else None)
    if raw_ports:
        if any(p is not None for p in ports):
            raise DatabaseUrlError("DATABASE_URL gives ports both as host:port and in ?port=")
        try:
            listed = [int(p) if p.strip() else None for p in raw_ports]
        except ValueError:
            raise DatabaseUrlError(f"DATABASE_URL has a non-numeric port in {raw_ports!r}") from None
        if not hosts:
            hosts = [""] * len(listed)
        if len(listed) == 1 and len(hosts) > 1:
            listed = listed * len(hosts)
        if len(listed) != len(hosts):
            raise DatabaseUrlError(f"DATABASE_URL lists {len(hosts)} hosts but {len(listed)} ports")
        ports = listed
    return tuple(hosts), tuple(ports)


def join_options(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())
