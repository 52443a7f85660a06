"""A real Kubernetes control plane on loopback for the tests: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (fake nodes whose pods become Running/Complete through kwok's stages).

The binaries come from ``scripts/k8s-tools`` (built from the Go module proxy into a versioned cache). Every
port is free and on 127.0.0.1; the administrator authenticates with a random static token; other identities
(the chart's ServiceAccounts) get real tokens from the TokenRequest API, so a process runs with exactly the
RBAC the chart grants it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from support import ServiceProcess, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
TOOLS_SCRIPT = REPO / "scripts" / "k8s-tools"
NODE_ZONES = ("zone-a", "zone-b", "zone-c")


class ToolsUnavailable(Exception):
    """The control-plane binaries cannot be had here (no Go); the message says why."""


def control_plane_tools() -> Path:
    """The cache directory with bin/, kwok-stages.yaml and crds/ (built now when missing: ~10 min cold)."""
    pinned = os.environ.get("KINOBILL_K8S_TOOLS")
    if pinned:
        return Path(pinned)
    done = subprocess.run([str(TOOLS_SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode == 3:
        raise ToolsUnavailable(done.stderr.strip() or "Go is not installed")
    if done.returncode != 0:
        raise RuntimeError(f"scripts/k8s-tools failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def _write_sa_keys(directory: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = directory / "sa.key", directory / "sa.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@dataclass
class Timings:
    control_plane_start: float = 0.0
    nodes_ready: float = 0.0


class ControlPlane:
    """Start with :meth:`start`, stop with :meth:`stop`; ``kubectl(...)`` runs the pinned kubectl as admin."""

    def __init__(self, tools: Path, workdir: Path, nodes: int = 3) -> None:
        self.tools, self.workdir, self.node_count = tools, workdir, nodes
        self.bin = tools / "bin"
        self.admin_token = secrets.token_urlsafe(32)
        self.api_port = free_port()
        self.server = f"https://127.0.0.1:{self.api_port}"
        self.processes: dict[str, ServiceProcess] = {}
        self.timings = Timings()
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ca_file = workdir / "certs" / "apiserver.crt"
        self.kubeconfig = workdir / "admin.kubeconfig"

    # --- processes ---------------------------------------------------------------------------------

    def _process(self, name: str, args: list[str]) -> ServiceProcess:
        proc = ServiceProcess(name, args, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, self.logs)
        self.processes[name] = proc
        return proc.start()

    def _running(self, name: str) -> None:
        proc = self.processes[name].process
        assert proc is not None
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.processes[name].log_tail()}")

    def start(self) -> ControlPlane:
        started = time.monotonic()
        etcd_client, etcd_peer = free_port(), free_port()
        self._process(
            "etcd",
            [
                str(self.bin / "etcd"),
                "--name=k8s",
                f"--data-dir={self.workdir / 'etcd'}",
                "--unsafe-no-fsync=true",
                f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=k8s=http://127.0.0.1:{etcd_peer}",
                "--listen-metrics-urls=",
                "--log-level=warn",
            ],
        )
        private, public = _write_sa_keys(self.workdir)
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{self.admin_token},admin,admin,"system:masters"\n')
        tokens.chmod(0o600)
        self._process(
            "kube-apiserver",
            [
                str(self.bin / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                f"--cert-dir={self.workdir / 'certs'}",
                f"--secure-port={self.api_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=false",
                "--authorization-mode=Node,RBAC",
                f"--token-auth-file={tokens}",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={public}",
                f"--service-account-signing-key-file={private}",
                "--disable-admission-plugins=ServiceAccount",
                "--endpoint-reconciler-type=none",
                "--enable-priority-and-fairness=false",
                "--v=0",
            ],
        )
        self._write_kubeconfig(self.kubeconfig, self.admin_token)
        wait_until(self._ready, timeout=60, message="kube-apiserver /readyz")
        common = [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1"]
        self._process(
            "kube-controller-manager",
            [
                str(self.bin / "kube-controller-manager"),
                *common,
                f"--secure-port={free_port()}",
                f"--service-account-private-key-file={private}",
                "--use-service-account-credentials=false",
                "--cluster-name=kinobill-test",
            ],
        )
        self._process(
            "kube-scheduler", [str(self.bin / "kube-scheduler"), *common, f"--secure-port={free_port()}"]
        )
        self._process(
            "kwok",
            [
                str(self.bin / "kwok"),
                f"--kubeconfig={self.kubeconfig}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--cidr=10.0.1.0/24",
                "--node-ip=10.0.1.1",
                f"--server-address=127.0.0.1:{free_port()}",
                "--node-lease-duration-seconds=40",  # kwok renews the nodes' leases: they stay Ready
                f"--config={self.tools / 'kwok-stages.yaml'}",
            ],
        )
        self.timings.control_plane_start = time.monotonic() - started
        for i in range(self.node_count):
            self.apply(self._node(f"kwok-node-{i}", NODE_ZONES[i % len(NODE_ZONES)]))
        wait_until(self._nodes_ready, timeout=60, message="the kwok nodes to be Ready")
        self.timings.nodes_ready = time.monotonic() - started
        return self

    def stop(self) -> None:
        for name in ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            proc = self.processes.get(name)
            if proc is not None:
                proc.stop(timeout=20)

    def _ready(self) -> bool:
        self._running("kube-apiserver")
        response = httpx.get(
            f"{self.server}/readyz", headers=self._auth(self.admin_token), verify=False, timeout=2
        )
        return response.status_code == 200

    def _nodes_ready(self) -> bool:
        self._running("kwok")
        nodes = self.get_json("nodes")["items"]
        return len(nodes) == self.node_count and all(
            any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
            for n in nodes
        )

    @staticmethod
    def _node(name: str, zone: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "topology.kubernetes.io/zone": zone,
                    "type": "kwok",
                },
            },
            "spec": {},
            "status": {
                "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            },
        }

    # --- clients -----------------------------------------------------------------------------------

    @staticmethod
    def _auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def _write_kubeconfig(self, path: Path, token: str, namespace: str = "default") -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "local", "cluster": {"server": self.server, "insecure-skip-tls-verify": True}}
            ],
            "users": [{"name": "user", "user": {"token": token}}],
            "contexts": [
                {"name": "local", "context": {"cluster": "local", "user": "user", "namespace": namespace}}
            ],
            "current-context": "local",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def kubeconfig_for(self, namespace: str, service_account: str, name: str) -> Path:
        """A kubeconfig whose user is the ServiceAccount (a TokenRequest token: its RBAC, nothing more)."""
        token = self.kubectl(
            "create", "token", service_account, "-n", namespace, "--duration=2h"
        ).stdout.strip()
        return self._write_kubeconfig(self.workdir / f"{name}.kubeconfig", token, namespace)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, kubeconfig: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.bin / "kubectl"), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done

    def apply(self, *objects: dict[str, Any], dry_run: bool = False) -> subprocess.CompletedProcess[str]:
        args = ["apply", "--server-side", "--force-conflicts", "--field-manager=tests", "-f", "-"]
        if dry_run:
            args.append("--dry-run=server")
        return self.kubectl(*args, input=yaml.safe_dump_all(objects))

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def get_or_none(self, *args: str) -> Any:
        done = self.kubectl("get", *args, "-o", "json", check=False)
        if done.returncode != 0:
            if "NotFound" in done.stderr or "not found" in done.stderr:
                return None
            raise AssertionError(done.stderr)
        return json.loads(done.stdout)

    def can_i(self, user: str, verb: str, resource: str, namespace: str) -> bool:
        done = self.kubectl("auth", "can-i", verb, resource, "-n", namespace, f"--as={user}", check=False)
        return done.stdout.strip() == "yes"

    def kubeconfig_text(self) -> str:
        return self.kubeconfig.read_text()


def secret_data(values: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
