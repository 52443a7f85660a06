"""The process-wide resources every adapter needs: settings, database engine, Redis, clock."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

import redis
import sqlalchemy as sa

from kinobill.clock import Clock, SystemClock, TestClock
from kinobill.config import Settings, get_settings
from kinobill.db import engine_for
from kinobill.security import TokenVerifier, VerifiedTokenCache, service_verifier, user_verifier


@dataclass
class Runtime:
    settings: Settings

    @cached_property
    def engine(self) -> sa.Engine:
        if not self.settings.database_url:
            raise RuntimeError("DATABASE_URL is not set (kinobill run sets it for the local stack)")
        s = self.settings
        return engine_for(
            s.database_url,
            s.db_pool_size,
            s.db_max_overflow,
            s.db_pool_pre_ping,
            s.db_connection_policy,
            s.db_pool_timeout_seconds,
        )

    @cached_property
    def redis(self) -> redis.Redis:
        if not self.settings.redis_url:
            raise RuntimeError("REDIS_URL is not set (kinobill run sets it for the local stack)")
        return redis.Redis.from_url(self.settings.redis_url, socket_timeout=5, health_check_interval=30)

    @cached_property
    def clock(self) -> Clock:
        if self.settings.test_clock_enabled:
            return TestClock(self.redis)
        return SystemClock()

    @cached_property
    def user_tokens(self) -> TokenVerifier:
        return user_verifier(self.settings)

    @cached_property
    def service_tokens(self) -> VerifiedTokenCache:
        # Services present the same long-lived token on every call: verify it once, until its exp.
        return VerifiedTokenCache(service_verifier(self.settings))

    def crash_point(self, name: str) -> None:
        """Die here, without cleanup, when KINOBILL_CRASH_POINTS names this point (crash tests only)."""
        if self.settings.crash_points and name in self.settings.crash_points.split(","):
            os._exit(97)


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(get_settings())
    return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime
