"""Money: parsing RUB into kopecks, formatting back, and every rejection."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kinobill.domain.errors import DomainError, InvalidAmount
from kinobill.domain.money import MAX_AMOUNT, format_rub, parse_rub, to_decimal


@pytest.mark.parametrize(
    ("value", "kopecks"),
    [
        pytest.param("299", 29900, id="str-whole"),
        pytest.param("299.5", 29950, id="str-one-decimal"),
        pytest.param("299.50", 29950, id="str-two-decimals"),
        pytest.param("0.01", 1, id="str-one-kopeck"),
        pytest.param("0", 0, id="str-zero"),
        pytest.param("0.00", 0, id="str-zero-two-decimals"),
        pytest.param("007.10", 710, id="str-leading-zeros"),
        pytest.param("  1.00\n", 100, id="str-surrounding-whitespace"),
        pytest.param("10000000.00", MAX_AMOUNT, id="str-max-inclusive"),
        pytest.param(Decimal("299.00"), 29900, id="decimal-two-places"),
        pytest.param(Decimal("299"), 29900, id="decimal-whole"),
        pytest.param(Decimal("1.100"), 110, id="decimal-trailing-zero-from-arithmetic"),
        pytest.param(Decimal("1E+2"), 10000, id="decimal-exponent-form"),
        pytest.param(Decimal("-0"), 0, id="decimal-negative-zero"),
        pytest.param(Decimal("10000000.00"), MAX_AMOUNT, id="decimal-max-inclusive"),
        pytest.param(299, 29900, id="int-roubles"),
        pytest.param(0, 0, id="int-zero"),
        pytest.param(10_000_000, MAX_AMOUNT, id="int-max-inclusive"),
    ],
)
def test_parse_rub_accepts(value: str | Decimal | int, kopecks: int) -> None:
    assert parse_rub(value) == kopecks


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("-1", id="str-negative"),
        pytest.param("-0.01", id="str-negative-kopeck"),
        pytest.param("1.005", id="str-three-decimals"),
        pytest.param("299.500", id="str-three-decimals-trailing-zero"),
        pytest.param("", id="str-empty"),
        pytest.param("   ", id="str-blank"),
        pytest.param("abc", id="str-letters"),
        pytest.param("1,00", id="str-comma"),
        pytest.param("1 000", id="str-thousands-space"),
        pytest.param("+1", id="str-plus-sign"),
        pytest.param("1.", id="str-trailing-point"),
        pytest.param(".5", id="str-leading-point"),
        pytest.param("1e3", id="str-exponent"),
        pytest.param("NaN", id="str-nan"),
        pytest.param("Infinity", id="str-infinity"),
        pytest.param("١٢٣", id="str-non-ascii-digits"),
        pytest.param("10000000.01", id="str-over-max"),
        pytest.param("9" * 30, id="str-absurd"),
        pytest.param("1" * 1000, id="str-too-long"),
        pytest.param(Decimal("-1"), id="decimal-negative"),
        pytest.param(Decimal("1.005"), id="decimal-three-decimals"),
        pytest.param(Decimal("NaN"), id="decimal-nan"),
        pytest.param(Decimal("sNaN"), id="decimal-signalling-nan"),
        pytest.param(Decimal("Infinity"), id="decimal-infinity"),
        pytest.param(Decimal("-Infinity"), id="decimal-minus-infinity"),
        pytest.param(Decimal("10000000.01"), id="decimal-over-max"),
        pytest.param(Decimal("1E+999999"), id="decimal-absurd-exponent"),
        pytest.param(-1, id="int-negative"),
        pytest.param(10_000_001, id="int-over-max"),
        pytest.param(10**100, id="int-absurd"),
        pytest.param(1.0, id="float"),
        pytest.param(299.5, id="float-fraction"),
        pytest.param(float("nan"), id="float-nan"),
        pytest.param(True, id="bool"),
        pytest.param(None, id="none"),
        pytest.param(b"1.00", id="bytes"),
    ],
)
def test_parse_rub_rejects(value: object) -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_rub(value)
    assert caught.value.code == "invalid_amount"
    assert isinstance(caught.value, DomainError)
    assert caught.value.message


@pytest.mark.parametrize(
    ("kopecks", "text"),
    [
        pytest.param(0, "0.00", id="zero"),
        pytest.param(1, "0.01", id="one-kopeck"),
        pytest.param(10, "0.10", id="ten-kopecks"),
        pytest.param(29900, "299.00", id="whole"),
        pytest.param(29950, "299.50", id="half"),
        pytest.param(MAX_AMOUNT, "10000000.00", id="max"),
        pytest.param(-150, "-1.50", id="negative-for-display"),
    ],
)
def test_format_rub(kopecks: int, text: str) -> None:
    assert format_rub(kopecks) == text


@pytest.mark.parametrize(
    ("kopecks", "decimal"),
    [
        pytest.param(0, "0.00", id="zero"),
        pytest.param(1, "0.01", id="one-kopeck"),
        pytest.param(29900, "299.00", id="whole"),
        pytest.param(MAX_AMOUNT, "10000000.00", id="max"),
    ],
)
def test_to_decimal_has_two_places(kopecks: int, decimal: str) -> None:
    result = to_decimal(kopecks)
    assert str(result) == decimal
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize("bad", [pytest.param(1.0, id="float"), pytest.param(True, id="bool")])
def test_format_and_to_decimal_reject_non_int(bad: object) -> None:
    with pytest.raises(TypeError):
        format_rub(bad)
    with pytest.raises(TypeError):
        to_decimal(bad)


@pytest.mark.parametrize(
    "kopecks", [0, 1, 9, 10, 99, 100, 101, 29900, 29950, 123456789, MAX_AMOUNT - 1, MAX_AMOUNT]
)
def test_round_trips(kopecks: int) -> None:
    assert parse_rub(format_rub(kopecks)) == kopecks
    assert parse_rub(to_decimal(kopecks)) == kopecks
    assert format_rub(parse_rub(str(to_decimal(kopecks)))) == str(to_decimal(kopecks))
