"""Fixtures for the auth_client tests: the contract stand-in server, a settable clock, real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from contract_server import SERVICE_TOKEN, ContractServer

from kinobill.auth_client import ActiveSubscriptionsClient


class FakeClock:
    """Wall-clock stand-in for cache freshness, so TTL expiry needs no sleeping."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def contract() -> Iterator[ContractServer]:
    server = ContractServer().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(
    contract: ContractServer, clock: FakeClock
) -> Iterator[Callable[..., ActiveSubscriptionsClient]]:
    clients: list[ActiveSubscriptionsClient] = []

    def make(**kwargs: Any) -> ActiveSubscriptionsClient:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("backoff", 0.01)
        base_url = kwargs.pop("base_url", contract.base_url)
        token = kwargs.pop("service_token", SERVICE_TOKEN)
        client = ActiveSubscriptionsClient(base_url, token, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def user_id() -> str:
    return str(uuid.uuid4())
