"""The renewal timeline as data: when to remind, when to charge, how long access lasts after a failure.

Rule (docs/design.md "Renewal"), all offsets relative to the end of the current period (``period_end``):

* the **first charge attempt** is at ``period_end - renewal_lead``;
* the **reminder** goes out ``reminder_days`` days before the first attempt (once per period);
* a failed charge is **retried** at ``period_end + d`` for each ``d`` in ``dunning_schedule``;
* **access** continues until ``period_end + grace_period`` while the charge is unresolved;
* when the last attempt fails (``is_exhausted``) the subscription ends with ``payment_failed``.

With the default policy, a subscription whose period ends 2026-02-28 12:00 UTC plays out as::

    2026-02-24 12:00  reminder        (first attempt - 3 days)
    2026-02-27 12:00  attempt 1       (period_end - 1 day)
    2026-02-28 12:00  period ends     (a successful renewal starts the next period exactly here)
    2026-03-01 12:00  attempt 2       (period_end + 1 day)
    2026-03-03 12:00  attempt 3       (period_end + 3 days)  — also the end of the grace period:
                                      access_until = period_end + 3 days
    2026-03-05 12:00  attempt 4       (period_end + 5 days)  — the last one; if it fails, the
                                      subscription ends with payment_failed at this moment

So with the defaults the grace period (3 d) is shorter than the dunning schedule (5 d): from 3 Mar to
5 Mar the subscription is still being retried but gives no access. A late success still renews from
2026-02-28 (anchor-preserving), it does not shift the anchor.

``RenewalPolicy`` is what a ``RenewalSchedule`` custom resource (or local config) describes:
:meth:`RenewalPolicy.from_mapping` accepts snake_case or camelCase keys and durations as ``"1d"``,
``"36h"``, ``"90m"``, ``"30s"``, compounds like ``"1d12h"``, ``timedelta`` or an int of seconds;
:meth:`RenewalPolicy.to_mapping` writes the canonical form back (it round-trips).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kinobill.domain.errors import InvalidRenewalPolicy
from kinobill.domain.periods import require_aware

MAX_BATCH_SIZE = 10_000
_DAY = timedelta(days=1)
_DURATION_RE = re.compile(r"(?:[0-9]+[dhms])+")
_DURATION_PART_RE = re.compile(r"([0-9]+)([dhms])")
_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}

_ALIASES = {
    "renewal_lead": "renewal_lead",
    "renewalLead": "renewal_lead",
    "reminder_days": "reminder_days",
    "reminderDays": "reminder_days",
    "dunning_schedule": "dunning_schedule",
    "dunningSchedule": "dunning_schedule",
    "grace_period": "grace_period",
    "gracePeriod": "grace_period",
    "batch_size": "batch_size",
    "batchSize": "batch_size",
    "interval": "interval",
}


def parse_duration(value: object, name: str = "duration") -> timedelta:
    """``"1d"``, ``"36h"``, ``"90m"``, ``"30s"``, ``"1d12h"``, ``"60"`` (seconds), int seconds, ``timedelta``.

    Negative values and floats are rejected with :class:`InvalidRenewalPolicy`.
    """
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, bool | float):
        raise InvalidRenewalPolicy(f"{name} must be a duration like '1d' or whole seconds, got {value!r}.")
    elif isinstance(value, int):
        result = timedelta(seconds=value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            result = timedelta(seconds=int(text))
        elif len(text) <= 32 and _DURATION_RE.fullmatch(text):
            seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART_RE.findall(text))
            result = timedelta(seconds=seconds)
        else:
            raise InvalidRenewalPolicy(
                f"{name} must be a duration like '1d', '36h', '90m' or '30s', got {value!r}."
            )
    else:
        raise InvalidRenewalPolicy(f"{name} must be a duration, not {type(value).__name__}.")
    if result < timedelta(0):
        raise InvalidRenewalPolicy(f"{name} must not be negative, got {value!r}.")
    return result


def format_duration(value: timedelta) -> str:
    """The canonical string for a duration: the largest unit that divides it (``"36h"``, ``"1d"``)."""
    seconds = value // timedelta(seconds=1)
    if value != timedelta(seconds=seconds):
        raise ValueError(f"durations are whole seconds, got {value!r}")
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _parse_int(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidRenewalPolicy(f"{name} must be an integer, got {value!r}.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise InvalidRenewalPolicy(f"{name} must be an integer, got {value!r}.")


def _parse_days(value: object, name: str) -> int:
    if isinstance(value, str) and value.strip().lower().endswith("d"):
        return _parse_int(value.strip()[:-1], name)
    return _parse_int(value, name)


@dataclass(frozen=True)
class RenewalPolicy:
    """When renewals, reminders and retries happen; validated on construction."""

    renewal_lead: timedelta = timedelta(days=1)
    reminder_days: int = 3
    dunning_schedule: tuple[timedelta, ...] = field(
        default=(timedelta(days=1), timedelta(days=3), timedelta(days=5))
    )
    grace_period: timedelta = timedelta(days=3)
    batch_size: int = 500
    interval: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        for name in ("renewal_lead", "grace_period", "interval"):
            value = getattr(self, name)
            if not isinstance(value, timedelta):
                raise InvalidRenewalPolicy(f"{name} must be a timedelta, not {type(value).__name__}.")
            if value < timedelta(0):
                raise InvalidRenewalPolicy(f"{name} must not be negative.")
        if self.interval <= timedelta(0):
            raise InvalidRenewalPolicy("interval must be positive.")
        if isinstance(self.reminder_days, bool) or not isinstance(self.reminder_days, int):
            raise InvalidRenewalPolicy("reminder_days must be an integer.")
        if self.reminder_days < 0:
            raise InvalidRenewalPolicy("reminder_days must not be negative.")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise InvalidRenewalPolicy("batch_size must be an integer.")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise InvalidRenewalPolicy(f"batch_size must be between 1 and {MAX_BATCH_SIZE}.")
        if not isinstance(self.dunning_schedule, tuple):
            object.__setattr__(self, "dunning_schedule", tuple(self.dunning_schedule))
        previous = timedelta(0)
        for step in self.dunning_schedule:
            if not isinstance(step, timedelta):
                raise InvalidRenewalPolicy("dunning_schedule must hold timedeltas.")
            if step <= previous:
                raise InvalidRenewalPolicy(
                    "dunning_schedule must be positive and strictly increasing (e.g. 1d, 3d, 5d)."
                )
            previous = step

    @property
    def max_attempts(self) -> int:
        """The first attempt plus one per dunning step."""
        return 1 + len(self.dunning_schedule)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RenewalPolicy:
        """Build a policy from config / a custom resource spec; missing keys take the defaults."""
        if not isinstance(data, Mapping):
            raise InvalidRenewalPolicy(f"A renewal policy must be a mapping, not {type(data).__name__}.")
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = _ALIASES.get(key)
            if name is None:
                raise InvalidRenewalPolicy(f"Unknown renewal policy field {key!r}.")
            if name in values:
                raise InvalidRenewalPolicy(f"Renewal policy field {name!r} is given twice.")
            values[name] = value
        kwargs: dict[str, Any] = {}
        for name in ("renewal_lead", "grace_period", "interval"):
            if name in values:
                kwargs[name] = parse_duration(values[name], name)
        if "reminder_days" in values:
            kwargs["reminder_days"] = _parse_days(values["reminder_days"], "reminder_days")
        if "batch_size" in values:
            kwargs["batch_size"] = _parse_int(values["batch_size"], "batch_size")
        if "dunning_schedule" in values:
            steps = values["dunning_schedule"]
            if isinstance(steps, str | bytes) or not isinstance(steps, Iterable):
                raise InvalidRenewalPolicy("dunning_schedule must be a list of durations.")
            kwargs["dunning_schedule"] = tuple(
                parse_duration(step, f"dunning_schedule[{i}]") for i, step in enumerate(steps)
            )
        return cls(**kwargs)

    def to_mapping(self) -> dict[str, Any]:
        """Canonical snake_case mapping (durations as strings); ``from_mapping`` reads it back."""
        return {
            "renewal_lead": format_duration(self.renewal_lead),
            "reminder_days": self.reminder_days,
            "dunning_schedule": [format_duration(step) for step in self.dunning_schedule],
            "grace_period": format_duration(self.grace_period),
            "batch_size": self.batch_size,
            "interval": format_duration(self.interval),
        }


DEFAULT_POLICY = RenewalPolicy()


def first_attempt_at(period_end: datetime, policy: RenewalPolicy = DEFAULT_POLICY) -> datetime:
    """The first charge attempt: ``period_end - renewal_lead``. Also when a sub becomes "due"."""
    return require_aware(period_end, "period_end") - policy.renewal_lead


def reminder_at(period_end: datetime, policy: RenewalPolicy = DEFAULT_POLICY) -> datetime:
    """When the renewal reminder goes out: ``reminder_days`` days before the first attempt."""
    return first_attempt_at(period_end, policy) - policy.reminder_days * _DAY


def attempt_times(period_end: datetime, policy: RenewalPolicy = DEFAULT_POLICY) -> list[datetime]:
    """All charge attempts in order: the first one, then ``period_end + d`` for each dunning step."""
    return [first_attempt_at(period_end, policy)] + [period_end + step for step in policy.dunning_schedule]


def next_attempt_at(
    period_end: datetime, failed_attempts: int, policy: RenewalPolicy = DEFAULT_POLICY
) -> datetime | None:
    """When to try next after ``failed_attempts`` failures (0 → the first attempt); None when exhausted."""
    if isinstance(failed_attempts, bool) or not isinstance(failed_attempts, int) or failed_attempts < 0:
        raise ValueError(f"failed_attempts must be a non-negative int, got {failed_attempts!r}")
    times = attempt_times(period_end, policy)
    return times[failed_attempts] if failed_attempts < len(times) else None


def is_exhausted(failed_attempts: int, policy: RenewalPolicy = DEFAULT_POLICY) -> bool:
    """True once every attempt has failed: the subscription ends with ``payment_failed``."""
    if isinstance(failed_attempts, bool) or not isinstance(failed_attempts, int) or failed_attempts < 0:
        raise ValueError(f"failed_attempts must be a non-negative int, got {failed_attempts!r}")
    return failed_attempts >= policy.max_attempts


def final_attempt_at(period_end: datetime, policy: RenewalPolicy = DEFAULT_POLICY) -> datetime:
    """The last attempt; if it fails the subscription ends (``payment_failed``) at this moment."""
    return attempt_times(period_end, policy)[-1]


def access_until(period_end: datetime, policy: RenewalPolicy = DEFAULT_POLICY) -> datetime:
    """Access lasts until ``period_end + grace_period`` while the renewal charge is unresolved."""
    return require_aware(period_end, "period_end") + policy.grace_period


__all__ = [
    "DEFAULT_POLICY",
    "MAX_BATCH_SIZE",
    "RenewalPolicy",
    "access_until",
    "attempt_times",
    "final_attempt_at",
    "first_attempt_at",
    "format_duration",
    "is_exhausted",
    "next_attempt_at",
    "parse_duration",
    "reminder_at",
]
