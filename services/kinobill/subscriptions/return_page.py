"""Where YooKassa sends the buyer back after paying, when the client gave no `return_url` of its own.

A small page that says what became of the purchase, refreshing itself while the payment settles. It
needs no login: the subscription id in the link is unguessable and the page shows only the status.
"""

from __future__ import annotations

import html
import uuid

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from kinobill.runtime import get_runtime
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork

return_router = APIRouter(tags=["user"])

MESSAGES = {
    "awaiting_payment": ("Payment is being confirmed…", "This page refreshes by itself."),
    "active": ("Your subscription is active", "Enjoy watching! A confirmation is on its way to your e-mail."),
    "ended": ("The payment did not go through", "Nothing was charged. You can buy the subscription again."),
}


def return_url_for(subscription_id: uuid.UUID) -> str:
    return f"{get_runtime().settings.subscriptions_public_url}/return/{subscription_id}"


@return_router.get("/return/{subscription_id}", response_class=HTMLResponse, include_in_schema=False)
def payment_return(subscription_id: uuid.UUID) -> HTMLResponse:
    with SubscriptionsUnitOfWork(get_runtime().engine) as uow:
        sub = uow.subscriptions.get(subscription_id)
    if sub is None:
        return HTMLResponse("<h1>Unknown purchase</h1>", status_code=404)
    title, text = MESSAGES.get(sub.status, ("Purchase", ""))
    refresh = '<meta http-equiv="refresh" content="2">' if sub.status == "awaiting_payment" else ""
    page = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8>{refresh}<title>Kinobill</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
        f"<p><small>Purchase {html.escape(str(subscription_id))}: {html.escape(sub.status)}</small></p>"
        "</body></html>"
    )
    return HTMLResponse(page)
