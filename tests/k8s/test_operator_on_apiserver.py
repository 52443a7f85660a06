"""The operator as a real process (``python -m kinobill_operator``) against the real apiserver, authenticated
as the chart's operator ServiceAccount (a TokenRequest token: exactly the chart's RBAC), on a private
database: reconcile, a bad spec, suspend, deletion, two replicas electing one through kopf peering with the
handover after SIGTERM and after SIGKILL, and ``helm uninstall --wait`` with no operator left running.

The tests of this module run in order and share the installed release."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from control_plane import ControlPlane
from k8s_support import FULLNAME, NAMESPACE, OPERATOR_SA, RELEASE, condition, record_figure

from operator_support import charge_commands_for, insert_due_subscription, utcnow
from support import ServiceProcess, free_port, wait_until

PEERING = f"{FULLNAME}-operator"
PEER_LIFETIME = 15  # the chart's default operator.peerLifetimeSeconds


class Operators:
    """Operator processes under the chart's ServiceAccount, started and stopped by the tests."""

    def __init__(self, plane: ControlPlane, database_url: str, redis_url: str, log_dir: Path) -> None:
        self.plane, self.log_dir = plane, log_dir
        kubeconfig = plane.kubeconfig_for(NAMESPACE, OPERATOR_SA, "operator")
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "KINOBILL_ENV": "test",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "KINOBILL_OPERATOR_NAMESPACES": NAMESPACE,
            "KINOBILL_OPERATOR_PEERING": PEERING,
            "KINOBILL_OPERATOR_PEER_LIFETIME_SECONDS": str(PEER_LIFETIME),
            "KINOBILL_OPERATOR_TICK_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.running: dict[str, ServiceProcess] = {}

    def start(self, name: str) -> ServiceProcess:
        port = free_port()
        env = {**self.env, "POD_ID": name, "KINOBILL_OPERATOR_LIVENESS": f"http://127.0.0.1:{port}/healthz"}
        process = ServiceProcess(
            name,
            [sys.executable, "-m", "kinobill_operator"],
            env,
            self.log_dir,
            f"http://127.0.0.1:{port}/healthz",
        )
        self.running[name] = process.start(timeout=60)
        return process

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        self.running.pop(name).stop(sig)

    def signal(self, name: str, sig: int) -> ServiceProcess:
        """Send `sig` and return at once (the process may take its time to exit)."""
        process = self.running.pop(name)
        assert process.process is not None
        process.process.send_signal(sig)
        return process

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def operators(
    control_plane: ControlPlane, release: dict[str, Any], operator_database: str, redis_url: str
) -> Iterator[Operators]:
    operators = Operators(control_plane, operator_database, redis_url, control_plane.logs)
    try:
        yield operators
    finally:
        operators.stop_all()


@pytest.fixture(scope="module")
def engine(operator_database: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(operator_database)
    yield engine
    engine.dispose()


def schedule(plane: ControlPlane, name: str) -> Any:
    return plane.get_or_none("renewalschedule", name, "-n", NAMESPACE)


def create_schedule(plane: ControlPlane, name: str, spec: dict[str, Any]) -> None:
    body = {
        "apiVersion": "kinobill.io/v1",
        "kind": "RenewalSchedule",
        "metadata": {"name": name},
        "spec": spec,
    }
    plane.kubectl("create", "-n", NAMESPACE, "-f", "-", input=json.dumps(body))


def is_true(obj: Any, type_: str) -> bool:
    return (condition(obj, type_) or {}).get("status") == "True"


def test_the_operator_reconciles_under_the_charts_rbac(
    control_plane: ControlPlane, operators: Operators, engine: sa.Engine
) -> None:
    subscription = insert_due_subscription(engine, utcnow())
    operators.start("operator-a")
    installed = wait_until(
        lambda: (s := schedule(control_plane, "default")) and is_true(s, "Ready") and s,
        timeout=60,
        message="the chart's RenewalSchedule to be Ready",
    )
    assert is_true(installed, "Valid") and not is_true(installed, "Suspended")
    assert installed["status"]["lastResult"]["chargesRequested"] >= 1
    assert [c["charge_key"] for c in charge_commands_for(engine, subscription)] == [
        f"renewal:{subscription}:1:0"
    ]
    assert not installed["metadata"].get("finalizers"), "no finalizer: deletion never waits for the operator"

    created = time.monotonic()
    create_schedule(control_plane, "fresh", {"interval": "1h"})
    fresh = wait_until(
        lambda: (s := schedule(control_plane, "fresh")) and s["status"].get("lastRunAt") and s,
        timeout=60,
        message="the first pass of a new RenewalSchedule",
    )
    record_figure(
        "operator: first reconcile (Valid + pass) after CR creation", f"{time.monotonic() - created:.1f} s"
    )
    assert is_true(fresh, "Valid") and is_true(fresh, "Ready")
    assert fresh["status"]["policy"]["interval"] == "1h" and fresh["spec"]["suspended"] is False
    log = operators.log("operator-a")
    assert "Timer 'schedule' succeeded." not in log, "the per-tick success is not logged at INFO"
    assert "Handler 'validate' succeeded." in log


def test_a_bad_spec_is_reported_in_status_and_as_a_warning_event(
    control_plane: ControlPlane, operators: Operators
) -> None:
    create_schedule(control_plane, "broken", {"dunningSchedule": ["5d", "1d"]})
    broken = wait_until(
        lambda: (s := schedule(control_plane, "broken")) and condition(s, "Valid") and s,
        timeout=30,
        message="the Valid condition on the broken RenewalSchedule",
    )
    valid = condition(broken, "Valid")
    assert valid is not None and valid["status"] == "False" and valid["reason"] == "InvalidSpec"
    assert "lastRunAt" not in broken["status"]

    def warnings() -> list[dict[str, Any]]:
        events = control_plane.get_json(
            "events", "-n", NAMESPACE, "--field-selector", "involvedObject.name=broken,type=Warning"
        )["items"]
        return [e for e in events if "invalid RenewalSchedule spec" in e["message"]]

    (event,) = wait_until(warnings, timeout=30, message="a Warning Event on the broken RenewalSchedule")
    assert event["involvedObject"]["kind"] == "RenewalSchedule" and "strictly increasing" in event["message"]


def test_suspend_stops_passes_and_deletion_needs_no_operator_step(
    control_plane: ControlPlane, operators: Operators
) -> None:
    create_schedule(control_plane, "ticking", {"interval": "1s"})
    create_schedule(control_plane, "paused", {"interval": "1s", "suspended": True})
    paused = wait_until(
        lambda: (s := schedule(control_plane, "paused")) and is_true(s, "Suspended") and s,
        timeout=30,
        message="the Suspended condition",
    )
    # "ticking" runs a pass every second on the same operator: three of its passes without one of
    # "paused" show the suspension holds (no sleeping on a guess).
    seen: set[str] = set()

    def three_passes_of_ticking() -> bool:
        seen.add(schedule(control_plane, "ticking")["status"].get("lastRunAt") or "")
        return len(seen - {""}) >= 3

    wait_until(three_passes_of_ticking, timeout=30, message="three passes of the unsuspended schedule")
    assert "lastRunAt" not in schedule(control_plane, "paused")["status"], paused["status"]

    control_plane.kubectl(
        "patch",
        "renewalschedule",
        "paused",
        "-n",
        NAMESPACE,
        "--type=merge",
        "-p",
        '{"spec":{"suspended":false}}',
    )
    wait_until(
        lambda: schedule(control_plane, "paused")["status"].get("lastRunAt"),
        timeout=30,
        message="a pass after unsuspending",
    )
    for name in ("ticking", "paused", "fresh", "broken"):
        control_plane.kubectl(
            "delete", "renewalschedule", name, "-n", NAMESPACE, "--wait=true", "--timeout=20s"
        )
        assert schedule(control_plane, name) is None


def active_and_standby(plane: ControlPlane, operators: Operators) -> tuple[str, str]:
    """Once both running replicas are in the KopfPeering: the one with the higher priority works."""
    names = list(operators.running)
    assert len(names) == 2

    def both_registered() -> dict[str, Any] | None:
        peers = plane.get_json("kopfpeering", PEERING, "-n", NAMESPACE).get("status") or {}
        return peers if set(names) <= set(peers) else None

    peers = wait_until(both_registered, timeout=60, message=f"{names} in the KopfPeering")
    active, standby = sorted(names, key=lambda n: peers[n]["priority"], reverse=True)

    def standby_paused() -> bool:
        # kopf starts a peered operator paused (no log line); one that worked logs when it pauses.
        log = operators.log(standby)
        return log.rfind("Pausing operations in favour of") >= log.rfind(
            "Resuming operations after the pause"
        )

    wait_until(standby_paused, timeout=30, message=f"{standby} to pause in favour of {active}")
    return active, standby


def handover(plane: ControlPlane, operators: Operators, sig: int, label: str) -> float:
    """Stop the active replica with `sig`; seconds until the other one validates a schedule created then."""
    active, standby = active_and_standby(plane, operators)
    marker = f"after-{label}"
    stopped = time.monotonic()
    leaving = operators.signal(active, sig)
    create_schedule(plane, marker, {"interval": "1h"})
    wait_until(
        lambda: is_true(schedule(plane, marker), "Valid"),
        timeout=PEER_LIFETIME + 45,
        message=f"{standby} to take over after {label}",
    )
    took = time.monotonic() - stopped
    assert leaving.wait_exit(30) is not None
    assert marker in operators.log(standby) and "Resuming operations after the pause" in operators.log(
        standby
    )
    plane.kubectl("delete", "renewalschedule", marker, "-n", NAMESPACE)
    return took


def test_two_replicas_elect_one_and_hand_over(control_plane: ControlPlane, operators: Operators) -> None:
    operators.start("operator-b")
    active, standby = active_and_standby(control_plane, operators)

    # Only the active replica handles a new object.
    create_schedule(control_plane, "elected", {"interval": "1h"})
    wait_until(lambda: is_true(schedule(control_plane, "elected"), "Valid"), timeout=30, message="validation")
    assert "elected" in operators.log(active) and "elected" not in operators.log(standby)
    control_plane.kubectl("delete", "renewalschedule", "elected", "-n", NAMESPACE)

    after_term = handover(control_plane, operators, signal.SIGTERM, "sigterm")
    record_figure("operator peering handover after SIGTERM", f"{after_term:.1f} s")
    operators.start("operator-c")
    after_kill = handover(control_plane, operators, signal.SIGKILL, "sigkill")
    record_figure(
        f"operator peering handover after SIGKILL (peer lifetime {PEER_LIFETIME} s)", f"{after_kill:.1f} s"
    )
    assert after_term < 10
    assert after_kill < PEER_LIFETIME + 15


def test_helm_uninstall_wait_succeeds_with_the_operator_stopped(
    control_plane: ControlPlane, operators: Operators, helm_config: Any
) -> None:
    operators.stop_all()
    assert schedule(control_plane, "default") is not None
    helm_config.uninstall(RELEASE, wait="watcher", timeout=120)
    assert schedule(control_plane, "default") is None
    assert control_plane.get_json("deployments", "-n", NAMESPACE)["items"] == []
    assert control_plane.get_or_none("kopfpeering", PEERING, "-n", NAMESPACE) is None
