"""`kinobill clock --advance`'s durations: the renewal policy's syntax, plus weeks and a sign."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kinobill.clock import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("29d", timedelta(days=29)),
        ("36h", timedelta(hours=36)),
        ("90m", timedelta(minutes=90)),
        ("30s", timedelta(seconds=30)),
        ("45", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("-1d", -timedelta(days=1)),
        (" 29 d ", timedelta(days=29)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "x", "1y", "--1d", "1.5d"])
def test_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
