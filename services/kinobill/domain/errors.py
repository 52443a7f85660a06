"""Domain errors: every broken business rule raises a subclass of :class:`DomainError`.

Each subclass carries a stable snake_case ``code`` (a class attribute) that the HTTP layer puts into
``{"error": {"code": ..., "message": ...}}``; the message is for humans and may change, the code may
not. ``ValueError`` (not a ``DomainError``) is kept for programming mistakes such as naive datetimes.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """A business rule was broken. ``code`` is stable; ``message`` is human-readable."""

    code: ClassVar[str] = "domain_error"
    default_message: ClassVar[str] = "A business rule was violated."

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        """The ``error`` object of the JSON error body."""
        return {"code": self.code, "message": self.message}


class InvalidAmount(DomainError):
    code = "invalid_amount"
    default_message = "The amount is not a valid RUB amount."


class InvalidPlan(DomainError):
    code = "invalid_plan"
    default_message = "The plan is not valid."


class InvalidPlanCode(InvalidPlan):
    code = "invalid_plan_code"
    default_message = "The plan code must be 2-32 characters of a-z, 0-9 and '-', starting with a letter."


class InvalidSaleWindow(InvalidPlan):
    code = "invalid_sale_window"
    default_message = "The sale window is not valid: the sale must end after it starts."


class PlanNotOnSale(DomainError):
    code = "plan_not_on_sale"
    default_message = "The plan is not on sale at this moment."


class InvalidTransition(DomainError):
    code = "invalid_transition"
    default_message = "This status change is not allowed."


class NothingToRefund(DomainError):
    code = "nothing_to_refund"
    default_message = "There is nothing left to refund for this payment."


class RefundPeriodOver(DomainError):
    code = "refund_period_over"
    default_message = "The paid period is over; it can no longer be refunded."


class InvalidRenewalPolicy(DomainError, ValueError):
    """Also a ``ValueError``: policies come from config and custom resources as well as from users."""

    code = "invalid_renewal_policy"
    default_message = "The renewal policy is not valid."


__all__ = [
    "DomainError",
    "InvalidAmount",
    "InvalidPlan",
    "InvalidPlanCode",
    "InvalidRenewalPolicy",
    "InvalidSaleWindow",
    "InvalidTransition",
    "NothingToRefund",
    "PlanNotOnSale",
    "RefundPeriodOver",
]
