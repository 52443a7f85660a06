"""The kopf handlers called directly (kopf's decorators return the plain functions), with ``kopf.Patch()``,
against a real Postgres: validation of the spec, and timer runs that write charge commands to the outbox."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import kopf
import pytest
import sqlalchemy as sa

from kinobill.subscriptions.repository import SubscriptionsUnitOfWork
from kinobill_operator.handlers import Backend, register, run_schedule, validate
from operator_support import charge_commands_for, insert_due_subscription, utcnow

log = logging.getLogger("test.operator")


def memo_for(engine: sa.Engine, now: datetime) -> kopf.Memo:
    return kopf.Memo(backend=Backend(lambda: SubscriptionsUnitOfWork(engine), lambda: now))


def accepted(engine: sa.Engine, spec: dict, generation: int = 1) -> dict:
    """The status validate() leaves for this spec: the timer acts only once it is there."""
    patch = kopf.Patch()
    validate(
        spec=spec,
        meta={"generation": generation},
        status={},
        patch=patch,
        memo=memo_for(engine, utcnow()),
        logger=log,
    )
    return dict(patch["status"])


def conditions(patch: kopf.Patch) -> dict[str, dict]:
    return {c["type"]: c for c in patch["status"]["conditions"]}


def test_a_valid_spec_is_accepted_with_the_effective_policy(operator_engine: sa.Engine) -> None:
    patch = kopf.Patch()
    validate(
        spec={"interval": "30s", "renewalLead": "2d", "dunningSchedule": ["1d", "2d"], "suspended": False},
        meta={"generation": 3},
        status={},
        patch=patch,
        memo=memo_for(operator_engine, utcnow()),
        logger=log,
    )
    assert patch["status"]["policy"] == {
        "renewalLead": "2d",
        "reminderDays": 3,
        "dunningSchedule": ["1d", "2d"],
        "gracePeriod": "3d",
        "batchSize": 500,
        "interval": "30s",
    }
    valid = conditions(patch)["Valid"]
    assert (valid["status"], valid["reason"], valid["observedGeneration"]) == ("True", "SpecAccepted", 3)
    assert conditions(patch)["Suspended"]["status"] == "False"
    assert patch["status"]["observedGeneration"] == 3


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"dunningSchedule": ["3d", "1d"]}, "strictly increasing"),
        ({"interval": "0s"}, "interval must be positive"),
        ({"batchSize": 0}, "batch_size must be between 1"),
        ({"leadDays": 1}, "Unknown renewal policy field 'leadDays'"),
    ],
)
def test_a_bad_spec_is_a_permanent_error_and_a_false_valid_condition(
    operator_engine: sa.Engine, spec: dict, words: str
) -> None:
    patch = kopf.Patch()
    with pytest.raises(kopf.PermanentError, match="invalid RenewalSchedule spec") as raised:
        validate(
            spec=spec,
            meta={"generation": 1},
            status={},
            patch=patch,
            memo=memo_for(operator_engine, utcnow()),
            logger=log,
        )
    assert words in str(raised.value)
    valid = conditions(patch)["Valid"]
    assert (valid["status"], valid["reason"]) == ("False", "InvalidSpec")
    assert words in valid["message"]


def test_the_transition_time_moves_only_when_the_status_changes(operator_engine: sa.Engine) -> None:
    t0 = utcnow()
    first = kopf.Patch()
    validate(
        spec={},
        meta={"generation": 1},
        status={},
        patch=first,
        memo=memo_for(operator_engine, t0),
        logger=log,
    )
    again = kopf.Patch()
    later = t0 + timedelta(hours=1)
    validate(
        spec={},
        meta={"generation": 2},
        status=first["status"],
        patch=again,
        memo=memo_for(operator_engine, later),
        logger=log,
    )
    assert (
        conditions(again)["Valid"]["lastTransitionTime"] == conditions(first)["Valid"]["lastTransitionTime"]
    )
    broken = kopf.Patch()
    with pytest.raises(kopf.PermanentError):
        validate(
            spec={"batchSize": 0},
            meta={"generation": 3},
            status=again["status"],
            patch=broken,
            memo=memo_for(operator_engine, later),
            logger=log,
        )
    assert (
        conditions(broken)["Valid"]["lastTransitionTime"] != conditions(first)["Valid"]["lastTransitionTime"]
    )


def test_a_timer_run_writes_the_due_charge_command_to_the_outbox_and_reports_it(
    operator_engine: sa.Engine,
) -> None:
    now = utcnow()
    sub_id = insert_due_subscription(operator_engine, now)
    spec = {"interval": "60s"}
    # Before validate() has accepted the spec the timer does nothing.
    early = kopf.Patch()
    run_schedule(
        spec=spec,
        meta={"generation": 1},
        status={},
        patch=early,
        memo=memo_for(operator_engine, now),
        logger=log,
    )
    assert not early and charge_commands_for(operator_engine, sub_id) == []
    patch = kopf.Patch()
    run_schedule(
        spec=spec,
        meta={"generation": 1},
        status=accepted(operator_engine, spec),
        patch=patch,
        memo=memo_for(operator_engine, now),
        logger=log,
    )

    commands = charge_commands_for(operator_engine, sub_id)
    assert len(commands) == 1, commands
    assert commands[0]["type"] == "charge.renewal"
    assert commands[0]["charge_key"] == f"renewal:{sub_id}:1:0"
    assert commands[0]["amount"] == 29900
    status = {**accepted(operator_engine, spec), **patch["status"]}
    assert status["lastResult"]["chargesRequested"] >= 1
    assert status["lastRunAt"].endswith("Z")
    assert conditions(patch)["Ready"]["status"] == "True"
    assert conditions(patch)["Valid"]["status"] == "True", "the timer keeps validate()'s conditions"

    # Within spec.interval of lastRunAt the timer does nothing (no pass, no patch).
    soon = kopf.Patch()
    run_schedule(
        spec=spec,
        meta={"generation": 1},
        status=status,
        patch=soon,
        memo=memo_for(operator_engine, now + timedelta(seconds=30)),
        logger=log,
    )
    assert not soon
    # After the interval a pass runs again; the requested charge is not requested twice (recheck window).
    later = kopf.Patch()
    run_schedule(
        spec=spec,
        meta={"generation": 1},
        status=status,
        patch=later,
        memo=memo_for(operator_engine, now + timedelta(seconds=61)),
        logger=log,
    )
    assert later["status"]["lastRunAt"] != status["lastRunAt"]
    assert len(charge_commands_for(operator_engine, sub_id)) == 1


def test_a_suspended_or_invalid_schedule_runs_no_pass(operator_engine: sa.Engine) -> None:
    now = utcnow()
    sub_id = insert_due_subscription(operator_engine, now)
    for spec in ({"suspended": True}, {"dunningSchedule": ["2d", "2d"]}):
        patch = kopf.Patch()
        status = accepted(operator_engine, {})  # accepted earlier; now suspended, or edited to a bad spec
        run_schedule(
            spec=spec,
            meta={"generation": 1},
            status=status,
            patch=patch,
            memo=memo_for(operator_engine, now),
            logger=log,
        )
        assert not patch
    assert charge_commands_for(operator_engine, sub_id) == []
    # Resumed: the next tick charges it.
    patch = kopf.Patch()
    run_schedule(
        spec={},
        meta={"generation": 2},
        status=accepted(operator_engine, {}, generation=2),
        patch=patch,
        memo=memo_for(operator_engine, now),
        logger=log,
    )
    assert len(charge_commands_for(operator_engine, sub_id)) == 1


def test_a_failing_pass_is_retried_and_reported(operator_engine: sa.Engine) -> None:
    def broken_uow() -> SubscriptionsUnitOfWork:
        raise sa.exc.OperationalError("select 1", {}, Exception("database is down"))

    patch = kopf.Patch()
    memo = kopf.Memo(backend=Backend(broken_uow, utcnow))
    with pytest.raises(kopf.TemporaryError, match="renewal pass failed"):
        run_schedule(
            spec={},
            meta={"generation": 1},
            status=accepted(operator_engine, {}),
            patch=patch,
            memo=memo,
            logger=log,
        )
    ready = conditions(patch)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "PassFailed")
    assert "database is down" in ready["message"]


def test_register_attaches_validation_and_the_timer() -> None:
    registry = register(kopf.OperatorRegistry(), tick=2.5)
    handlers = registry._spawning.get_all_handlers()
    assert [(h.id, h.interval) for h in handlers] == [("schedule", 2.5)]
    assert not any(h.requires_finalizer for h in handlers), "deleting a schedule never waits for the operator"
    changing = {h.id for h in registry._changing.get_all_handlers()}
    assert changing == {"validate"}


def test_python_m_kinobill_operator_runs_kopf_standalone_or_with_peering() -> None:
    from kinobill_operator.__main__ import kopf_args

    args = kopf_args({"KINOBILL_OPERATOR_NAMESPACES": "kinobill, auth"}, ["--verbose"])
    assert args[:3] == ["run", "-m", "kinobill_operator.main"]
    assert args.count("--namespace") == 2 and "--standalone" in args and "--all-namespaces" not in args
    assert args[-1] == "--verbose" and "http://0.0.0.0:8080/healthz" in args
    peered = kopf_args({"KINOBILL_OPERATOR_PEERING": "kinobill"}, [])
    assert "--peering=kinobill" in peered and "--standalone" not in peered and "--all-namespaces" in peered


def test_startup_posts_warnings_as_events_and_quietens_the_per_tick_log() -> None:
    from kinobill_operator.handlers import QuietTimerSuccess, configure

    settings = kopf.OperatorSettings()
    configure(settings=settings, memo=kopf.Memo(backend=Backend(lambda: None, utcnow)))  # type: ignore[arg-type]
    assert settings.posting.loggers and settings.posting.level == logging.WARNING
    assert settings.peering.priority > 0
    tick = logging.LogRecord("kopf.objects", logging.INFO, "", 0, "Timer 'schedule' succeeded.", (), None)
    other = logging.LogRecord("kopf.objects", logging.INFO, "", 0, "Handler 'validate' succeeded.", (), None)
    quiet = QuietTimerSuccess()
    assert quiet.filter(other) and other.levelno == logging.INFO
    quiet.filter(tick)
    assert tick.levelno == logging.DEBUG
