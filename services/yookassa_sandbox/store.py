"""In-memory state of the sandbox and the YooKassa business rules (payments, saved methods, refunds).

Everything here is synchronous and runs on the server's single event loop, so each operation is atomic.
Objects are kept as the JSON-ready dicts the API returns; bookkeeping lives beside them in records.
"""

from __future__ import annotations

import heapq
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from . import cards
from .config import Settings
from .errors import ApiError, bad_request
from .faults import Faults
from .receipts import check_receipt

Notify = Callable[[str, dict[str, Any]], None]

PAYMENT_STATUSES = ("pending", "waiting_for_capture", "succeeded", "canceled")
REFUND_STATUSES = ("pending", "succeeded", "canceled")
REFUND_CANCEL_REASONS = frozenset(
    {
        "yoo_money_account_closed",
        "insufficient_funds",
        "general_decline",
        "rejected_by_payee",
        "rejected_by_timeout",
        "payment_basket_id_not_found",
        "payment_article_number_not_found",
        "payment_tru_code_not_found",
        "too_many_refunding_articles",
        "some_articles_already_refunded",
    }
)
CURRENCIES = frozenset({"RUB", "EUR", "USD", "KZT", "BYN", "UAH", "UZS", "TRY", "INR", "MDL", "AZN", "AMD"})
FEE_RATE = Decimal("0.035")
CENT = Decimal("0.01")
_AMOUNT_RE = re.compile(r"[0-9]+(\.[0-9]{1,2})?")
_UNSUPPORTED_CREATE_FIELDS = (
    "payment_token",
    "airline",
    "deal",
    "receiver",
    "payment_order",
    "recipient_data",
)


def iso(ts: float) -> str:
    """``2017-11-03T11:52:31.827Z`` — the API's timestamp format (UTC, milliseconds)."""
    ms = int(ts * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def parse_iso(raw: str, parameter: str) -> float:
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise bad_request(f"Invalid date-time value '{raw}'", parameter) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def _new_id(kind: str) -> str:
    # shaped like YooKassa's ids: hex timestamp, fixed middle groups, random tail (36 characters)
    return f"{int(time.time()):08x}-{kind}-5000-9000-{os.urandom(6).hex()}"


@dataclass(slots=True)
class Card:
    number: str
    expiry_month: str
    expiry_year: str
    three_ds: bool
    outcome: str
    party: str | None

    def as_api(self) -> dict[str, Any]:
        return {
            "first6": self.number[:6],
            "last4": self.number[-4:],
            "expiry_year": self.expiry_year,
            "expiry_month": self.expiry_month,
            "card_type": cards.card_type(self.number),
            "issuer_country": "RU",
        }

    @property
    def title(self) -> str:
        return f"Bank card *{self.number[-4:]}"


@dataclass(slots=True)
class SavedMethod:
    id: str
    card: Card
    source_payment_id: str
    outcome: str = cards.SUCCEEDED
    party: str | None = None

    def as_sandbox(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "bank_card",
            "title": self.card.title,
            "card": self.card.as_api(),
            "source_payment_id": self.source_payment_id,
            "outcome": self.outcome,
            "party": self.party,
        }


@dataclass(slots=True)
class PaymentRecord:
    obj: dict[str, Any]
    seq: int
    created_ts: float
    amount: Decimal
    currency: str
    capture: bool
    save_requested: bool
    confirm_deadline: float | None = None
    capture_deadline: float | None = None
    captured_ts: float | None = None
    card: Card | None = None  # card preset by payment_method_data (PCI-DSS flow)
    refunded: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)  # pending refunds


@dataclass(slots=True)
class RefundRecord:
    obj: dict[str, Any]
    seq: int
    created_ts: float
    amount: Decimal


@dataclass
class RefundBehaviour:
    outcome: str = cards.SUCCEEDED  # succeeded | pending | a refund cancellation reason
    party: str = "refund_network"


def _bool(body: dict[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(f"Invalid value of '{name}': a boolean is expected", name)
    return value


@dataclass(slots=True)
class BindingRecord:
    """A payment method created by ``POST /payment_methods``: pending until the payer confirms a card."""

    obj: dict[str, Any]
    return_url: str


class Store:
    def __init__(
        self, settings: Settings, notify: Notify | None = None, faults: Faults | None = None
    ) -> None:
        self.settings = settings
        self.notify: Notify = notify or (lambda event, obj: None)
        self.faults = faults if faults is not None else Faults()
        self.clock_offset = 0.0
        self.reset()

    # ----------------------------------------------------------------- housekeeping
    def reset(self) -> None:
        self.payments: dict[str, PaymentRecord] = {}
        self.refunds: dict[str, RefundRecord] = {}
        self.methods: dict[str, SavedMethod] = {}
        self.refund_behaviour: dict[str | None, RefundBehaviour] = {}
        self.deadlines: list[tuple[float, str]] = []
        self.receipts_due: list[tuple[float, str, str]] = []  # (when, "payment" | "refund", id)
        self.bindings: dict[str, BindingRecord] = {}
        self.seq = 0
        self.clock_offset = 0.0

    def now(self) -> float:
        return time.time() + self.clock_offset

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _emit(self, event: str, obj: dict[str, Any]) -> None:
        self.notify(event, obj)

    # ----------------------------------------------------------------- validation helpers
    def _amount(self, raw: Any, parameter: str = "amount") -> tuple[Decimal, str]:
        if not isinstance(raw, dict):
            raise bad_request("Amount is required: an object with 'value' and 'currency'", parameter)
        value = raw.get("value")
        currency = raw.get("currency")
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not _AMOUNT_RE.fullmatch(value):
            raise bad_request(
                "Invalid amount value: a decimal string with at most 2 fractional digits is expected",
                f"{parameter}.value",
            )
        try:
            dec = Decimal(value)
        except InvalidOperation:
            raise bad_request("Invalid amount value", f"{parameter}.value") from None
        if dec <= 0:
            raise bad_request("Amount value must be greater than zero", f"{parameter}.value")
        if currency not in CURRENCIES:
            raise bad_request(f"Invalid currency '{currency}'", f"{parameter}.currency")
        if currency != self.settings.currency:
            raise bad_request(
                f"Currency {currency} does not match the currency of the shop ({self.settings.currency})",
                f"{parameter}.currency",
            )
        return dec, currency

    @staticmethod
    def _metadata(raw: Any) -> dict[str, Any] | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise bad_request("Metadata must be an object of string values", "metadata")
        if len(raw) > 16:
            raise bad_request("Metadata may contain at most 16 keys", "metadata")
        for k, v in raw.items():
            if len(k) > 32 or (v is not None and (not isinstance(v, str | int | float) or len(str(v)) > 512)):
                raise bad_request(f"Invalid metadata entry '{k}'", "metadata")
        return {k: (None if v is None else str(v)) for k, v in raw.items()}

    def _card_from_request(self, raw: Any, parameter: str) -> Card:
        if not isinstance(raw, dict):
            raise bad_request("Card data must be an object", parameter)
        number = cards.normalise_number(str(raw.get("number", "")))
        if not cards.looks_like_card(number):
            raise bad_request("Invalid card number", f"{parameter}.number")
        test_card = cards.lookup(number)
        if test_card is None:
            raise bad_request(
                "Only the documented test cards can be used in a test shop", f"{parameter}.number"
            )
        month = str(raw.get("expiry_month", "12"))
        year = str(raw.get("expiry_year", str(datetime.now(UTC).year + 3)))
        if not re.fullmatch(r"(0[1-9]|1[0-2])", month):
            raise bad_request("Invalid card expiry month", f"{parameter}.expiry_month")
        if not re.fullmatch(r"[0-9]{4}", year):
            raise bad_request("Invalid card expiry year", f"{parameter}.expiry_year")
        today = datetime.now(UTC)
        if (int(year), int(month)) < (today.year, today.month):
            raise bad_request("The card has expired", f"{parameter}.expiry_year")
        csc = raw.get("csc")
        if csc is not None and not re.fullmatch(r"[0-9]{3,4}", str(csc)):
            raise bad_request("Invalid card security code", f"{parameter}.csc")
        return Card(number, month, year, test_card.three_ds, test_card.outcome, test_card.party)

    # ----------------------------------------------------------------- payments
    def get_payment(self, payment_id: str) -> dict[str, Any]:
        rec = self.payments.get(payment_id)
        if rec is None:
            raise ApiError(404, f"Payment {payment_id} not found", "payment_id")
        return rec.obj

    def create_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        amount, currency = self._amount(body.get("amount"))
        description = body.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 128):
            raise bad_request("Description must be a string of at most 128 characters", "description")
        capture = _bool(body, "capture")
        save = _bool(body, "save_payment_method")
        metadata = self._metadata(body.get("metadata"))
        for name in _UNSUPPORTED_CREATE_FIELDS:
            if body.get(name):
                raise bad_request(f"Parameter '{name}' is not supported by the sandbox", name)
        for name in ("transfers", "statements"):
            if body.get(name):
                raise bad_request(f"Parameter '{name}' is not supported by the sandbox", name)
        sources = [n for n in ("payment_method_id", "payment_method_data", "payment_token") if body.get(n)]
        if len(sources) > 1:
            raise bad_request(
                "Request should contain only one of: payment_method_data, payment_method_id, payment_token",
                sources[1],
            )
        merchant_customer_id = body.get("merchant_customer_id")
        if merchant_customer_id is not None and (
            not isinstance(merchant_customer_id, str) or len(merchant_customer_id) > 200
        ):
            raise bad_request("merchant_customer_id must be at most 200 characters", "merchant_customer_id")
        receipt = body.get("receipt")
        if receipt is not None or self.settings.fiscalization:
            check_receipt(receipt, amount=amount, currency=currency)

        confirmation_req = body.get("confirmation")
        return_url: str | None = None
        enforce: bool | None = None
        if confirmation_req is not None:
            if not isinstance(confirmation_req, dict):
                raise bad_request("Confirmation must be an object", "confirmation")
            ctype = confirmation_req.get("type")
            if ctype != "redirect":
                raise bad_request(
                    f"Confirmation type '{ctype}' is not supported by the sandbox (only 'redirect')",
                    "confirmation.type",
                )
            return_url = confirmation_req.get("return_url")
            if not isinstance(return_url, str) or not return_url or len(return_url) > 2048:
                raise bad_request(
                    "return_url is required (at most 2048 characters)", "confirmation.return_url"
                )
            if "enforce" in confirmation_req:
                enforce = _bool(confirmation_req, "enforce")

        method: SavedMethod | None = None
        card: Card | None = None
        method_id = body.get("payment_method_id")
        if method_id:
            if not isinstance(method_id, str):
                raise bad_request("payment_method_id must be a string", "payment_method_id")
            method = self.methods.get(method_id)
            if method is None:
                raise bad_request(
                    f"Payment method {method_id} does not exist or is not saved for recurring payments",
                    "payment_method_id",
                )
        pmd = body.get("payment_method_data")
        if pmd:
            if not isinstance(pmd, dict) or pmd.get("type") != "bank_card":
                raise bad_request(
                    "Only payment_method_data.type 'bank_card' is supported by the sandbox",
                    "payment_method_data.type",
                )
            if pmd.get("card") is not None:
                card = self._card_from_request(pmd["card"], "payment_method_data.card")
        if method is None and (card is None or card.three_ds) and confirmation_req is None:
            raise bad_request("Confirmation is required for this payment", "confirmation")

        now = self.now()
        pid = _new_id("000f")
        while pid in self.payments:
            pid = _new_id("000f")
        obj: dict[str, Any] = {
            "id": pid,
            "status": "pending",
            "amount": {"value": money(amount), "currency": currency},
        }
        if description is not None:
            obj["description"] = description
        obj["recipient"] = {"account_id": self.settings.shop_id, "gateway_id": self.settings.gateway_id}
        obj["created_at"] = iso(now)
        obj["test"] = self.settings.test
        obj["paid"] = False
        obj["refundable"] = False
        if metadata is not None:
            obj["metadata"] = metadata
        if merchant_customer_id is not None:
            obj["merchant_customer_id"] = merchant_customer_id
        if receipt is not None:
            obj["receipt_registration"] = "pending"
        rec = PaymentRecord(
            obj=obj,
            seq=self._next_seq(),
            created_ts=now,
            amount=amount,
            currency=currency,
            capture=capture,
            save_requested=save,
            card=card,
        )
        self.payments[pid] = rec

        if method is not None:
            self._charge_saved(rec, method)
        elif card is not None and not card.three_ds:
            self._settle_with_card(rec, card, three_ds_applied=False)
        else:
            if pmd:
                obj["payment_method"] = {
                    "type": "bank_card",
                    "id": pid,
                    "saved": False,
                    "status": "pending" if save else "inactive",
                }
                if card is not None:
                    obj["payment_method"]["title"] = card.title
                    obj["payment_method"]["card"] = card.as_api()
            conf: dict[str, Any] = {"type": "redirect"}
            if enforce is not None:
                conf["enforce"] = enforce
            conf["return_url"] = return_url
            conf["confirmation_url"] = (
                f"{self.settings.public_url}/checkout/payments/v2/contract?orderId={pid}"
            )
            obj["confirmation"] = conf
            rec.confirm_deadline = now + self.settings.confirmation_ttl
            heapq.heappush(self.deadlines, (rec.confirm_deadline, pid))
        return obj

    def _method_dict(self, rec: PaymentRecord, card: Card, method_id: str, saved: bool) -> dict[str, Any]:
        return {
            "type": "bank_card",
            "id": method_id,
            "saved": saved,
            "status": "active" if saved else "inactive",
            "title": card.title,
            "card": card.as_api(),
        }

    def _authorize(self, rec: PaymentRecord, three_ds_applied: bool) -> None:
        obj = rec.obj
        now = self.now()
        obj.pop("confirmation", None)
        obj["paid"] = True
        obj["authorization_details"] = {
            "rrn": f"{int.from_bytes(os.urandom(5), 'big') % 10**12:012d}",
            "auth_code": f"{int.from_bytes(os.urandom(3), 'big') % 10**6:06d}",
            "three_d_secure": {"applied": three_ds_applied},
        }
        rec.confirm_deadline = None
        if rec.capture:
            self._succeed(rec, now)
        else:
            obj["status"] = "waiting_for_capture"
            rec.capture_deadline = now + self.settings.capture_ttl
            obj["expires_at"] = iso(rec.capture_deadline)
            heapq.heappush(self.deadlines, (rec.capture_deadline, obj["id"]))
            self._emit("payment.waiting_for_capture", obj)

    def _succeed(self, rec: PaymentRecord, now: float) -> None:
        obj = rec.obj
        obj["status"] = "succeeded"
        obj["paid"] = True
        obj.pop("expires_at", None)
        rec.captured_ts = now
        obj["captured_at"] = iso(now)
        income = rec.amount - (rec.amount * FEE_RATE).quantize(CENT, ROUND_HALF_UP)
        obj["income_amount"] = {"value": money(income), "currency": rec.currency}
        obj["refunded_amount"] = {"value": money(rec.refunded), "currency": rec.currency}
        obj["refundable"] = True
        self._register_receipt_later(obj, "payment")
        self._emit("payment.succeeded", obj)

    def _cancel(self, rec: PaymentRecord, party: str, reason: str) -> None:
        obj = rec.obj
        obj["status"] = "canceled"
        obj["paid"] = False
        obj["refundable"] = False
        obj.pop("confirmation", None)
        obj.pop("expires_at", None)
        obj["cancellation_details"] = {"party": party, "reason": reason}
        if "receipt_registration" in obj:
            obj["receipt_registration"] = "canceled"
        rec.confirm_deadline = rec.capture_deadline = None
        self._emit("payment.canceled", obj)

    def _settle_with_card(self, rec: PaymentRecord, card: Card, three_ds_applied: bool) -> None:
        obj = rec.obj
        pid = obj["id"]
        if card.outcome == cards.SUCCEEDED:
            saved = rec.save_requested
            obj["payment_method"] = self._method_dict(rec, card, pid, saved)
            if saved:
                self.methods[pid] = SavedMethod(pid, card, pid)
            self._authorize(rec, three_ds_applied)
        else:
            obj["payment_method"] = self._method_dict(rec, card, pid, False)
            self._cancel(rec, card.party or cards.default_party(card.outcome), card.outcome)

    def _charge_saved(self, rec: PaymentRecord, method: SavedMethod) -> None:
        rec.obj["payment_method"] = self._method_dict(rec, method.card, method.id, True)
        if method.outcome == cards.SUCCEEDED:
            self._authorize(rec, three_ds_applied=False)
        else:
            self._cancel(rec, method.party or cards.default_party(method.outcome), method.outcome)

    def confirm(
        self,
        payment_id: str,
        card_number: str,
        expiry_month: str | None = None,
        expiry_year: str | None = None,
        csc: str | None = None,
    ) -> dict[str, Any]:
        """The payer pays on the checkout page (or a script does it through /sandbox)."""
        rec = self.payments.get(payment_id)
        if rec is None:
            raise ApiError(404, f"Payment {payment_id} not found", "payment_id")
        self.expire_due()
        if rec.obj["status"] != "pending" or "confirmation" not in rec.obj:
            raise ApiError(400, f"Payment {payment_id} is {rec.obj['status']} and awaits no confirmation")
        raw: dict[str, Any] = {"number": card_number}
        if expiry_month:
            raw["expiry_month"] = expiry_month
        if expiry_year:
            raw["expiry_year"] = expiry_year
        if csc:
            raw["csc"] = csc
        card = self._card_from_request(raw, "card")
        self._settle_with_card(rec, card, three_ds_applied=card.three_ds)
        return rec.obj

    def preset_card(self, payment_id: str) -> Card | None:
        rec = self.payments.get(payment_id)
        return rec.card if rec else None

    def _transition_check(self, payment_id: str, action: str) -> PaymentRecord:
        rec = self.payments.get(payment_id)
        if rec is None:
            raise ApiError(404, f"Payment {payment_id} not found", "payment_id")
        self.expire_due()
        status = rec.obj["status"]
        if status != "waiting_for_capture":
            raise bad_request(
                f"Payment {payment_id} cannot be {action}: its status is {status}, "
                "only a payment in status waiting_for_capture can be",
                "payment_id",
            )
        return rec

    def capture_payment(self, payment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        rec = self._transition_check(payment_id, "captured")
        if body.get("transfers") or body.get("airline") or body.get("deal"):
            raise bad_request("transfers, airline and deal are not supported by the sandbox")
        if body.get("amount") is not None:
            amount, currency = self._amount(body["amount"])
            if currency != rec.currency:
                raise bad_request("Capture currency differs from the payment currency", "amount.currency")
            if amount > rec.amount:
                raise bad_request("Capture amount exceeds the payment amount", "amount.value")
            rec.amount = amount
            rec.obj["amount"] = {"value": money(amount), "currency": currency}
        if body.get("receipt") is not None:
            check_receipt(body["receipt"], amount=rec.amount, currency=rec.currency)
        rec.capture_deadline = None
        self._succeed(rec, self.now())
        return rec.obj

    def cancel_payment(self, payment_id: str) -> dict[str, Any]:
        rec = self._transition_check(payment_id, "canceled")
        self._cancel(rec, "merchant", "canceled_by_merchant")
        return rec.obj

    def expire_payment(self, payment_id: str) -> dict[str, Any]:
        """Force the expiry that would happen at the deadline (sandbox helper)."""
        rec = self.payments.get(payment_id)
        if rec is None:
            raise ApiError(404, f"Payment {payment_id} not found", "payment_id")
        status = rec.obj["status"]
        if status == "pending":
            self._cancel(rec, "yoo_money", "expired_on_confirmation")
        elif status == "waiting_for_capture":
            self._cancel(rec, "yoo_money", "expired_on_capture")
        else:
            raise ApiError(400, f"Payment {payment_id} is {status}; only open payments expire")
        return rec.obj

    def _register_receipt_later(self, obj: dict[str, Any], object_type: str) -> None:
        if obj.get("receipt_registration") == "pending":
            when = self.now() + self.settings.receipt_delay
            heapq.heappush(self.receipts_due, (when, object_type, obj["id"]))

    def register_receipts_due(self) -> int:
        """Register the receipts whose moment came: ``succeeded``, or ``canceled`` under a fault."""
        now = self.now()
        done = 0
        while self.receipts_due and self.receipts_due[0][0] <= now:
            _when, object_type, object_id = heapq.heappop(self.receipts_due)
            record = (self.payments if object_type == "payment" else self.refunds).get(object_id)
            if record is None or record.obj.get("receipt_registration") != "pending":
                continue
            failed = self.faults.take_receipt(object_type) is not None
            record.obj["receipt_registration"] = "canceled" if failed else "succeeded"
            done += 1
        return done

    def expire_due(self) -> int:
        """Cancel every payment whose confirmation or capture deadline has passed (and register the
        receipts that are due)."""
        now = self.now()
        self.register_receipts_due()
        done = 0
        while self.deadlines and self.deadlines[0][0] <= now:
            deadline, pid = heapq.heappop(self.deadlines)
            rec = self.payments.get(pid)
            if rec is None:
                continue
            status = rec.obj["status"]
            if status == "pending" and rec.confirm_deadline == deadline:
                self._cancel(rec, "yoo_money", "expired_on_confirmation")
                done += 1
            elif status == "waiting_for_capture" and rec.capture_deadline == deadline:
                self._cancel(rec, "yoo_money", "expired_on_capture")
                done += 1
        return done

    def next_deadline(self) -> float | None:
        moments = [heap[0][0] for heap in (self.deadlines, self.receipts_due) if heap]
        return min(moments) if moments else None

    # ----------------------------------------------------------------- lists
    def _page(
        self, records: list[Any], limit_raw: str | None, cursor: str | None
    ) -> tuple[list[Any], str | None]:
        try:
            limit = int(limit_raw) if limit_raw not in (None, "") else 10
        except ValueError:
            raise bad_request("limit must be an integer from 1 to 100", "limit") from None
        if not 1 <= limit <= 100:
            raise bad_request("limit must be an integer from 1 to 100", "limit")
        start_seq = None
        if cursor:
            try:
                start_seq = int(cursor, 16)
            except ValueError:
                raise bad_request("Invalid cursor", "cursor") from None
        records = sorted(records, key=lambda r: r.seq, reverse=True)
        if start_seq is not None:
            records = [r for r in records if r.seq <= start_seq]
        page = records[: limit + 1]
        next_cursor = f"{page[limit].seq:x}" if len(page) > limit else None
        return page[:limit], next_cursor

    @staticmethod
    def _time_filters(query: dict[str, str], prefix: str) -> list[tuple[str, float]]:
        out = []
        for op in ("gte", "gt", "lte", "lt"):
            raw = query.get(f"{prefix}.{op}")
            if raw:
                out.append((op, parse_iso(raw, f"{prefix}.{op}")))
        return out

    @staticmethod
    def _match_time(ts: float | None, filters: list[tuple[str, float]]) -> bool:
        if not filters:
            return True
        if ts is None:
            return False
        for op, bound in filters:
            # compare at the API's millisecond precision
            t = int(ts * 1000)
            b = round(bound * 1000)
            if (
                (op == "gte" and t < b)
                or (op == "gt" and t <= b)
                or (op == "lte" and t > b)
                or (op == "lt" and t >= b)
            ):
                return False
        return True

    def list_payments(self, query: dict[str, str]) -> dict[str, Any]:
        self.expire_due()
        created = self._time_filters(query, "created_at")
        captured = self._time_filters(query, "captured_at")
        status = query.get("status")
        if status and status not in PAYMENT_STATUSES:
            raise bad_request(f"Invalid status '{status}'", "status")
        method = query.get("payment_method")
        selected = [
            r
            for r in self.payments.values()
            if (not status or r.obj["status"] == status)
            and (not method or r.obj.get("payment_method", {}).get("type") == method)
            and self._match_time(r.created_ts, created)
            and (not captured or self._match_time(r.captured_ts, captured))
        ]
        page, cursor = self._page(selected, query.get("limit"), query.get("cursor"))
        out: dict[str, Any] = {"type": "list", "items": [r.obj for r in page]}
        if cursor:
            out["next_cursor"] = cursor
        return out

    # ----------------------------------------------------------------- refunds
    def get_refund(self, refund_id: str) -> dict[str, Any]:
        self.register_receipts_due()
        rec = self.refunds.get(refund_id)
        if rec is None:
            raise ApiError(404, f"Refund {refund_id} not found", "refund_id")
        return rec.obj

    def create_refund(self, body: dict[str, Any]) -> dict[str, Any]:
        payment_id = body.get("payment_id")
        if not isinstance(payment_id, str) or not payment_id:
            raise bad_request("payment_id is required", "payment_id")
        amount, currency = self._amount(body.get("amount"))
        description = body.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 250):
            raise bad_request("Description must be a string of at most 250 characters", "description")
        if body.get("sources") or body.get("deal") or body.get("refund_method_data"):
            raise bad_request("sources, deal and refund_method_data are not supported by the sandbox")
        metadata = self._metadata(body.get("metadata"))
        receipt = body.get("receipt")
        if receipt is not None or self.settings.fiscalization:
            check_receipt(receipt, amount=amount, currency=currency)
        self.expire_due()
        prec = self.payments.get(payment_id)
        if prec is None:
            raise bad_request(f"Payment {payment_id} not found", "payment_id")
        if prec.obj["status"] != "succeeded":
            raise bad_request(
                f"Payment {payment_id} cannot be refunded: its status is {prec.obj['status']}, "
                "only succeeded payments can be refunded",
                "payment_id",
            )
        if currency != prec.currency:
            raise bad_request("Refund currency differs from the payment currency", "amount.currency")
        available = prec.amount - prec.refunded - prec.reserved
        if amount > available:
            raise bad_request(
                f"Refund amount {money(amount)} exceeds the amount available for refund ({money(available)})",
                "amount.value",
            )
        behaviour = (
            self.refund_behaviour.get(payment_id) or self.refund_behaviour.get(None) or RefundBehaviour()
        )
        now = self.now()
        rid = _new_id("0015")
        while rid in self.refunds:
            rid = _new_id("0015")
        obj: dict[str, Any] = {
            "id": rid,
            "payment_id": payment_id,
            "status": "pending",
            "created_at": iso(now),
            "amount": {"value": money(amount), "currency": currency},
        }
        if description is not None:
            obj["description"] = description
        if metadata is not None:
            obj["metadata"] = metadata
        if receipt is not None:
            obj["receipt_registration"] = "pending"
        rec = RefundRecord(obj=obj, seq=self._next_seq(), created_ts=now, amount=amount)
        self.refunds[rid] = rec
        prec.reserved += amount
        if behaviour.outcome != "pending":
            self._finish_refund(rec, behaviour.outcome, behaviour.party)
        return obj

    def _finish_refund(self, rec: RefundRecord, outcome: str, party: str = "refund_network") -> None:
        prec = self.payments[rec.obj["payment_id"]]
        prec.reserved -= rec.amount
        if outcome == cards.SUCCEEDED:
            rec.obj["status"] = "succeeded"
            rec.obj["refund_authorization_details"] = {
                "rrn": f"{int.from_bytes(os.urandom(5), 'big') % 10**12:012d}"
            }
            prec.refunded += rec.amount
            prec.obj["refunded_amount"] = {"value": money(prec.refunded), "currency": prec.currency}
            prec.obj["refundable"] = prec.refunded < prec.amount
            self._register_receipt_later(rec.obj, "refund")
            self._emit("refund.succeeded", rec.obj)
        else:
            rec.obj["status"] = "canceled"
            rec.obj["cancellation_details"] = {"party": party, "reason": outcome}
            if "receipt_registration" in rec.obj:
                rec.obj["receipt_registration"] = "canceled"

    def complete_refund(self, refund_id: str, outcome: str, party: str | None = None) -> dict[str, Any]:
        rec = self.refunds.get(refund_id)
        if rec is None:
            raise ApiError(404, f"Refund {refund_id} not found", "refund_id")
        if rec.obj["status"] != "pending":
            raise ApiError(400, f"Refund {refund_id} is already {rec.obj['status']}")
        check_refund_outcome(outcome, allow_pending=False)
        self._finish_refund(rec, outcome, party or "refund_network")
        return rec.obj

    def list_refunds(self, query: dict[str, str]) -> dict[str, Any]:
        created = self._time_filters(query, "created_at")
        status = query.get("status")
        if status and status not in REFUND_STATUSES:
            raise bad_request(f"Invalid status '{status}'", "status")
        payment_id = query.get("payment_id")
        selected = [
            r
            for r in self.refunds.values()
            if (not status or r.obj["status"] == status)
            and (not payment_id or r.obj["payment_id"] == payment_id)
            and self._match_time(r.created_ts, created)
        ]
        page, cursor = self._page(selected, query.get("limit"), query.get("cursor"))
        out: dict[str, Any] = {"type": "list", "items": [r.obj for r in page]}
        if cursor:
            out["next_cursor"] = cursor
        return out

    # ----------------------------------------------------------------- POST /payment_methods
    def create_payment_method(self, body: dict[str, Any]) -> dict[str, Any]:
        """A bank card to bind without a payment: pending, with a redirect to the checkout page."""
        if body.get("type") != "bank_card":
            raise bad_request("Only type 'bank_card' is supported by the sandbox", "type")
        if body.get("card"):
            raise bad_request(
                "Card data in the request is not supported by the sandbox (use the redirect)", "card"
            )
        confirmation = body.get("confirmation")
        if not isinstance(confirmation, dict) or confirmation.get("type") != "redirect":
            raise bad_request("confirmation of type 'redirect' is required", "confirmation.type")
        return_url = confirmation.get("return_url")
        if not isinstance(return_url, str) or not return_url or len(return_url) > 2048:
            raise bad_request("return_url is required (at most 2048 characters)", "confirmation.return_url")
        holder = body.get("holder")
        if holder is not None and (
            not isinstance(holder, dict)
            or holder.get("gateway_id")
            not in (
                None,
                self.settings.gateway_id,
            )
        ):
            raise bad_request("Unknown holder.gateway_id", "holder.gateway_id")
        method_id = _new_id("0021")
        while method_id in self.bindings or method_id in self.methods:
            method_id = _new_id("0021")
        obj: dict[str, Any] = {
            "type": "bank_card",
            "id": method_id,
            "saved": False,
            "status": "pending",
            "holder": {"account_id": self.settings.shop_id, "gateway_id": self.settings.gateway_id},
            "confirmation": {
                "type": "redirect",
                "confirmation_url": f"{self.settings.public_url}/checkout/payment_methods"
                f"?methodId={method_id}",
                "return_url": return_url,
            },
        }
        if confirmation.get("enforce") is not None:
            obj["confirmation"]["enforce"] = _bool(confirmation, "enforce")
        self.bindings[method_id] = BindingRecord(obj=obj, return_url=return_url)
        return obj

    def get_payment_method(self, method_id: str) -> dict[str, Any]:
        rec = self.bindings.get(method_id)
        if rec is None:
            raise ApiError(404, f"Payment method {method_id} not found", "payment_method_id")
        return rec.obj

    def confirm_payment_method(
        self,
        method_id: str,
        card_number: str,
        expiry_month: str | None = None,
        expiry_year: str | None = None,
        csc: str | None = None,
    ) -> dict[str, Any]:
        """The payer enters a card on the binding page: a card that pays is saved (``active``, usable as
        ``payment_method_id``, ``payment_method.active`` sent); a declining card leaves it ``inactive``."""
        rec = self.bindings.get(method_id)
        if rec is None:
            raise ApiError(404, f"Payment method {method_id} not found", "payment_method_id")
        if rec.obj["status"] != "pending":
            raise ApiError(400, f"Payment method {method_id} is {rec.obj['status']} and awaits no card")
        raw: dict[str, Any] = {"number": card_number}
        for name, value in (("expiry_month", expiry_month), ("expiry_year", expiry_year), ("csc", csc)):
            if value:
                raw[name] = value
        card = self._card_from_request(raw, "card")
        obj = rec.obj
        obj.pop("confirmation", None)
        obj["title"] = card.title
        obj["card"] = card.as_api()
        if card.outcome != cards.SUCCEEDED:
            obj["status"] = "inactive"
            return obj
        obj["status"] = "active"
        obj["saved"] = True
        self.methods[method_id] = SavedMethod(method_id, card, source_payment_id="")
        self._emit("payment_method.active", obj)
        return obj

    # ----------------------------------------------------------------- sandbox controls
    def set_method_behaviour(self, method_id: str, outcome: str, party: str | None = None) -> SavedMethod:
        method = self.methods.get(method_id)
        if method is None:
            raise ApiError(404, f"Saved payment method {method_id} not found")
        if outcome != cards.SUCCEEDED and outcome not in cards.PAYMENT_CANCEL_REASONS:
            raise ApiError(400, f"Unknown outcome '{outcome}': 'succeeded' or a payment cancellation reason")
        if party is not None and party not in ("yoo_money", "payment_network", "merchant"):
            raise ApiError(400, f"Unknown party '{party}'")
        method.outcome = outcome
        method.party = party
        return method

    def set_refund_behaviour(
        self, outcome: str, payment_id: str | None = None, party: str | None = None
    ) -> None:
        check_refund_outcome(outcome, allow_pending=True)
        if party is not None and party not in ("yoo_money", "refund_network"):
            raise ApiError(400, f"Unknown refund party '{party}'")
        self.refund_behaviour[payment_id] = RefundBehaviour(outcome, party or "refund_network")


def check_refund_outcome(outcome: str, allow_pending: bool) -> None:
    allowed = {cards.SUCCEEDED, *REFUND_CANCEL_REASONS} | ({"pending"} if allow_pending else set())
    if outcome not in allowed:
        raise ApiError(400, f"Unknown refund outcome '{outcome}': one of {sorted(allowed)}")


@dataclass
class IdempotencyEntry:
    method: str
    path: str
    raw: bytes
    parsed: Any
    status: int
    response: bytes
    object_id: str | None
    ts: float
    extra: dict[str, Any] = field(default_factory=dict)
