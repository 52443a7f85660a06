"""A real three-node Patroni cluster on loopback for the failover scenarios.

etcd (Debian ``etcd-server``, one member) as the DCS, PostgreSQL 15 from Debian, Patroni from PyPI in the
venv ``scripts/install-patroni`` builds outside the repository. Postgres refuses to run as root, so when
the tests run as root (CI) every cluster process runs as the ``postgres`` user; as any other user they
run as that user. ttl 20 / loop_wait 2 / retry_timeout 5 and ``primary_start_timeout: 0``: the fastest
failover Patroni allows (a lost leader lock expires after ttl, 20 s at least); ``synchronous_mode`` so
that a failover never loses an acknowledged commit, as a billing database needs.

The faults: :meth:`switchover` (patronictl), :meth:`kill_leader_postgres` (SIGKILL of the leader's
postmaster, Patroni alive), :meth:`kill_leader_node` (SIGKILL of the leader's Patroni and postmaster:
the lock must expire) and :meth:`restart_postgres` (patronictl restart of the leader in place).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from support import free_port, wait_until

PATRONI_VERSION = "4.1.5"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
ETCD = Path("/usr/bin/etcd")
SCOPE = "kinobill"
PASSWORD = "patroni-test-pw"
REPO = Path(__file__).resolve().parents[2]


def patroni_venv() -> Path:
    return (
        Path(os.environ.get("KINOBILL_PATRONI_CACHE", "/var/cache/kinobill")) / f"patroni-{PATRONI_VERSION}"
    )


def unavailable_reason() -> str | None:
    """None when a cluster can be started here; otherwise why not (the tests skip with it). As root,
    installs what is missing first (scripts/install-patroni)."""

    def missing() -> list[str]:
        return [str(p) for p in (PG_BIN / "postgres", ETCD, patroni_venv() / ".complete") if not p.exists()]

    if missing() and os.geteuid() == 0:
        subprocess.run([str(REPO / "scripts" / "install-patroni")], check=False, timeout=900)
    if missing():
        return (
            f"Patroni {PATRONI_VERSION}, PostgreSQL 15 and etcd are not installed ({', '.join(missing())} "
            "missing); run scripts/install-patroni as root (CI does, through scripts/test)"
        )
    return None


@dataclass
class Node:
    name: str
    pg_port: int
    api_port: int
    config: Path
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def is_primary(self) -> bool:
        try:
            return httpx.get(f"{self.api}/primary", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class PatroniCluster:
    directory: Path
    nodes: list[Node] = field(default_factory=list)
    etcd: subprocess.Popen[bytes] | None = None
    etcd_port: int = 0

    # --- set up ------------------------------------------------------------------------------------

    @classmethod
    def create(cls, size: int = 3) -> PatroniCluster:
        # short path: the unix socket directory lives here too (107-byte limit)
        directory = Path(tempfile.mkdtemp(prefix="kbp-"))
        cluster = cls(directory)
        cluster.etcd_port = free_port()
        for i in range(1, size + 1):
            name = f"node{i}"
            node = Node(name, free_port(), free_port(), directory / f"{name}.yml", directory / f"data{i}")
            cluster.nodes.append(node)
        for node in cluster.nodes:
            node.config.write_text(
                json.dumps(cluster._node_config(node), indent=1)
            )  # YAML is JSON's superset
        cls._hand_over(directory)
        return cluster

    def _node_config(self, node: Node) -> dict:
        return {
            "scope": SCOPE,
            "name": node.name,
            "log": {"level": "WARNING"},
            "restapi": {
                "listen": f"127.0.0.1:{node.api_port}",
                "connect_address": f"127.0.0.1:{node.api_port}",
            },
            "etcd3": {"hosts": f"127.0.0.1:{self.etcd_port}"},
            "bootstrap": {
                "dcs": {
                    "ttl": 20,
                    "loop_wait": 2,
                    "retry_timeout": 5,
                    "maximum_lag_on_failover": 1048576,
                    "primary_start_timeout": 0,
                    # a commit is acknowledged once a standby has it, and only that standby is promoted:
                    # a failover loses no paid purchase (asynchronous replication could)
                    "synchronous_mode": True,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "parameters": {"wal_log_hints": "on", "max_connections": 300},
                    },
                },
                "initdb": [{"encoding": "UTF8"}, "data-checksums"],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{node.pg_port}",
                "connect_address": f"127.0.0.1:{node.pg_port}",
                "data_dir": str(node.data_dir),
                "bin_dir": str(PG_BIN),
                "pgpass": str(self.directory / f"pgpass-{node.name}"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": PASSWORD},
                    "replication": {"username": "replicator", "password": "rep"},
                    "rewind": {"username": "rewinder", "password": "rw"},
                },
                "pg_hba": [
                    "local all all trust",
                    "host all all 127.0.0.1/32 md5",
                    "host replication replicator 127.0.0.1/32 md5",
                ],
                "parameters": {
                    "unix_socket_directories": str(self.directory),
                    "fsync": "off",  # only processes are killed here, never the machine
                },
            },
        }

    @staticmethod
    def _run_as() -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    @classmethod
    def _hand_over(cls, directory: Path) -> None:
        user = cls._run_as()
        if user:
            entry = pwd.getpwnam(user)
            for path in [directory, *directory.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(self.directory / log_name, "ab")  # noqa: SIM115 - the child owns it
        return subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self._run_as(),
            cwd=self.directory,
            env={"PATH": "/usr/bin:/bin", "HOME": str(self.directory), "LC_ALL": "C.UTF-8"},
            start_new_session=True,
        )

    def start(self, timeout: float = 120.0) -> PatroniCluster:
        peer = free_port()
        self.etcd = self._spawn(
            [
                str(ETCD),
                "--name", "e1",
                "--data-dir", str(self.directory / "etcd"),
                "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", f"e1=http://127.0.0.1:{peer}",
            ],
            "etcd.log",
        )  # fmt: skip
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{self.etcd_port}/health", timeout=1).status_code == 200,
            timeout=30,
            message="etcd to answer",
        )
        for node in self.nodes:
            self.start_node(node)
        wait_until(self.healthy, timeout=timeout, interval=0.5, message="1 leader and 2 streaming replicas")
        return self

    def start_node(self, node: Node) -> None:
        node.process = self._spawn(
            [str(patroni_venv() / "bin" / "patroni"), str(node.config)], f"{node.name}.log"
        )

    def healthy(self) -> bool:
        members = self.members()
        roles = sorted(m.get("role", "") for m in members)
        streaming = [m for m in members if m.get("role") != "leader" and m.get("state") == "streaming"]
        return (
            len(members) == len(self.nodes)
            and roles.count("leader") == 1
            and len(streaming) == len(self.nodes) - 1
        )

    def members(self) -> list[dict]:
        for node in self.nodes:
            try:
                return list(httpx.get(f"{node.api}/cluster", timeout=1).json().get("members", []))
            except (httpx.HTTPError, ValueError):
                continue
        return []

    # --- what the application connects to -----------------------------------------------------------

    @property
    def database_url(self) -> str:
        """Every node, libpq picks the writable one (the list form: ``host=h1,h2,h3&port=p1,p2,p3``)."""
        hosts = ",".join("127.0.0.1" for _ in self.nodes)
        ports = ",".join(str(n.pg_port) for n in self.nodes)
        return (
            f"postgresql+psycopg://postgres:{PASSWORD}@/postgres?host={hosts}&port={ports}"
            "&target_session_attrs=read-write"
        )

    @property
    def authority_url(self) -> str:
        """The same cluster in the authority form (``postgresql://u:p@h1:p1,h2:p2/db``)."""
        hosts = ",".join(f"127.0.0.1:{n.pg_port}" for n in self.nodes)
        return f"postgresql://postgres:{PASSWORD}@{hosts}/postgres?target_session_attrs=read-write"

    def leader(self) -> Node:
        return wait_until(
            lambda: next((n for n in self.nodes if n.is_primary()), None),
            timeout=60,
            message="a Patroni leader",
        )

    def writable(self, node: Node) -> bool:
        """The node's postgres accepts writes (what target_session_attrs=read-write looks for)."""
        try:
            with psycopg.connect(
                host="127.0.0.1",
                port=node.pg_port,
                user="postgres",
                password=PASSWORD,
                dbname="postgres",
                connect_timeout=1,
            ) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                return row is not None and not row[0]
        except psycopg.Error:
            return False

    # --- faults -------------------------------------------------------------------------------------

    def patronictl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(patroni_venv() / "bin" / "patronictl"), "-c", str(self.nodes[0].config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            user=self._run_as(),
            cwd=self.directory,
            env={"PATH": "/usr/bin:/bin", "HOME": str(self.directory), "LC_ALL": "C.UTF-8"},
            check=False,
        )

    def switchover(self) -> tuple[Node, Node]:
        """patronictl switchover to the synchronous standby (the only one synchronous_mode promotes)."""
        old = self.leader()
        sync = wait_until(
            lambda: next((m["name"] for m in self.members() if m.get("role") == "sync_standby"), None),
            timeout=30,
            message="a synchronous standby",
        )
        candidate = next(n for n in self.nodes if n.name == sync)
        done = self.patronictl(
            "switchover", SCOPE, "--leader", old.name, "--candidate", candidate.name, "--force"
        )
        assert done.returncode == 0, done.stdout + done.stderr
        # patronictl may answer before the switch; a switchover that did not happen fails here
        self.new_leader(old)
        return old, candidate

    def restart_postgres(self) -> Node:
        leader = self.leader()
        done = self.patronictl("restart", SCOPE, leader.name, "--force")
        assert done.returncode == 0, done.stdout + done.stderr
        return leader

    def kill_leader_postgres(self) -> Node:
        leader = self.leader()
        pid = leader.postmaster_pid()
        assert pid, f"no postmaster.pid in {leader.data_dir}"
        os.kill(pid, signal.SIGKILL)
        return leader

    def kill_leader_node(self) -> Node:
        leader = self.leader()
        pid = leader.postmaster_pid()
        assert leader.process is not None
        leader.process.kill()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        leader.process.wait(10)
        # orphaned backends of the killed postmaster exit on their own once it is gone
        return leader

    def new_leader(self, old: Node, timeout: float = 60.0) -> Node:
        """Wait until a node other than `old` is primary and writable."""
        return wait_until(
            lambda: next(
                (n for n in self.nodes if n is not old and n.is_primary() and self.writable(n)), None
            ),
            timeout=timeout,
            interval=0.1,
            message=f"a new leader other than {old.name}",
        )

    # --- tear down ----------------------------------------------------------------------------------

    def stop(self) -> None:
        for node in self.nodes:
            if node.process and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            if node.process:
                try:
                    node.process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(node.process.pid, signal.SIGKILL)
            pid = node.postmaster_pid()  # a postmaster whose Patroni was killed
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.etcd and self.etcd.poll() is None:
            self.etcd.terminate()
            self.etcd.wait(10)
        if not os.environ.get("KINOBILL_KEEP_PATRONI_DIR"):
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for path in sorted(self.directory.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)


def wait_writable_through(url: str, timeout: float = 60.0) -> float:
    """Seconds until a new connection through `url` (libpq multi-host) lands on a writable node."""
    from kinobill.database_url import DatabaseUrl

    started = time.monotonic()
    conninfo = DatabaseUrl.parse(url).conninfo()

    def writable() -> bool:
        with psycopg.connect(conninfo, connect_timeout=1) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            return row is not None and not row[0]

    wait_until(writable, timeout=timeout, interval=0.1, message="a writable node through the URL")
    return time.monotonic() - started
