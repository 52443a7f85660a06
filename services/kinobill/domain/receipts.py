"""54-FZ receipts: what Kinobill sells on a receipt, and what YooKassa's ``receipt_registration`` means.

Every payment (first and renewal) and every refund carries a receipt when receipts are on (a shop using
"Чеки от ЮKassa" or a cloud cash register): the customer's e-mail (YooKassa mails the receipt there) and
one item — the subscription as a service, paid in full, one piece, at the amount of the operation::

    {"customer": {"email": ...},
     "items": [{"description": ..., "quantity": 1, "amount": {"value": "299.00", "currency": "RUB"},
                "vat_code": 1, "payment_subject": "service", "payment_mode": "full_payment",
                "measure": "piece"}],
     "tax_system_code": 1}                                   # only where the register needs it

YooKassa then reports ``receipt_registration``: ``pending`` until the register answers, ``succeeded``, or
``canceled`` (no receipt was issued: an operator must issue it another way).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kinobill.domain.errors import DomainError
from kinobill.domain.money import format_rub

DESCRIPTION_MAX = 128  # characters of an item description on a YooKassa receipt
VAT_CODES = range(1, 13)  # ReceiptItemVatCode: 1 = no VAT ... (YooKassa's table)
TAX_SYSTEM_CODES = range(1, 7)  # TaxSystemCode: 1 = ОСН ... 6 = ПСН


class ReceiptRegistration(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


class ReceiptImpossible(DomainError):
    code = "receipt_email_required"


@dataclass(frozen=True)
class ReceiptPolicy:
    """The shop's receipt settings (``KINOBILL_RECEIPTS``, ``KINOBILL_RECEIPT_VAT_CODE``,
    ``KINOBILL_RECEIPT_TAX_SYSTEM_CODE``)."""

    enabled: bool = False
    vat_code: int = 1
    tax_system_code: int | None = None

    def __post_init__(self) -> None:
        if self.vat_code not in VAT_CODES:
            raise ValueError(f"vat_code must be 1..12, got {self.vat_code}")
        if self.tax_system_code is not None and self.tax_system_code not in TAX_SYSTEM_CODES:
            raise ValueError(f"tax_system_code must be 1..6, got {self.tax_system_code}")


RECEIPTS_OFF = ReceiptPolicy()


def receipt_for(
    policy: ReceiptPolicy, *, email: str | None, description: str, amount: int, currency: str = "RUB"
) -> dict[str, Any] | None:
    """The receipt of one payment or refund of ``amount`` kopecks, or None when receipts are off."""
    if not policy.enabled:
        return None
    if not email:
        raise ReceiptImpossible("a receipt needs the customer's e-mail, and none is known")
    receipt: dict[str, Any] = {
        "customer": {"email": email},
        "items": [
            {
                "description": (description.strip() or "Kinobill subscription")[:DESCRIPTION_MAX],
                "quantity": 1,
                "amount": {"value": format_rub(amount), "currency": currency},
                "vat_code": policy.vat_code,
                "payment_subject": "service",
                "payment_mode": "full_payment",
                "measure": "piece",
            }
        ],
    }
    if policy.tax_system_code is not None:
        receipt["tax_system_code"] = policy.tax_system_code
    return receipt


def registration_from_provider(value: object) -> ReceiptRegistration | None:
    """YooKassa's ``receipt_registration`` (None when absent or unknown)."""
    try:
        return ReceiptRegistration(str(value)) if value is not None else None
    except ValueError:
        return None


def is_final(registration: ReceiptRegistration | str | None) -> bool:
    return registration in (ReceiptRegistration.SUCCEEDED, ReceiptRegistration.CANCELED)


__all__ = [
    "RECEIPTS_OFF",
    "ReceiptImpossible",
    "ReceiptPolicy",
    "ReceiptRegistration",
    "is_final",
    "receipt_for",
    "registration_from_provider",
]
