"""The receipt a payment or refund carries, and what receipt_registration values mean."""

from __future__ import annotations

import pytest

from kinobill.domain.receipts import (
    RECEIPTS_OFF,
    ReceiptImpossible,
    ReceiptPolicy,
    ReceiptRegistration,
    is_final,
    receipt_for,
    registration_from_provider,
)

ON = ReceiptPolicy(enabled=True, vat_code=1)


def test_one_service_item_paid_in_full_at_the_amount() -> None:
    receipt = receipt_for(ON, email="a@example.com", description="Kinobill Premium, 1 month", amount=29900)
    assert receipt == {
        "customer": {"email": "a@example.com"},
        "items": [
            {
                "description": "Kinobill Premium, 1 month",
                "quantity": 1,
                "amount": {"value": "299.00", "currency": "RUB"},
                "vat_code": 1,
                "payment_subject": "service",
                "payment_mode": "full_payment",
                "measure": "piece",
            }
        ],
    }


def test_the_tax_system_and_vat_code_come_from_the_settings() -> None:
    policy = ReceiptPolicy(enabled=True, vat_code=4, tax_system_code=2)
    receipt = receipt_for(policy, email="a@example.com", description="x", amount=100)
    assert receipt is not None
    assert receipt["tax_system_code"] == 2 and receipt["items"][0]["vat_code"] == 4


def test_receipts_off_means_none_and_a_long_description_is_cut() -> None:
    assert receipt_for(RECEIPTS_OFF, email=None, description="x", amount=100) is None
    receipt = receipt_for(ON, email="a@example.com", description="y" * 300, amount=100)
    assert receipt is not None and len(receipt["items"][0]["description"]) == 128


def test_without_an_email_no_receipt_can_be_issued() -> None:
    with pytest.raises(ReceiptImpossible):
        receipt_for(ON, email=None, description="x", amount=100)


@pytest.mark.parametrize(("vat", "tax"), [(0, None), (13, None), (1, 0), (1, 7)])
def test_codes_outside_the_official_ranges_are_refused(vat: int, tax: int | None) -> None:
    with pytest.raises(ValueError):
        ReceiptPolicy(enabled=True, vat_code=vat, tax_system_code=tax)


def test_registration_values() -> None:
    assert registration_from_provider("pending") == ReceiptRegistration.PENDING
    assert registration_from_provider(None) is None and registration_from_provider("weird") is None
    assert not is_final("pending") and is_final("succeeded") and is_final("canceled") and not is_final(None)
