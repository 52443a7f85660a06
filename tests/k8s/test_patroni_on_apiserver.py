"""Patroni with the Kubernetes DCS against the real apiserver, configured by ``k8s/postgres`` (the ConfigMap's
patroni.yml, the StatefulSet's environment, the Role through a TokenRequest token of the ``kinobill-pg``
ServiceAccount). The members are real Patroni + PostgreSQL processes on loopback (as the ``postgres`` user);
their pods are kwok pods built from the StatefulSet's template, which Patroni labels and annotates as on a
cluster. Measured: the leader election, a switchover and the loss of the leader (Patroni and postgres
killed), each until the application (the project's engine over a multi-host URL) writes again."""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from control_plane import ControlPlane
from k8s_support import REPO, record_figure

from support import ServiceProcess, free_port, wait_until

PG = REPO / "k8s" / "postgres"
NAMESPACE = "pg"
SCOPE = "kinobill-pg"
MEMBERS = 3


def install_patroni() -> Path:
    done = subprocess.run(
        [str(REPO / "scripts" / "install-patroni")], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"Patroni is not installed and could not be ({done.stderr.strip()[-300:]})")
    return Path(done.stdout.strip().splitlines()[-1])


def load(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((PG / name).read_text()) if d]


class Member:
    def __init__(self, index: int, workdir: Path) -> None:
        self.name = f"{SCOPE}-{index}"
        self.pg_port, self.api_port = free_port(), free_port()
        self.dir = workdir / self.name
        self.process: ServiceProcess | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def is_primary(self) -> bool:
        try:
            return httpx.get(f"{self.api}/primary", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.dir / "data" / "postmaster.pid").read_text().splitlines()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None


class PatroniCluster:
    def __init__(self, plane: ControlPlane, patroni: Path, workdir: Path) -> None:
        self.plane, self.patroni, self.workdir = plane, patroni, workdir
        self.members = [Member(i, workdir) for i in range(MEMBERS)]
        self.statefulset = load("statefulset.yaml")[0]
        self.secret = load("secret.example.yaml")[0]["stringData"]
        self.configmap = next(d for d in load("configmap.yaml") if d["kind"] == "ConfigMap")

    def apply_manifests(self) -> None:
        self.plane.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        objects = [
            *load("rbac.yaml"),
            *load("services.yaml"),
            *load("pdb.yaml"),
            *load("secret.example.yaml"),
        ]
        objects.append(self.configmap)
        for obj in objects:
            obj["metadata"]["namespace"] = NAMESPACE
        self.plane.apply(*objects)
        # The StatefulSet's pods, as kwok pods (their volumes are emptyDirs: no provisioner here).
        template = self.statefulset["spec"]["template"]
        for member in self.members:
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    **copy.deepcopy(template["metadata"]),
                    "name": member.name,
                    "namespace": NAMESPACE,
                },
                "spec": copy.deepcopy(template["spec"]),
            }
            pod["spec"]["volumes"].append({"name": "pgdata", "emptyDir": {}})
            self.plane.apply(pod)
        wait_until(self._pods_running, timeout=60, message="the Patroni pods Running on kwok nodes")

    def _pods_running(self) -> bool:
        pods = self.plane.get_json("pods", "-n", NAMESPACE, "-l", f"cluster-name={SCOPE}")["items"]
        return len(pods) == MEMBERS and all(p["status"].get("phase") == "Running" for p in pods)

    def environment(self, member: Member, kubeconfig: Path) -> dict[str, str]:
        """The StatefulSet container's environment resolved for this member, plus loopback addresses."""
        pod = self.plane.get_json("pod", member.name, "-n", NAMESPACE)
        fields = {
            "metadata.name": member.name,
            "metadata.namespace": NAMESPACE,
            "status.podIP": pod["status"]["podIP"],
        }
        env: dict[str, str] = {}
        (container,) = self.statefulset["spec"]["template"]["spec"]["containers"]
        for var in container["env"]:
            source = var.get("valueFrom") or {}
            if "fieldRef" in source:
                env[var["name"]] = fields[source["fieldRef"]["fieldPath"]]
            elif "secretKeyRef" in source:
                env[var["name"]] = self.secret[source["secretKeyRef"]["key"]]
            else:
                env[var["name"]] = var["value"]
        env.update(
            {
                "PATRONI_POSTGRESQL_DATA_DIR": str(member.dir / "data"),
                "PATRONI_POSTGRESQL_PGPASS": str(member.dir / "pgpass"),
                "PATRONI_POSTGRESQL_LISTEN": f"127.0.0.1:{member.pg_port}",
                "PATRONI_POSTGRESQL_CONNECT_ADDRESS": f"127.0.0.1:{member.pg_port}",
                "PATRONI_RESTAPI_LISTEN": f"127.0.0.1:{member.api_port}",
                "PATRONI_RESTAPI_CONNECT_ADDRESS": f"127.0.0.1:{member.api_port}",
                "KUBECONFIG": str(kubeconfig),
                "PATH": f"{env['PATRONI_POSTGRESQL_BIN_DIR']}:/usr/bin:/bin",
                "HOME": str(member.dir),
                "LANG": "C.UTF-8",
            }
        )
        return env

    def start(self) -> None:
        kubeconfig = self.plane.kubeconfig_for(NAMESPACE, SCOPE, "patroni")
        config_dir = self.workdir / "etc-patroni"
        config_dir.mkdir()
        for name, text in self.configmap["data"].items():
            (config_dir / name).write_text(text.replace("/etc/patroni/", f"{config_dir}/"))
            (config_dir / name).chmod(0o755)
        # Local difference: the members' sockets in a directory of their own, not /var/run/postgresql.
        sockets = self.workdir / "sockets"
        sockets.mkdir()
        shutil.chown(sockets, "postgres", "postgres")
        config = yaml.safe_load((config_dir / "patroni.yml").read_text())
        config["postgresql"].setdefault("parameters", {})["unix_socket_directories"] = str(sockets)
        # Outside a pod Patroni reads KUBECONFIG, in the context it is told (the tests' kubeconfigs have one).
        config["kubernetes"] = {"context": "local"}
        (config_dir / "patroni.yml").write_text(yaml.safe_dump(config))
        self.workdir.chmod(0o755)
        shutil.chown(kubeconfig, "postgres")
        for member in self.members:
            member.dir.mkdir(mode=0o700)
            shutil.chown(member.dir, "postgres", "postgres")
            self.start_member(member, kubeconfig)

    def start_member(self, member: Member, kubeconfig: Path | None = None) -> None:
        kubeconfig = kubeconfig or self.workdir / "patroni.kubeconfig"
        args = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", str(self.patroni)]
        member.process = ServiceProcess(
            member.name,
            [*args, str(self.workdir / "etc-patroni" / "patroni.yml")],
            self.environment(member, kubeconfig),
            self.workdir,
        ).start()

    def leader(self) -> Member | None:
        primaries = [m for m in self.members if m.process and m.is_primary()]
        return primaries[0] if len(primaries) == 1 else None

    def kill(self, member: Member) -> None:
        """The member's node is lost: Patroni and its postgres die at once, nothing is released."""
        assert member.process is not None and member.process.process is not None
        patroni = member.process.process.pid
        children = Path(f"/proc/{patroni}/task/{patroni}/children").read_text().split()
        victims = {patroni, *(int(pid) for pid in children), member.postmaster_pid() or patroni}
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        member.process.wait_exit(10)

        def postgres_gone() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", member.pg_port)) != 0

        wait_until(postgres_gone, timeout=10, message=f"{member.name}'s postgres to be gone")

    def stop(self) -> None:
        for member in self.members:
            if member.process:
                member.process.stop(timeout=30)
            postmaster = member.postmaster_pid()
            if postmaster:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(postmaster, signal.SIGQUIT)


class Writer:
    """The application: the project's engine over a multi-host URL (read-write target), one INSERT every
    20 ms; records when each write succeeded so the longest gap around an event can be read."""

    def __init__(self, url: str) -> None:
        from kinobill.db import engine_for

        self.engine = engine_for(url, pool_size=2)
        with self.engine.begin() as conn:
            conn.execute(
                sa.text("CREATE TABLE IF NOT EXISTS heartbeat (id bigserial PRIMARY KEY, at timestamptz)")
            )
        self.successes: list[float] = []
        self.failures = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.text("INSERT INTO heartbeat (at) VALUES (now())"))
                self.successes.append(time.monotonic())
            except Exception:
                self.failures += 1
            self.stopped.wait(0.02)

    def wrote_since(self, moment: float) -> bool:
        return bool(self.successes) and self.successes[-1] > moment

    def rows(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM heartbeat")).scalar_one())

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(10)
        self.engine.dispose()


@pytest.fixture(scope="module")
def patroni_cluster(control_plane: ControlPlane) -> Iterator[PatroniCluster]:
    if os.geteuid() != 0:
        pytest.skip("Patroni's members run as the postgres user: needs root")
    patroni = install_patroni()
    workdir = control_plane.workdir / "patroni"
    workdir.mkdir()
    control_plane.workdir.chmod(0o711)  # the postgres user passes through (its files there are 0600)
    cluster = PatroniCluster(control_plane, patroni, workdir)
    cluster.apply_manifests()
    started = time.monotonic()
    cluster.start()
    try:
        wait_until(cluster.leader, timeout=120, message="a Patroni leader elected through the apiserver")
        record_figure(
            "Patroni on the Kubernetes DCS: first leader elected", f"{time.monotonic() - started:.1f} s"
        )
        yield cluster
    finally:
        cluster.stop()


def leader_in_kubernetes(plane: ControlPlane) -> tuple[str | None, set[str]]:
    """(the leader named in the kinobill-pg-leader ConfigMap, pods labelled role=primary)."""
    lock = plane.get_or_none("configmap", f"{SCOPE}-leader", "-n", NAMESPACE) or {"metadata": {}}
    pods = plane.get_json("pods", "-n", NAMESPACE, "-l", f"cluster-name={SCOPE},role=primary")["items"]
    return (lock["metadata"].get("annotations") or {}).get("leader"), {p["metadata"]["name"] for p in pods}


def primary_service_ips(plane: ControlPlane) -> set[str]:
    slices = plane.get_json("endpointslices", "-n", NAMESPACE, "-l", f"kubernetes.io/service-name={SCOPE}")
    return {a for s in slices["items"] for e in s.get("endpoints") or [] for a in e["addresses"]}


def app_url(cluster: PatroniCluster) -> str:
    password = cluster.secret["app-password"]
    hosts = ",".join("127.0.0.1" for _ in cluster.members)
    ports = ",".join(str(m.pg_port) for m in cluster.members)
    return (
        f"postgresql+psycopg://kinobill:{password}@/kinobill?host={hosts}&port={ports}"
        "&target_session_attrs=read-write&connect_timeout=2"
    )


def assert_kubernetes_follows(plane: ControlPlane, leader: Member, lost: Member | None = None) -> None:
    """The lock names `leader`, its pod is labelled role=primary and the primary Service's EndpointSlice has
    its address. A `lost` leader's pod keeps its label (nobody is left to remove it): on a node the kubelet's
    failing readiness probe takes it out of the Service, which kwok does not emulate."""

    def agrees() -> bool:
        lock, labelled = leader_in_kubernetes(plane)
        ips = primary_service_ips(plane)
        pod_ip = plane.get_json("pod", leader.name, "-n", NAMESPACE)["status"]["podIP"]
        expected = {leader.name} | ({lost.name} if lost else set())
        return lock == leader.name and labelled == expected and pod_ip in ips and len(ips) == len(expected)

    wait_until(agrees, timeout=30, message=f"the lock, the role label and the EndpointSlice on {leader.name}")


def replicas_labelled(plane: ControlPlane) -> bool:
    pods = plane.get_json("pods", "-n", NAMESPACE, "-l", f"cluster-name={SCOPE},role=replica")["items"]
    return len(pods) == MEMBERS - 1


def test_patroni_elects_a_leader_through_the_apiserver(
    control_plane: ControlPlane, patroni_cluster: PatroniCluster
) -> None:
    leader = wait_until(patroni_cluster.leader, timeout=30, message="one primary")
    assert_kubernetes_follows(control_plane, leader)
    config = control_plane.get_json("configmap", f"{SCOPE}-config", "-n", NAMESPACE)
    assert '"ttl":20' in config["metadata"]["annotations"]["config"].replace(" ", "")
    wait_until(lambda: replicas_labelled(control_plane), timeout=90, message="two pods labelled role=replica")


def test_switchover_and_leader_loss_with_the_application_writing(
    control_plane: ControlPlane, patroni_cluster: PatroniCluster
) -> None:
    wait_until(lambda: replicas_labelled(control_plane), timeout=90, message="two replicas")
    writer = Writer(app_url(patroni_cluster))
    try:
        wait_until(lambda: len(writer.successes) > 10, timeout=30, message="the application writing")

        old = patroni_cluster.leader()
        assert old is not None
        wait_until(lambda: has_sync_standby(old), timeout=60, message=f"a synchronous standby of {old.name}")
        asked = time.monotonic()
        response = httpx.post(f"{old.api}/switchover", json={"leader": old.name}, timeout=30)
        assert response.status_code == 200, response.text
        new = wait_until(
            lambda: (m := patroni_cluster.leader()) and m is not old and m, timeout=60, message="a new leader"
        )
        wait_until(lambda: writer.wrote_since(asked), timeout=60, message="the application writing after it")
        switchover = writer_gap(writer, asked)
        record_figure("Patroni (K8s DCS) switchover: application writes again after", f"{switchover:.1f} s")
        assert_kubernetes_follows(control_plane, new)

        # synchronous_mode: only the replica recorded as synchronous may take over from a lost leader, so
        # the loss is staged once the new leader has one (right after a switchover it may have none yet).
        wait_until(lambda: has_sync_standby(new), timeout=60, message=f"a synchronous standby of {new.name}")
        lost = time.monotonic()
        patroni_cluster.kill(new)
        survivor = wait_until(
            lambda: (m := patroni_cluster.leader()) and m is not new and m,
            timeout=90,
            message="a leader after the leader's node is lost",
        )
        wait_until(
            lambda: writer.wrote_since(lost), timeout=60, message="the application writing after the loss"
        )
        loss = writer_gap(writer, lost)
        record_figure(
            "Patroni (K8s DCS) leader lost (ttl 20): application writes again after", f"{loss:.1f} s"
        )
        assert_kubernetes_follows(control_plane, survivor, lost=new)
        assert switchover < 15
        assert loss < 45
    finally:
        writer.stop()
    assert writer.rows() >= len(writer.successes), "no acknowledged write is lost (synchronous_mode)"


def has_sync_standby(leader: Member) -> bool:
    members = httpx.get(f"{leader.api}/cluster", timeout=2).json()["members"]
    return any(m["role"] == "sync_standby" and m["state"] == "streaming" for m in members)


def writer_gap(writer: Writer, since: float) -> float:
    """Seconds from `since` to the first write that succeeded after the longest pause following it."""
    after = [t for t in writer.successes if t >= since]
    before = [t for t in writer.successes if t < since]
    moments = [before[-1] if before else since, *after]
    gaps = [(b - a, b) for a, b in itertools.pairwise(moments)]
    _, resumed = max(gaps)
    return resumed - since
