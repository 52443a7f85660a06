"""Both OpenAPI documents match the services' behaviour: schemathesis with every check (`--checks all`)
against the live Subscriptions and Billing, each request with the token its operation asks for
(`x-callers`, see schemathesis_hooks.py). Bounded (MAX_EXAMPLES per operation, one worker) and
deterministic (the same cases every run). Zero server errors, zero conformance failures.

The run has a stack of its own (database, Redis, sandbox): it creates plans, payments and refund requests
with generated values, which the session's workers and other tests must not see."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance import FIGURES, MAX_EXAMPLES, Served, run_schemathesis

from kinobill.embedded import EmbeddedRedis
from support import Stack, private_database

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def conformance_stack(
    service_env: dict[str, str], infra_dir: Path, migrated_database: str
) -> Iterator[Stack]:
    log_dir = infra_dir / "conformance"
    log_dir.mkdir(exist_ok=True)
    redis = EmbeddedRedis(log_dir / "redis")
    redis_url = redis.start()
    try:
        with private_database(migrated_database, "kb_conformance") as database_url:
            stack = Stack({**service_env, "DATABASE_URL": database_url, "REDIS_URL": redis_url}, log_dir)
            try:
                for name in ("billing", "subscriptions"):
                    stack.start(name)
                yield stack
            finally:
                stack.stop_all()
    finally:
        redis.stop()


@pytest.mark.parametrize("service", ["subscriptions", "billing"])
def test_the_openapi_document_matches_what_the_service_answers(
    conformance_stack: Stack, tokens, tmp_path: Path, service: str
) -> None:
    base_url = (
        conformance_stack.subscriptions_url if service == "subscriptions" else conformance_stack.billing_url
    )
    user = uuid.uuid4()
    identities = {name: tokens.service(name) for name in ("admin", "subscriptions", "billing", "auth")}
    identities["user"] = tokens.user(user, f"{user.hex[:12]}@example.com")

    before = Served.read(base_url)
    report = run_schemathesis(base_url, identities, tmp_path)
    served = Served.read(base_url) - before

    operations, cases = report["operations"], report["test_cases"]
    failures = sum(failure["count"] for failure in report["failures"])
    FIGURES[service] = (
        f"{operations['tested']}/{operations['total']} operations, {cases['generated']} test cases "
        f"({MAX_EXAMPLES} examples per operation and phase), {served.requests} requests served, "
        f"{served.server_errors} server errors, {failures} conformance failures, "
        f"{report['running_time']:.0f} s"
    )
    print(f"\n{service}: {FIGURES[service]}", flush=True)
    summary = report["output"][report["output"].find("= FAILURES") :][:6000]
    assert served.server_errors == 0, summary
    assert report["failures"] == [] and report["errors"] == [], summary
    assert operations["tested"] == operations["total"] > 0, operations
    assert served.requests >= cases["generated"] > 0, (served, cases)
