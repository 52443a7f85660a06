"""kopf handlers for ``RenewalSchedule``: validate the spec, run scheduler passes on a timer, report status.

Adapters only. The spec is read by :meth:`RenewalPolicy.from_mapping` (which owns every rule about it), a
pass is :meth:`RenewalScheduler.run_pass`; the handlers translate between a custom resource and those
calls, and write ``status`` back:

* ``status.conditions``: ``Valid`` (the spec is a policy), ``Ready`` (the last pass succeeded),
  ``Suspended``; each with ``reason``, ``message``, ``lastTransitionTime`` and ``observedGeneration``.
* ``status.policy``: the effective policy (defaults filled in), ``status.observedGeneration``.
* ``status.lastRunAt`` and ``status.lastResult`` (``reminded``, ``remindersSkipped``, ``chargesRequested``,
  ``ended``, ``batches``) after each pass.

kopf timers have one fixed interval per handler, so the timer ticks every ``tick`` seconds and a pass
runs when ``spec.interval`` has passed since ``status.lastRunAt`` (so the effective granularity is the
tick; the chart's default is 10 s against a default interval of 60 s).

The handlers reach the database through ``memo.backend`` (a :class:`Backend`): the startup handler builds
it from the process environment (``DATABASE_URL``; the shared test clock outside production), and tests
put their own in the memo.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf
from kopf._core.intents.handlers import TimerHandler

from kinobill.domain.errors import InvalidRenewalPolicy
from kinobill.domain.schedule import RenewalPolicy
from kinobill.subscriptions.renewals import PassResult, RenewalScheduler
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork
from kinobill_operator import GROUP, PLURAL, VERSION

# Spec fields that steer the operator itself; everything else is the policy.
OPERATOR_FIELDS = frozenset({"suspended"})
SCHEDULE_TIMER = "schedule"
# A replica that dies without a word (SIGKILL, node loss) is presumed dead after this long, and another
# replica takes over; a graceful stop hands over at once.
PEER_LIFETIME_SECONDS = int(os.environ.get("KINOBILL_OPERATOR_PEER_LIFETIME_SECONDS", "15"))


@dataclass(frozen=True)
class Backend:
    """What a pass needs: a unit of work over the Subscriptions schema and the time source."""

    uow: Callable[[], SubscriptionsUnitOfWork]
    now: Callable[[], datetime]


def backend_from_environment() -> Backend:
    from kinobill.runtime import get_runtime
    from kinobill.subscriptions.bootstrap import unit_of_work

    runtime = get_runtime()
    return Backend(unit_of_work(runtime), runtime.clock.now)


def policy_of(spec: Mapping[str, Any]) -> RenewalPolicy:
    """The spec as a policy; raises :class:`InvalidRenewalPolicy` with a message fit for a condition."""
    return RenewalPolicy.from_mapping({k: v for k, v in spec.items() if k not in OPERATOR_FIELDS})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def policy_status(policy: RenewalPolicy) -> dict[str, Any]:
    return {_camel(k): v for k, v in policy.to_mapping().items()}


def result_status(result: PassResult) -> dict[str, int]:
    return {_camel(k): v for k, v in result.as_dict().items()}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def set_condition(
    conditions: Any,
    type_: str,
    status: str,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> list[dict[str, Any]]:
    """A new conditions list with ``type_`` set; ``lastTransitionTime`` moves only when the status does."""
    current = [dict(c) for c in (conditions or [])]
    previous = next((c for c in current if c.get("type") == type_), None)
    condition = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message[:1024],
        "lastTransitionTime": (
            previous["lastTransitionTime"]
            if previous and previous.get("status") == status and previous.get("lastTransitionTime")
            else _iso(now)
        ),
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return [c for c in current if c.get("type") != type_] + [condition]


def _backend(memo: Any) -> Backend:
    backend = getattr(memo, "backend", None)
    if not isinstance(backend, Backend):
        raise kopf.TemporaryError("the operator's backend is not configured yet", delay=5)
    return backend


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- handlers ---------------------------------------------------------------------------------------


class QuietTimerSuccess(logging.Filter):
    """kopf logs "Timer 'schedule' succeeded." at INFO for every object on every tick: make it DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.getMessage() == f"Timer {SCHEDULE_TIMER!r} succeeded.":
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    """Startup: Events for problems, peering timings, the database backend (unless tests gave one)."""
    # Log records of WARNING and above on an object become Kubernetes Events on it (kopf posts only
    # explicit kopf.event() calls unless posting.loggers is on).
    settings.posting.loggers = True
    settings.posting.level = logging.WARNING
    settings.peering.lifetime = PEER_LIFETIME_SECONDS
    # Each replica its own priority: equal priorities would pause every replica (kopf's rule).
    settings.peering.priority = secrets.randbelow(2**31 - 1) + 1
    logging.getLogger("kopf.objects").addFilter(QuietTimerSuccess())
    if not isinstance(getattr(memo, "backend", None), Backend):
        memo.backend = backend_from_environment()


def validate(
    spec: Mapping[str, Any],
    meta: Mapping[str, Any],
    status: Mapping[str, Any],
    patch: kopf.Patch,
    memo: Any,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    **_: Any,
) -> None:
    """On create, update and operator restart: is the spec a renewal policy? Says so in ``Valid``."""
    now = _backend(memo).now()
    generation = meta.get("generation")
    conditions = status.get("conditions")
    patch.status["observedGeneration"] = generation
    try:
        policy = policy_of(spec)
    except InvalidRenewalPolicy as exc:
        patch.status["conditions"] = set_condition(
            conditions, "Valid", "False", "InvalidSpec", str(exc), now, generation
        )
        logger.warning("invalid RenewalSchedule spec: %s", exc)  # a Warning Event on the object
        raise kopf.PermanentError(f"invalid RenewalSchedule spec: {exc}") from exc
    conditions = set_condition(
        conditions, "Valid", "True", "SpecAccepted", "The spec is a valid policy.", now, generation
    )
    suspended = bool(spec.get("suspended", False))
    conditions = set_condition(
        conditions,
        "Suspended",
        "True" if suspended else "False",
        "SuspendedBySpec" if suspended else "Active",
        "spec.suspended is true: no passes run." if suspended else "Passes run every spec.interval.",
        now,
        generation,
    )
    patch.status["conditions"] = conditions
    patch.status["policy"] = policy_status(policy)


def run_schedule(
    spec: Mapping[str, Any],
    meta: Mapping[str, Any],
    status: Mapping[str, Any],
    patch: kopf.Patch,
    memo: Any,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    **_: Any,
) -> None:
    """Timer: one scheduler pass when ``spec.interval`` has passed since the last one; result in status.

    An invalid or suspended spec skips the pass (``validate`` reports why) but keeps the timer alive,
    so fixing the spec resumes the schedule without restarting the operator. The timer also waits until
    ``validate`` has accepted the current generation (``observedGeneration`` and ``Valid=True`` in status), so
    the two never write the conditions list at the same time from different views of it.
    """
    if spec.get("suspended", False):
        return
    generation = meta.get("generation")
    valid = next((c for c in status.get("conditions") or [] if c.get("type") == "Valid"), None)
    if status.get("observedGeneration") != generation or not valid or valid.get("status") != "True":
        return  # validate() has not accepted this generation yet (it owns Valid; this keeps them apart)
    try:
        policy = policy_of(spec)
    except InvalidRenewalPolicy:
        return
    backend = _backend(memo)
    now = backend.now()
    last = _parse_time(status.get("lastRunAt"))
    if last is not None and last <= now and now - last < policy.interval:
        return
    try:
        result = RenewalScheduler(backend.uow, backend.now, policy).run_pass()
    except Exception as exc:
        patch.status["conditions"] = set_condition(
            status.get("conditions"),
            "Ready",
            "False",
            "PassFailed",
            f"{type(exc).__name__}: {exc}",
            now,
            generation,
        )
        logger.exception("renewal pass failed")
        raise kopf.TemporaryError(f"renewal pass failed: {exc}", delay=30) from exc
    summary = result_status(result)
    patch.status["lastRunAt"] = _iso(now)
    patch.status["lastResult"] = summary
    patch.status["conditions"] = set_condition(
        status.get("conditions"),
        "Ready",
        "True",
        "PassSucceeded",
        "The last renewal pass succeeded.",
        now,
        generation,
    )
    if result.acted:
        logger.info("renewal pass: %s", summary)


def register(registry: kopf.OperatorRegistry, *, tick: float = 10.0) -> kopf.OperatorRegistry:
    """Attach the handlers to ``registry`` (kopf's default one in ``main``, a private one in tests)."""
    kopf.on.startup(registry=registry)(configure)
    for on in (kopf.on.create, kopf.on.update, kopf.on.resume):
        on(GROUP, VERSION, PLURAL, registry=registry, id="validate")(validate)
    kopf.timer(GROUP, VERSION, PLURAL, registry=registry, id=SCHEDULE_TIMER, interval=tick, sharp=False)(
        run_schedule
    )
    _timers_without_finalizer(registry)
    return registry


def _timers_without_finalizer(registry: kopf.OperatorRegistry) -> None:
    """kopf makes every timer require a finalizer, so a RenewalSchedule deleted while no operator runs
    (``helm uninstall`` after the operator's Deployment is gone) would stay Terminating forever. Nothing
    needs cleaning up when one goes away: the timer just stops. kopf removes the finalizer from objects
    that carry one from before once no handler requires it."""
    spawning = registry._spawning
    spawning._handlers = [
        dataclasses.replace(h, requires_finalizer=False) if isinstance(h, TimerHandler) else h
        for h in spawning._handlers
    ]
