"""Small helpers shared by the sandbox tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from yookassa import Payment

from yookassa_sandbox.testing import SandboxHandle

RETURN_URL = "https://kinobill.example/return"
SUCCESS_CARD = "5555555555554444"
THREE_DS_CARD = "5555555555554477"


def raw(sandbox: SandboxHandle, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A request to /v3 without the SDK (to see status codes, headers and the exact JSON)."""
    return httpx.request(
        method,
        f"{sandbox.api_url}{path}",
        auth=(sandbox.shop_id, sandbox.secret_key),
        verify=sandbox.ca_file or True,
        timeout=10.0,
        **kwargs,
    )


def get_json(sandbox: SandboxHandle, path: str, **params: Any) -> dict[str, Any]:
    resp = raw(sandbox, "GET", path, params=params)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def create(
    amount: str = "499.00",
    *,
    capture: bool = True,
    save: bool | None = None,
    key: str | None = None,
    description: str = "Kinobill subscription",
    **extra: Any,
) -> Any:
    params: dict[str, Any] = {
        "amount": {"value": amount, "currency": "RUB"},
        "capture": capture,
        "confirmation": {"type": "redirect", "return_url": RETURN_URL},
        "description": description,
        **extra,
    }
    if save is not None:
        params["save_payment_method"] = save
    return Payment.create(params, key or str(uuid.uuid4()))


def paid(
    sandbox: SandboxHandle, *, capture: bool = True, save: bool = False, card: str = SUCCESS_CARD
) -> Any:
    payment = create(capture=capture, save=save)
    sandbox.confirm(payment.id, card)
    return Payment.find_one(payment.id)
