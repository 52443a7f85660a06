"""54-FZ receipts as a shop with "Чеки от ЮKassa" sees them: the ``receipt`` a payment or refund must carry,
and the ``receipt_registration`` that follows it.

Validation: the official ``ReceiptData`` schema (``components.schemas.ReceiptData`` of YooKassa's OpenAPI
file, ``spec/yookassa-openapi.yaml``, and everything it references) plus the limits the spec states only
in prose for YooKassa's own receipts: 1 to 80 items, an item description of 1 to 128 characters,
a quantity above 0 and at most 99999.999 with at most 3 decimals, ``customer.email`` (YooKassa mails the
receipt), ``measure`` (FFD 1.2), the shop's currency, and the receipt total (price × quantity of every item)
equal to the amount of the payment or refund. A problem is 400 ``invalid_request`` with the parameter at
fault, as YooKassa answers.

Registration: ``pending`` while the operation is not final, then ``succeeded`` ``receipt_delay`` seconds
after it succeeded (a fault ``receipt_canceled`` makes the next registrations ``canceled``). A canceled
payment's receipt is ``canceled`` at once (nothing was sold).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import yaml
from jsonschema import Draft7Validator, FormatChecker

from .errors import bad_request
from .spec import SPEC_FILE

MAX_ITEMS = 80
MAX_QUANTITY = Decimal("99999.999")
MISSING = "Receipt is missing or illegal"
_NUMBER = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")


@cache
def _validator() -> Draft7Validator:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(SPEC_FILE.read_text(encoding="utf-8"), Loader=loader)
    schema = {"$ref": "#/components/schemas/ReceiptData", "components": spec["components"]}
    return Draft7Validator(schema, format_checker=FormatChecker())


def load_schema() -> None:
    """Read the spec now (at start-up) rather than on the first payment."""
    _validator()


def _parameter(path: Any) -> str:
    return ".".join(["receipt", *(str(p) for p in path)])


def check_receipt(receipt: Any, *, amount: Decimal, currency: str) -> None:
    """Raise a 400 ``ApiError`` unless ``receipt`` is a valid receipt for ``amount`` ``currency``."""
    if receipt is None:
        raise bad_request(f"{MISSING}: fiscalisation is on, a receipt is required", "receipt")
    if not isinstance(receipt, dict):
        raise bad_request(f"{MISSING}: the receipt must be an object", "receipt")
    receipt = _numbers_parsed(receipt)
    errors = sorted(_validator().iter_errors(receipt), key=lambda e: [str(p) for p in e.absolute_path])
    error = errors[0] if errors else None
    if error is not None:
        raise bad_request(f"{MISSING}: {error.message}", _parameter(error.absolute_path))
    customer = receipt.get("customer") or {}
    if not customer.get("email"):
        raise bad_request(f"{MISSING}: customer.email is required for receipts", "receipt.customer.email")
    items = receipt["items"]
    if not 1 <= len(items) <= MAX_ITEMS:
        raise bad_request(f"{MISSING}: 1 to {MAX_ITEMS} items", "receipt.items")
    total = Decimal(0)
    for i, item in enumerate(items):
        where = f"receipt.items.{i}"
        if not 1 <= len(item["description"]) <= 128:
            raise bad_request(f"{MISSING}: description of 1 to 128 characters", f"{where}.description")
        quantity = _decimal(item["quantity"], f"{where}.quantity")
        if not Decimal(0) < quantity <= MAX_QUANTITY or quantity != quantity.quantize(Decimal("0.001")):
            raise bad_request(
                f"{MISSING}: quantity above 0, at most {MAX_QUANTITY}, 3 decimals", f"{where}.quantity"
            )
        if not item.get("measure"):
            raise bad_request(f"{MISSING}: measure is required", f"{where}.measure")
        price = _decimal(item["amount"]["value"], f"{where}.amount.value")
        if price <= 0 or price != price.quantize(Decimal("0.01")):
            raise bad_request(f"{MISSING}: a price above 0 with 2 decimals", f"{where}.amount.value")
        if item["amount"]["currency"] != currency:
            raise bad_request(f"{MISSING}: the item currency must be {currency}", f"{where}.amount.currency")
        total += price * quantity
    if total.quantize(Decimal("0.01")) != amount:
        raise bad_request(
            f"{MISSING}: the items add up to {total.quantize(Decimal('0.01'))}, the amount is {amount}",
            "receipt.items",
        )


def _numbers_parsed(receipt: dict[str, Any]) -> dict[str, Any]:
    """The official SDK sends ``quantity`` as a decimal string (``"1.0"``) and YooKassa takes it: read such
    a string as the number it spells before the schema (which says ``number``) sees it."""
    items = receipt.get("items")
    if not isinstance(items, list):
        return receipt
    parsed = []
    for item in items:
        quantity = item.get("quantity") if isinstance(item, dict) else None
        if isinstance(quantity, str) and _NUMBER.fullmatch(quantity):
            item = {**item, "quantity": float(quantity) if "." in quantity else int(quantity)}
        parsed.append(item)
    return {**receipt, "items": parsed}


def _decimal(raw: Any, parameter: str) -> Decimal:
    if isinstance(raw, bool):
        raise bad_request(f"{MISSING}: a number is expected", parameter)
    try:
        return Decimal(str(raw))
    except (InvalidOperation, ValueError):
        raise bad_request(f"{MISSING}: a number is expected", parameter) from None


__all__ = ["MAX_ITEMS", "check_receipt"]
