"""Plans: prices, sale windows and codes.

Rules (docs/design.md "Plans"):

* Both prices are kopecks, at least ``MIN_PRICE`` = 1.00 RUB (YooKassa's card minimum) and at most
  ``money.MAX_AMOUNT``. No relation between the monthly and yearly price is enforced.
* The sale window is the half-open interval ``[sale_start, sale_end)``: the start moment is on sale,
  the end moment is not; ``sale_end=None`` means open-ended. ``sale_end`` must be strictly after
  ``sale_start``; both must be timezone-aware. A plan is purchasable only inside its window; ending a
  sale never touches existing subscriptions (renewals do not check the window).
* ``code`` goes into JWT claims, so it is a short slug: ``^[a-z][a-z0-9-]{1,31}$`` (2–32 characters,
  lowercase letters, digits and ``-``, starting with a letter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from kinobill.domain.errors import InvalidPlan, InvalidPlanCode, InvalidSaleWindow, PlanNotOnSale
from kinobill.domain.money import MAX_AMOUNT, Kopecks, format_rub
from kinobill.domain.periods import BillingPeriod, require_aware

MIN_PRICE: Kopecks = 100  # 1.00 RUB
PLAN_CODE_RE = re.compile(r"[a-z][a-z0-9-]{1,31}")
# The same rules as JSON Schema patterns, for the API's OpenAPI document (so that what the schema calls
# valid, the rules accept): the code, and a price as the API writes it, 1.00 .. 9999999.99 RUB (MIN_PRICE
# up to just under money.MAX_AMOUNT; at most two decimals, no sign, no leading zero).
PLAN_CODE_PATTERN = f"^{PLAN_CODE_RE.pattern}$"
PLAN_PRICE_PATTERN = r"^[1-9][0-9]{0,6}(\.[0-9]{1,2})?$"


def validate_plan_code(code: str) -> str:
    """Return ``code`` unchanged if it is a valid slug, else raise :class:`InvalidPlanCode`."""
    if not isinstance(code, str) or PLAN_CODE_RE.fullmatch(code) is None:
        raise InvalidPlanCode(
            f"Plan code must be 2-32 characters of a-z, 0-9 and '-', starting with a letter: {code!r}."
        )
    return code


def _validate_price(name: str, price: Kopecks) -> None:
    if isinstance(price, bool) or not isinstance(price, int):
        raise InvalidPlan(f"{name} must be an integer number of kopecks, not {type(price).__name__}.")
    if price < MIN_PRICE:
        raise InvalidPlan(f"{name} must be at least {format_rub(MIN_PRICE)} RUB.")
    if price > MAX_AMOUNT:
        raise InvalidPlan(f"{name} must be at most {format_rub(MAX_AMOUNT)} RUB.")


def validate_sale_window(sale_start: datetime, sale_end: datetime | None) -> None:
    """Raise :class:`InvalidSaleWindow` unless both ends are aware and ``sale_end > sale_start``."""
    for name, value in (("sale_start", sale_start), ("sale_end", sale_end)):
        if value is None and name == "sale_end":
            continue
        try:
            require_aware(value, name)  # type: ignore[arg-type]
        except ValueError as exc:
            raise InvalidSaleWindow(f"{name} must be a date-time with a time zone offset.") from exc
    if sale_end is not None and sale_end <= sale_start:
        raise InvalidSaleWindow("sale_end must be after sale_start.")


def validate_plan(
    price_month: Kopecks, price_year: Kopecks, sale_start: datetime, sale_end: datetime | None
) -> None:
    """Raise :class:`InvalidPlan` (prices) or :class:`InvalidSaleWindow` (window) if the plan is invalid."""
    _validate_price("price_month", price_month)
    _validate_price("price_year", price_year)
    validate_sale_window(sale_start, sale_end)


def is_on_sale(sale_start: datetime, sale_end: datetime | None, now: datetime) -> bool:
    """``sale_start <= now < sale_end`` (open-ended when ``sale_end`` is None)."""
    require_aware(now, "now")
    return sale_start <= now and (sale_end is None or now < sale_end)


def ensure_on_sale(sale_start: datetime, sale_end: datetime | None, now: datetime) -> None:
    """Raise :class:`PlanNotOnSale` unless the plan can be bought at ``now``."""
    if not is_on_sale(sale_start, sale_end, now):
        raise PlanNotOnSale()


def price_for(price_month: Kopecks, price_year: Kopecks, period: BillingPeriod) -> Kopecks:
    """The price of one period of the given kind."""
    return price_month if BillingPeriod(period) is BillingPeriod.MONTH else price_year


@dataclass(frozen=True)
class PlanTerms:
    """The rule-relevant part of a plan, validated on construction."""

    code: str
    price_month: Kopecks
    price_year: Kopecks
    sale_start: datetime
    sale_end: datetime | None = None

    def __post_init__(self) -> None:
        validate_plan_code(self.code)
        validate_plan(self.price_month, self.price_year, self.sale_start, self.sale_end)

    def is_on_sale(self, now: datetime) -> bool:
        return is_on_sale(self.sale_start, self.sale_end, now)

    def ensure_on_sale(self, now: datetime) -> None:
        ensure_on_sale(self.sale_start, self.sale_end, now)

    def price_for(self, period: BillingPeriod) -> Kopecks:
        return price_for(self.price_month, self.price_year, period)


__all__ = [
    "MIN_PRICE",
    "PLAN_CODE_PATTERN",
    "PLAN_CODE_RE",
    "PLAN_PRICE_PATTERN",
    "PlanTerms",
    "ensure_on_sale",
    "is_on_sale",
    "price_for",
    "validate_plan",
    "validate_plan_code",
    "validate_sale_window",
]
