from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from kinobill.auth_client import ClaimEntry, ClaimFormatError, decode_claim, encode_claim, has_access

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def test_encode_contract_items_to_one_sorted_string() -> None:
    items = [
        {"plan_code": "premium", "access_until": "2026-01-01T00:00:00+00:00"},
        {"plan_code": "kids", "access_until": "2026-02-01T03:00:00+03:00"},  # same instant as 00:00Z
    ]
    assert encode_claim(items) == "kids:1769904000 premium:1767225600"


def test_round_trip_random_sets() -> None:
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_-"
    for _ in range(300):
        entries = {}
        for _ in range(rng.randint(0, 12)):
            code = rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") + "".join(
                rng.choice(alphabet) for _ in range(rng.randint(0, 31))
            )
            entries[code] = rng.randint(0, 4_102_444_800)  # up to 2100
        encoded = encode_claim(entries.items())
        assert decode_claim(encoded) == sorted(ClaimEntry(c, u) for c, u in entries.items())


def test_same_plan_twice_keeps_latest_access() -> None:
    assert encode_claim([("premium", T0), ("premium", T0 + 10), ("premium", T0 + 5)]) == f"premium:{T0 + 10}"


def test_encode_drops_entries_over_at_now() -> None:
    items = [("old", T0), ("edge", T0 + 100), ("live", T0 + 101)]
    assert encode_claim(items, now=T0 + 100) == f"live:{T0 + 101}"
    assert encode_claim([("old", T0)], now=T0 + 1) == ""


def test_fractional_and_aware_datetimes_round_down() -> None:
    msk = timezone(timedelta(hours=3))
    dt = datetime(2026, 1, 1, 3, 0, 0, 999_999, tzinfo=msk)
    assert decode_claim(encode_claim([("premium", dt)])) == [ClaimEntry("premium", T0)]
    assert decode_claim(encode_claim([("premium", T0 + 0.99)]))[0].access_until == T0
    assert decode_claim(f"premium:{T0}")[0].access_until_dt == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "code", ["", "Premium", "pre mium", "pre:mium", "-kids", "_kids", "a" * 33, "кино", None, 5]
)
def test_encode_rejects_codes_that_would_break_the_format(code: object) -> None:
    with pytest.raises(ClaimFormatError):
        encode_claim([(code, T0)])


@pytest.mark.parametrize("until", [datetime(2026, 1, 1), "2026-01-01T00:00:00", "tomorrow", True, -1])
def test_encode_rejects_naive_or_bad_times(until: object) -> None:
    with pytest.raises(ClaimFormatError):
        encode_claim([("premium", until)])


@pytest.mark.parametrize(
    "value",
    [
        " premium:1",
        "premium:1 ",
        "premium:1  kids:2",
        "premium",
        "premium:",
        "premium:01",
        "premium:-1",
        "premium:1.5",
        "premium:1 premium:2",
        "Premium:1",
        "premium:1,kids:2",
        "premium:1234567890123",
    ],
)
def test_decode_is_strict(value: str) -> None:
    with pytest.raises(ClaimFormatError):
        decode_claim(value)


def test_decode_empty_and_missing() -> None:
    assert decode_claim("") == []
    assert decode_claim(None) == []
    with pytest.raises(ClaimFormatError):
        decode_claim(["premium:1"])  # type: ignore[arg-type]


def test_has_access_until_the_instant_exclusive() -> None:
    claim = f"kids:{T0 + 3600} premium:{T0}"
    assert has_access(claim, "premium", T0 - 1)
    assert has_access(claim, "premium", T0 - 0.001)
    assert not has_access(claim, "premium", T0)
    assert not has_access(claim, "premium", T0 + 1)
    assert has_access(claim, "kids", datetime(2026, 1, 1, 0, 59, 59, tzinfo=UTC))
    assert not has_access(claim, "kids", datetime(2026, 1, 1, 4, 0, 0, tzinfo=timezone(timedelta(hours=3))))


def test_has_access_other_plans_and_empty_claims() -> None:
    claim = f"premium:{T0}"
    assert not has_access(claim, "kids", T0 - 10)
    assert not has_access(claim, "prem", T0 - 10)  # no prefix matching
    assert not has_access("", "premium", T0 - 10)
    assert not has_access(None, "premium", T0 - 10)


def test_has_access_refuses_naive_now_and_broken_claims() -> None:
    with pytest.raises(ClaimFormatError):
        has_access(f"premium:{T0}", "premium", datetime(2025, 1, 1))
    with pytest.raises(ClaimFormatError):
        has_access("premium=1767225600", "premium", T0 - 10)
