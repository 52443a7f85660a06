"""Renewal schedule: the default timeline, custom policies, and from_mapping parsing/validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kinobill.domain.errors import DomainError, InvalidRenewalPolicy
from kinobill.domain.schedule import (
    DEFAULT_POLICY,
    RenewalPolicy,
    access_until,
    attempt_times,
    final_attempt_at,
    first_attempt_at,
    format_duration,
    is_exhausted,
    next_attempt_at,
    parse_duration,
    reminder_at,
)

END = datetime(2026, 2, 28, 12, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_default_policy_values() -> None:
    assert RenewalPolicy() == DEFAULT_POLICY
    assert DEFAULT_POLICY.renewal_lead == timedelta(days=1)
    assert DEFAULT_POLICY.reminder_days == 3
    assert DEFAULT_POLICY.dunning_schedule == (timedelta(days=1), timedelta(days=3), timedelta(days=5))
    assert DEFAULT_POLICY.grace_period == timedelta(days=3)
    assert DEFAULT_POLICY.batch_size == 500
    assert DEFAULT_POLICY.interval == timedelta(seconds=60)
    assert DEFAULT_POLICY.max_attempts == 4


def test_default_timeline_for_period_ending_2026_02_28() -> None:
    """The timeline documented in the schedule module's docstring."""
    assert reminder_at(END) == at("2026-02-24T12:00")
    assert first_attempt_at(END) == at("2026-02-27T12:00")
    assert attempt_times(END) == [at("2026-02-27T12:00"), at("2026-03-01T12:00"), at("2026-03-03T12:00"),
                                  at("2026-03-05T12:00")]  # fmt: skip
    assert access_until(END) == at("2026-03-03T12:00")
    assert final_attempt_at(END) == at("2026-03-05T12:00")


@pytest.mark.parametrize(
    ("failed", "expected", "exhausted"),
    [
        pytest.param(0, "2026-02-27T12:00", False, id="none-failed-first-attempt"),
        pytest.param(1, "2026-03-01T12:00", False, id="one-failed-plus-1d"),
        pytest.param(2, "2026-03-03T12:00", False, id="two-failed-plus-3d"),
        pytest.param(3, "2026-03-05T12:00", False, id="three-failed-plus-5d-last"),
        pytest.param(4, None, True, id="four-failed-exhausted"),
        pytest.param(10, None, True, id="beyond-exhausted"),
    ],
)
def test_next_attempt_and_exhaustion(failed: int, expected: str | None, exhausted: bool) -> None:
    assert next_attempt_at(END, failed) == (at(expected) if expected else None)
    assert is_exhausted(failed) is exhausted


@pytest.mark.parametrize("bad", [pytest.param(-1, id="negative"), pytest.param(True, id="bool")])
def test_failed_attempts_must_be_non_negative_int(bad: int) -> None:
    with pytest.raises(ValueError):
        next_attempt_at(END, bad)
    with pytest.raises(ValueError):
        is_exhausted(bad)


def test_custom_policy_timeline() -> None:
    policy = RenewalPolicy(renewal_lead=timedelta(hours=36), reminder_days=0, dunning_schedule=(),
                           grace_period=timedelta(0))  # fmt: skip
    assert first_attempt_at(END, policy) == at("2026-02-27T00:00")
    assert reminder_at(END, policy) == first_attempt_at(END, policy)
    assert attempt_times(END, policy) == [at("2026-02-27T00:00")]
    assert next_attempt_at(END, 1, policy) is None
    assert is_exhausted(1, policy)
    assert access_until(END, policy) == END


def test_naive_period_end_rejected() -> None:
    with pytest.raises(ValueError):
        first_attempt_at(datetime(2026, 2, 28))
    with pytest.raises(ValueError):
        access_until(datetime(2026, 2, 28))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1d", timedelta(days=1), id="days"),
        pytest.param("36h", timedelta(hours=36), id="hours"),
        pytest.param("90m", timedelta(minutes=90), id="minutes"),
        pytest.param("30s", timedelta(seconds=30), id="seconds"),
        pytest.param("1d12h", timedelta(days=1, hours=12), id="compound"),
        pytest.param(" 2D ", timedelta(days=2), id="case-and-space-insensitive"),
        pytest.param("0s", timedelta(0), id="zero"),
        pytest.param("60", timedelta(seconds=60), id="digit-string-is-seconds"),
        pytest.param(3600, timedelta(hours=1), id="int-seconds"),
        pytest.param(0, timedelta(0), id="int-zero"),
        pytest.param(timedelta(minutes=5), timedelta(minutes=5), id="timedelta"),
    ],
)
def test_parse_duration(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("1w", id="unknown-unit"),
        pytest.param("d", id="unit-only"),
        pytest.param("1.5h", id="fraction"),
        pytest.param("-1d", id="negative-string"),
        pytest.param(-1, id="negative-int"),
        pytest.param(1.5, id="float"),
        pytest.param(True, id="bool"),
        pytest.param(None, id="none"),
        pytest.param(timedelta(seconds=-1), id="negative-timedelta"),
        pytest.param("1d 2h", id="inner-space"),
    ],
)
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(InvalidRenewalPolicy):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(timedelta(days=1), "1d", id="day"),
        pytest.param(timedelta(hours=36), "36h", id="hours"),
        pytest.param(timedelta(minutes=90), "90m", id="minutes"),
        pytest.param(timedelta(seconds=60), "1m", id="minute"),
        pytest.param(timedelta(seconds=61), "61s", id="seconds"),
        pytest.param(timedelta(0), "0s", id="zero"),
    ],
)
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        pytest.param({}, RenewalPolicy(), id="empty-means-defaults"),
        pytest.param(
            {"renewal_lead": "36h", "reminder_days": 2, "dunning_schedule": ["1d", "2d"],
             "grace_period": "90m", "batch_size": 100, "interval": "30s"},
            RenewalPolicy(timedelta(hours=36), 2, (timedelta(days=1), timedelta(days=2)),
                          timedelta(minutes=90), 100, timedelta(seconds=30)),
            id="snake-case-all-fields",
        ),
        pytest.param(
            {"renewalLead": 7200, "reminderDays": "5d", "dunningSchedule": [86400, "2d"], "gracePeriod": "0s",
             "batchSize": "10000", "interval": 1},
            RenewalPolicy(timedelta(hours=2), 5, (timedelta(days=1), timedelta(days=2)), timedelta(0),
                          10000, timedelta(seconds=1)),
            id="camel-case-crd-style-ints-and-strings",
        ),
        pytest.param({"dunning_schedule": []}, RenewalPolicy(dunning_schedule=()), id="no-dunning"),
        pytest.param({"batch_size": 1}, RenewalPolicy(batch_size=1), id="batch-size-min"),
        pytest.param({"reminder_days": 0}, RenewalPolicy(reminder_days=0), id="reminder-days-zero"),
    ],
)  # fmt: skip
def test_from_mapping(mapping: dict[str, object], expected: RenewalPolicy) -> None:
    policy = RenewalPolicy.from_mapping(mapping)
    assert policy == expected
    assert RenewalPolicy.from_mapping(policy.to_mapping()) == policy


def test_to_mapping_default() -> None:
    assert RenewalPolicy().to_mapping() == {
        "renewal_lead": "1d",
        "reminder_days": 3,
        "dunning_schedule": ["1d", "3d", "5d"],
        "grace_period": "3d",
        "batch_size": 500,
        "interval": "1m",
    }


@pytest.mark.parametrize(
    "mapping",
    [
        pytest.param({"renewal_lead": "-1d"}, id="negative-lead"),
        pytest.param({"grace_period": -5}, id="negative-grace"),
        pytest.param({"interval": "0s"}, id="zero-interval"),
        pytest.param({"reminder_days": -1}, id="negative-reminder-days"),
        pytest.param({"reminder_days": "3h"}, id="reminder-days-not-days"),
        pytest.param({"reminder_days": 1.5}, id="reminder-days-float"),
        pytest.param({"dunning_schedule": ["3d", "1d"]}, id="dunning-decreasing"),
        pytest.param({"dunning_schedule": ["1d", "1d"]}, id="dunning-not-strictly-increasing"),
        pytest.param({"dunning_schedule": ["0s", "1d"]}, id="dunning-zero-step"),
        pytest.param({"dunning_schedule": "1d,3d"}, id="dunning-not-a-list"),
        pytest.param({"dunning_schedule": 5}, id="dunning-int"),
        pytest.param({"dunning_schedule": ["1x"]}, id="dunning-bad-item"),
        pytest.param({"batch_size": 0}, id="batch-size-zero"),
        pytest.param({"batch_size": 10001}, id="batch-size-over-max"),
        pytest.param({"batch_size": "many"}, id="batch-size-text"),
        pytest.param({"batch_size": True}, id="batch-size-bool"),
        pytest.param({"leadDays": 1}, id="unknown-key"),
        pytest.param({"batch_size": 10, "batchSize": 20}, id="same-field-twice"),
        pytest.param(["renewal_lead"], id="not-a-mapping"),
    ],
)
def test_from_mapping_rejects(mapping: object) -> None:
    with pytest.raises(InvalidRenewalPolicy) as caught:
        RenewalPolicy.from_mapping(mapping)
    assert caught.value.code == "invalid_renewal_policy"
    assert isinstance(caught.value, DomainError)
    assert isinstance(caught.value, ValueError)


def test_constructor_validates_and_freezes_lists() -> None:
    policy = RenewalPolicy(dunning_schedule=[timedelta(days=2)])
    assert policy.dunning_schedule == (timedelta(days=2),)
    hash(policy)
    with pytest.raises(InvalidRenewalPolicy):
        RenewalPolicy(batch_size=0)
    with pytest.raises(InvalidRenewalPolicy):
        RenewalPolicy(renewal_lead=86400)
