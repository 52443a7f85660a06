"""kopf itself, in-process, against kmock (an in-memory Kubernetes API): a created RenewalSchedule gets
its status written by the real handlers and a real scheduler pass; a bad spec gets a failure condition.

kmock does no schema validation: the bad spec here (a decreasing dunning schedule) passes the CRD's
openAPIV3Schema anyway; only RenewalPolicy.from_mapping rejects it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import kmock
import kopf
import pytest
import sqlalchemy as sa

from kinobill.subscriptions.repository import SubscriptionsUnitOfWork
from kinobill_operator import GROUP, KIND, PLURAL, VERSION
from kinobill_operator.handlers import Backend, register
from operator_support import charge_commands_for, insert_due_subscription, utcnow

RESOURCE = f"{GROUP}/{VERSION}/{PLURAL}"
NAMESPACE = "kinobill"


async def eventually(
    condition: Callable[[], Any], timeout: float, message: str, seen: Callable[[], Any] = lambda: None
) -> Any:
    """Poll `condition` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}; seen: {seen()!r}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_operator(server: kmock.KubernetesEmulator, engine: sa.Engine) -> AsyncIterator[None]:
    server.resources.load_bundled()
    server.resources[RESOURCE] = {
        "kind": KIND,
        "singular": "renewalschedule",
        "namespaced": True,
        "verbs": {"list", "watch", "get", "patch", "create", "update", "delete"},
        "shortnames": set(),
        "categories": set(),
        "subresources": set(),
    }
    registry = register(kopf.OperatorRegistry(), tick=0.2)

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=str(server.url).rstrip("/"))

    settings = kopf.OperatorSettings()
    settings.watching.server_timeout = 10
    settings.posting.enabled = False
    settings.execution.max_workers = 4
    stop = asyncio.Event()
    memo = kopf.Memo(backend=Backend(lambda: SubscriptionsUnitOfWork(engine), utcnow))
    task = asyncio.create_task(
        kopf.operator(
            registry=registry, settings=settings, clusterwide=True, standalone=True, stop_flag=stop, memo=memo
        )
    )
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


async def create(server: kmock.KubernetesEmulator, name: str, spec: dict[str, Any]) -> None:
    # A real API server assigns resourceVersion and generation; kmock keeps what it is given, and kopf's
    # JSON patches (the finalizer it puts on objects with timers) `test` metadata.resourceVersion.
    metadata = {"name": name, "namespace": NAMESPACE, "resourceVersion": "1", "generation": 1}
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": metadata, "spec": spec}
    async with aiohttp.ClientSession() as session:
        url = f"{str(server.url).rstrip('/')}/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}"
        async with session.post(url, json=body) as response:
            assert response.status in (200, 201), await response.text()


def status_of(server: kmock.KubernetesEmulator, name: str) -> dict[str, Any]:
    try:
        stored = server.objects[RESOURCE, NAMESPACE, name]
    except KeyError:
        return {}
    return dict(stored.raw.get("status") or {})


def condition(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_a_created_schedule_gets_status_from_a_real_pass(
    kmock: kmock.KubernetesEmulator, operator_engine: sa.Engine
) -> None:
    sub_id = insert_due_subscription(operator_engine, utcnow())
    async with running_operator(kmock, operator_engine):
        await create(
            kmock, "default", {"interval": "1h", "renewalLead": "1d", "dunningSchedule": ["1d", "3d", "5d"]}
        )
        status = await eventually(
            lambda: (s := status_of(kmock, "default")).get("lastRunAt") and condition(s, "Valid") and s,
            timeout=30,
            message="lastRunAt and the Valid condition on the RenewalSchedule",
            seen=lambda: status_of(kmock, "default"),
        )
    assert condition(status, "Valid")["status"] == "True"
    assert condition(status, "Ready")["status"] == "True"
    assert status["lastResult"]["chargesRequested"] >= 1
    assert status["policy"]["interval"] == "1h"
    commands = charge_commands_for(operator_engine, sub_id)
    assert [c["charge_key"] for c in commands] == [f"renewal:{sub_id}:1:0"]


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_a_bad_spec_gets_a_failure_condition_and_no_pass(
    kmock: kmock.KubernetesEmulator, operator_engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kopf")
    async with running_operator(kmock, operator_engine):
        await create(kmock, "broken", {"dunningSchedule": ["5d", "1d"]})
        status = await eventually(
            lambda: (s := status_of(kmock, "broken")) and condition(s, "Valid") and s,
            timeout=30,
            message="the Valid condition on the broken RenewalSchedule",
            seen=lambda: status_of(kmock, "broken"),
        )
        valid = condition(status, "Valid")
        assert (valid["status"], valid["reason"]) == ("False", "InvalidSpec")
        assert "strictly increasing" in valid["message"]
        # kopf itself treated it as a permanent failure (no retries of the handler).
        assert any(
            "validate" in r.getMessage() and "failed permanently" in r.getMessage() for r in caplog.records
        ), [r.getMessage() for r in caplog.records if r.name.startswith("kopf")]
    assert "lastRunAt" not in status_of(kmock, "broken")
