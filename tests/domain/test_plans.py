"""Plans: price limits, sale windows, on-sale checks and code slugs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from kinobill.domain.errors import InvalidPlan, InvalidPlanCode, InvalidSaleWindow, PlanNotOnSale
from kinobill.domain.money import MAX_AMOUNT
from kinobill.domain.periods import BillingPeriod
from kinobill.domain.plans import (
    MIN_PRICE,
    PlanTerms,
    ensure_on_sale,
    is_on_sale,
    price_for,
    validate_plan,
    validate_plan_code,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 7, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("price_month", "price_year", "sale_end"),
    [
        pytest.param(29900, 299000, None, id="open-ended"),
        pytest.param(29900, 299000, END, id="closed-window"),
        pytest.param(MIN_PRICE, MIN_PRICE, START + SECOND, id="minimum-price-one-second-window"),
        pytest.param(MAX_AMOUNT, MAX_AMOUNT, None, id="maximum-price"),
        pytest.param(29900, 10000, None, id="yearly-cheaper-than-monthly-is-allowed"),
    ],
)
def test_valid_plans(price_month: int, price_year: int, sale_end: datetime | None) -> None:
    validate_plan(price_month, price_year, START, sale_end)


@pytest.mark.parametrize(
    ("price_month", "price_year", "error"),
    [
        pytest.param(0, 299000, InvalidPlan, id="month-zero"),
        pytest.param(99, 299000, InvalidPlan, id="month-below-1-rub"),
        pytest.param(29900, 99, InvalidPlan, id="year-below-1-rub"),
        pytest.param(-100, 299000, InvalidPlan, id="month-negative"),
        pytest.param(MAX_AMOUNT + 1, 299000, InvalidPlan, id="month-over-max"),
        pytest.param(299.0, 299000, InvalidPlan, id="month-float"),
        pytest.param("299.00", 299000, InvalidPlan, id="month-string-not-kopecks"),
        pytest.param(True, 299000, InvalidPlan, id="month-bool"),
    ],
)
def test_invalid_prices(price_month: object, price_year: int, error: type[InvalidPlan]) -> None:
    with pytest.raises(error) as caught:
        validate_plan(price_month, price_year, START, None)
    assert caught.value.code == "invalid_plan"


@pytest.mark.parametrize(
    ("sale_start", "sale_end"),
    [
        pytest.param(START, START, id="end-equals-start"),
        pytest.param(START, START - SECOND, id="end-before-start"),
        pytest.param(datetime(2026, 1, 1), None, id="naive-start"),
        pytest.param(START, datetime(2026, 7, 1), id="naive-end"),
        pytest.param(None, None, id="missing-start"),
        pytest.param(
            datetime(2026, 1, 1, 3, tzinfo=timezone(timedelta(hours=3))), START, id="same-instant-other-zone"
        ),
    ],
)
def test_invalid_sale_windows(sale_start: datetime, sale_end: datetime | None) -> None:
    with pytest.raises(InvalidSaleWindow) as caught:
        validate_plan(29900, 299000, sale_start, sale_end)
    assert caught.value.code == "invalid_sale_window"
    assert isinstance(caught.value, InvalidPlan)


@pytest.mark.parametrize(
    ("sale_end", "now", "on_sale"),
    [
        pytest.param(END, START - SECOND, False, id="before-start"),
        pytest.param(END, START, True, id="at-start-inclusive"),
        pytest.param(END, START + SECOND, True, id="inside"),
        pytest.param(END, END - SECOND, True, id="last-second"),
        pytest.param(END, END, False, id="at-end-exclusive"),
        pytest.param(END, END + SECOND, False, id="after-end"),
        pytest.param(None, START - SECOND, False, id="open-before-start"),
        pytest.param(None, START, True, id="open-at-start"),
        pytest.param(None, datetime(2099, 1, 1, tzinfo=UTC), True, id="open-far-future"),
        pytest.param(END, datetime(2026, 7, 1, 2, 59, 59, tzinfo=timezone(timedelta(hours=3))), True,
                     id="other-zone-before-end"),
        pytest.param(END, datetime(2026, 7, 1, 3, tzinfo=timezone(timedelta(hours=3))), False,
                     id="other-zone-at-end"),
    ],
)  # fmt: skip
def test_is_on_sale(sale_end: datetime | None, now: datetime, on_sale: bool) -> None:
    assert is_on_sale(START, sale_end, now) is on_sale
    if on_sale:
        ensure_on_sale(START, sale_end, now)
    else:
        with pytest.raises(PlanNotOnSale) as caught:
            ensure_on_sale(START, sale_end, now)
        assert caught.value.code == "plan_not_on_sale"


def test_is_on_sale_rejects_naive_now() -> None:
    with pytest.raises(ValueError):
        is_on_sale(START, None, datetime(2026, 2, 1))


@pytest.mark.parametrize(
    ("period", "price"),
    [
        pytest.param(BillingPeriod.MONTH, 29900, id="month"),
        pytest.param(BillingPeriod.YEAR, 299000, id="year"),
    ],
)
def test_price_for(period: BillingPeriod, price: int) -> None:
    assert price_for(29900, 299000, period) == price
    assert price_for(29900, 299000, period.value) == price


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("ab", id="two-chars"),
        pytest.param("basic", id="word"),
        pytest.param("premium-4k", id="with-dash-and-digit"),
        pytest.param("a1", id="letter-digit"),
        pytest.param("a-", id="trailing-dash-allowed"),
        pytest.param("a" * 32, id="32-chars"),
    ],
)
def test_valid_plan_codes(code: str) -> None:
    assert validate_plan_code(code) == code


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("", id="empty"),
        pytest.param("a", id="one-char"),
        pytest.param("a" * 33, id="33-chars"),
        pytest.param("1month", id="starts-with-digit"),
        pytest.param("-basic", id="starts-with-dash"),
        pytest.param("Basic", id="uppercase"),
        pytest.param("basic_plan", id="underscore"),
        pytest.param("basic plan", id="space"),
        pytest.param("basic\n", id="trailing-newline"),
        pytest.param("премиум", id="cyrillic"),
        pytest.param("basic.plan", id="dot"),
        pytest.param(None, id="none"),
    ],
)
def test_invalid_plan_codes(code: object) -> None:
    with pytest.raises(InvalidPlanCode) as caught:
        validate_plan_code(code)
    assert caught.value.code == "invalid_plan_code"
    assert isinstance(caught.value, InvalidPlan)


def test_plan_terms() -> None:
    terms = PlanTerms("basic", 29900, 299000, START, END)
    assert terms.price_for(BillingPeriod.YEAR) == 299000
    assert terms.is_on_sale(START)
    with pytest.raises(PlanNotOnSale):
        terms.ensure_on_sale(END)
    with pytest.raises(InvalidPlanCode):
        PlanTerms("Basic", 29900, 299000, START)
    with pytest.raises(InvalidSaleWindow):
        PlanTerms("basic", 29900, 299000, START, START)
