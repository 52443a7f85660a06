"""The payer's side: the checkout page behind ``confirmation.confirmation_url``.

``GET /checkout/payments/v2/contract?orderId=<payment id>`` shows a card form. The documented test card
decides the outcome; 3-D Secure cards get an extra page asking for a code (any code passes, except for the
``3d_secure_failed`` card). Afterwards the payer is redirected (303) to the payment's ``return_url``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jinja2 import DictLoader, Environment, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from . import cards
from .errors import ApiError

if TYPE_CHECKING:
    from .app import Sandbox

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{% block title %}YooKassa sandbox checkout{% endblock %}</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}
main{max-width:420px;margin:48px auto;background:#fff;border-radius:12px;padding:28px;
  box-shadow:0 2px 12px #0002}
label{display:block;margin:12px 0 4px;font-size:14px;color:#444}
input{width:100%;box-sizing:border-box;padding:10px;font-size:16px;border:1px solid #bbb;border-radius:6px}
.row{display:flex;gap:12px}.row>div{flex:1}
button{margin-top:20px;width:100%;padding:12px;font-size:16px;border:0;border-radius:6px;background:#2b7cff;color:#fff}
.error{color:#b00020;margin-top:12px}.muted{color:#777;font-size:13px}.amount{font-size:28px;margin:8px 0}
</style></head><body><main>{% block body %}{% endblock %}</main></body></html>"""

_FORM = """{% extends "base" %}{% block body %}
<div class="muted">Test shop {{ shop_id }} · sandbox</div>
<div class="amount" id="amount">{{ amount }} {{ currency }}</div>
<div id="description">{{ description }}</div>
<form method="post" action="{{ action }}" id="card-form">
  <label for="card_number">Card number</label>
  <input id="card_number" name="card_number" inputmode="numeric" autocomplete="cc-number" required
         value="{{ card_number }}">
  <div class="row">
    <div><label for="expiry">Valid thru (MM/YY)</label>
      <input id="expiry" name="expiry" placeholder="12/30" autocomplete="cc-exp" required
             value="{{ expiry }}"></div>
    <div><label for="csc">CVC</label>
      <input id="csc" name="csc" inputmode="numeric" autocomplete="cc-csc" required maxlength="4"></div>
  </div>
  <label for="cardholder">Cardholder</label>
  <input id="cardholder" name="cardholder" autocomplete="cc-name">
  {% if error %}<div class="error" id="error">{{ error }}</div>{% endif %}
  <button type="submit" id="pay">Pay {{ amount }} {{ currency }}</button>
</form>
{% if return_url %}<p><a href="{{ return_url }}" id="back">Back to the shop</a></p>{% endif %}
{% endblock %}"""

_THREE_DS = """{% extends "base" %}{% block title %}3-D Secure{% endblock %}{% block body %}
<h2>3-D Secure</h2>
<p>Your bank sent a confirmation code for the payment of <b>{{ amount }} {{ currency }}</b> with the card
*{{ last4 }}. Any code will do in the sandbox.</p>
<form method="post" action="{{ action }}" id="three-ds-form">
  <input type="hidden" name="card_number" value="{{ card_number }}">
  <input type="hidden" name="expiry" value="{{ expiry }}">
  <input type="hidden" name="csc" value="{{ csc }}">
  <label for="code">Confirmation code</label>
  <input id="code" name="code" inputmode="numeric" required>
  <button type="submit" id="confirm">Confirm</button>
</form>{% endblock %}"""

_RESULT = """{% extends "base" %}{% block title %}Payment {{ status }}{% endblock %}{% block body %}
<h2 id="status" data-status="{{ status }}">{{ heading }}</h2>
{% if reason %}<p id="reason">Reason: {{ reason }}</p>{% endif %}
<p class="muted">Payment {{ payment_id }}</p>
{% if return_url %}<p><a href="{{ return_url }}" id="back">Back to the shop</a></p>{% endif %}
{% endblock %}"""

_BIND = """{% extends "base" %}{% block title %}Link a card{% endblock %}{% block body %}
<div class="muted">Test shop {{ shop_id }} · sandbox</div>
<h2 id="binding">Link a card for future payments</h2>
<form method="post" action="{{ action }}" id="card-form">
  <label for="card_number">Card number</label>
  <input id="card_number" name="card_number" inputmode="numeric" autocomplete="cc-number" required
         value="{{ card_number }}">
  <div class="row">
    <div><label for="expiry">Valid thru (MM/YY)</label>
      <input id="expiry" name="expiry" placeholder="12/30" autocomplete="cc-exp" required></div>
    <div><label for="csc">CVC</label>
      <input id="csc" name="csc" inputmode="numeric" autocomplete="cc-csc" required maxlength="4"></div>
  </div>
  {% if error %}<div class="error" id="error">{{ error }}</div>{% endif %}
  <button type="submit" id="link">Link the card</button>
</form>
<p><a href="{{ return_url }}" id="back">Back to the shop</a></p>
{% endblock %}"""

_BOUND = """{% extends "base" %}{% block title %}Card {{ status }}{% endblock %}{% block body %}
<h2 id="status" data-status="{{ status }}">{{ heading }}</h2>
{% if return_url %}<p><a href="{{ return_url }}" id="back">Back to the shop</a></p>{% endif %}
{% endblock %}"""

_env = Environment(
    loader=DictLoader(
        {
            "base": _BASE,
            "form": _FORM,
            "3ds": _THREE_DS,
            "result": _RESULT,
            "bind": _BIND,
            "bound": _BOUND,
        }
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_EXPIRY = re.compile(r"\s*(0[1-9]|1[0-2])\s*/\s*([0-9]{2}|[0-9]{4})\s*")


def _page(name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(_env.get_template(name).render(**ctx), status_code=status_code)


def _parse_expiry(raw: str) -> tuple[str, str] | None:
    m = _EXPIRY.fullmatch(raw or "")
    if not m:
        return None
    month, year = m.group(1), m.group(2)
    if len(year) == 2:
        year = f"20{year}"
    now = datetime.now(UTC)
    if (int(year), int(month)) < (now.year, now.month):
        return None
    return month, year


def routes(sandbox: Sandbox) -> list[Route]:
    store = sandbox.store

    def payment_or_404(request: Request) -> dict[str, Any] | None:
        pid = request.query_params.get("orderId", "")
        store.expire_due()
        rec = store.payments.get(pid)
        return rec.obj if rec else None

    def result(obj: dict[str, Any], return_url: str | None) -> Response:
        status = obj["status"]
        heading = {
            "succeeded": "Payment succeeded",
            "waiting_for_capture": "Payment authorised",
            "canceled": "Payment declined",
            "pending": "Payment pending",
        }[status]
        reason = obj.get("cancellation_details", {}).get("reason")
        return _page(
            "result",
            status=status,
            heading=heading,
            reason=reason,
            payment_id=obj["id"],
            return_url=return_url,
        )

    def form(obj: dict[str, Any], error: str | None = None, **values: str) -> HTMLResponse:
        conf = obj.get("confirmation", {})
        return _page(
            "form",
            status_code=400 if error else 200,
            shop_id=sandbox.settings.shop_id,
            amount=obj["amount"]["value"],
            currency=obj["amount"]["currency"],
            description=obj.get("description", ""),
            action=f"/checkout/payments/v2/contract?orderId={obj['id']}",
            return_url=conf.get("return_url"),
            error=error,
            card_number=values.get("card_number", ""),
            expiry=values.get("expiry", ""),
        )

    def finish(obj: dict[str, Any], number: str, month: str, year: str, csc: str | None) -> Response:
        return_url = obj.get("confirmation", {}).get("return_url")
        try:
            store.confirm(obj["id"], number, month, year, csc)
        except ApiError as exc:
            return form(obj, exc.description, card_number=number, expiry=f"{month}/{year[2:]}")
        if return_url:
            return RedirectResponse(return_url, status_code=303)
        return result(obj, None)

    async def show(request: Request) -> Response:
        obj = payment_or_404(request)
        if obj is None:
            return _page("result", 404, status="unknown", heading="Payment not found", payment_id="")
        if obj["status"] != "pending" or "confirmation" not in obj:
            return result(obj, obj.get("confirmation", {}).get("return_url"))
        preset = store.preset_card(obj["id"])
        if preset is not None:  # card data came with the API request: only 3-D Secure is left to do
            return three_ds_page(obj, preset.number, f"{preset.expiry_month}/{preset.expiry_year[2:]}", "")
        return form(obj)

    def three_ds_page(obj: dict[str, Any], number: str, expiry: str, csc: str) -> HTMLResponse:
        return _page(
            "3ds",
            amount=obj["amount"]["value"],
            currency=obj["amount"]["currency"],
            last4=number[-4:],
            card_number=number,
            expiry=expiry,
            csc=csc,
            action=f"/checkout/payments/v2/3ds?orderId={obj['id']}",
        )

    async def submit(request: Request) -> Response:
        obj = payment_or_404(request)
        if obj is None:
            return _page("result", 404, status="unknown", heading="Payment not found", payment_id="")
        if obj["status"] != "pending" or "confirmation" not in obj:
            return result(obj, obj.get("confirmation", {}).get("return_url"))
        data = await request.form()
        number = cards.normalise_number(str(data.get("card_number", "")))
        expiry_raw = str(data.get("expiry", ""))
        csc = str(data.get("csc", "")).strip()
        if not cards.looks_like_card(number):
            return form(obj, "Enter a valid card number", card_number=number, expiry=expiry_raw)
        test_card = cards.lookup(number)
        if test_card is None:
            return form(
                obj,
                "Only the documented test cards work in a test shop",
                card_number=number,
                expiry=expiry_raw,
            )
        expiry = _parse_expiry(expiry_raw)
        if expiry is None:
            return form(
                obj, "Enter a valid expiry date (MM/YY) in the future", card_number=number, expiry=expiry_raw
            )
        if not re.fullmatch(r"[0-9]{3,4}", csc):
            return form(obj, "Enter the 3 or 4 digit CVC", card_number=number, expiry=expiry_raw)
        if test_card.three_ds:
            return three_ds_page(obj, number, expiry_raw, csc)
        return finish(obj, number, expiry[0], expiry[1], csc)

    async def submit_3ds(request: Request) -> Response:
        obj = payment_or_404(request)
        if obj is None:
            return _page("result", 404, status="unknown", heading="Payment not found", payment_id="")
        if obj["status"] != "pending" or "confirmation" not in obj:
            return result(obj, obj.get("confirmation", {}).get("return_url"))
        data = await request.form()
        number = cards.normalise_number(str(data.get("card_number", "")))
        expiry = _parse_expiry(str(data.get("expiry", "")))
        if expiry is None or not str(data.get("code", "")).strip():
            return three_ds_page(obj, number, str(data.get("expiry", "")), str(data.get("csc", "")))
        return finish(obj, number, expiry[0], expiry[1], str(data.get("csc", "")) or None)

    def binding_or_none(request: Request) -> Any:
        return store.bindings.get(request.query_params.get("methodId", ""))

    def bound(obj: dict[str, Any], return_url: str | None) -> HTMLResponse:
        heading = {"active": "Card linked", "inactive": "Card declined", "pending": "Waiting for a card"}
        return _page("bound", status=obj["status"], heading=heading[obj["status"]], return_url=return_url)

    def bind_form(binding: Any, error: str | None = None, card_number: str = "") -> HTMLResponse:
        return _page(
            "bind",
            status_code=400 if error else 200,
            shop_id=sandbox.settings.shop_id,
            action=f"/checkout/payment_methods?methodId={binding.obj['id']}",
            return_url=binding.return_url,
            error=error,
            card_number=card_number,
        )

    async def show_binding(request: Request) -> Response:
        binding = binding_or_none(request)
        if binding is None:
            return _page("bound", 404, status="pending", heading="Payment method not found", return_url=None)
        if binding.obj["status"] != "pending":
            return bound(binding.obj, binding.return_url)
        return bind_form(binding)

    async def submit_binding(request: Request) -> Response:
        binding = binding_or_none(request)
        if binding is None:
            return _page("bound", 404, status="pending", heading="Payment method not found", return_url=None)
        if binding.obj["status"] != "pending":
            return bound(binding.obj, binding.return_url)
        data = await request.form()
        number = cards.normalise_number(str(data.get("card_number", "")))
        expiry = _parse_expiry(str(data.get("expiry", "")))
        csc = str(data.get("csc", "")).strip()
        if expiry is None:
            return bind_form(binding, "Enter a valid expiry date (MM/YY) in the future", number)
        try:
            store.confirm_payment_method(binding.obj["id"], number, expiry[0], expiry[1], csc or None)
        except ApiError as exc:
            return bind_form(binding, exc.description, number)
        return RedirectResponse(binding.return_url, status_code=303)

    return [
        Route("/checkout/payment_methods", show_binding, methods=["GET"]),
        Route("/checkout/payment_methods", submit_binding, methods=["POST"]),
        Route("/checkout/payments/v2/contract", show, methods=["GET"]),
        Route("/checkout/payments/v2/contract", submit, methods=["POST"]),
        Route("/checkout/payments/v2/3ds", submit_3ds, methods=["POST"]),
    ]
