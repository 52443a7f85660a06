"""Where YooKassa sends the buyer back after paying, when the client gave no `return_url` of its own.

A small page in the buyer's language (Accept-Language, else the deployment's default) that says what
became of the purchase: the plan, the amount and what happens next. While the payment settles, a
script asks for the page again and updates the status in a live region that screen readers announce
(without scripts, a plain refresh does it). It needs no login: the subscription id in the link is
unguessable and the page shows only the purchase's status.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kinobill.i18n import LocaleZone, negotiate
from kinobill.i18n.templates import Templates
from kinobill.runtime import get_runtime
from kinobill.subscriptions.bootstrap import unit_of_work

return_router = APIRouter(tags=["user"])
PAGES = Templates(Path(__file__).parent / "templates")


@dataclass(frozen=True)
class ReturnPage:
    purchase_id: uuid.UUID
    status: str  # awaiting_payment | active | ended | unknown (no such purchase)
    plan_name: str | None
    period: str | None  # month | year
    amount: int | None  # kopecks
    paid_until: datetime | None
    auto_renew: bool


def _page(subscription_id: uuid.UUID) -> ReturnPage:
    with unit_of_work()() as uow:
        sub = uow.subscriptions.get(subscription_id)
        plan = uow.plans.get(sub.plan_id) if sub is not None else None
    if sub is None:
        return ReturnPage(subscription_id, "unknown", None, None, None, None, False)
    return ReturnPage(
        purchase_id=subscription_id,
        status=sub.status,
        plan_name=plan.name if plan is not None else None,
        period=sub.period,
        amount=sub.price,
        paid_until=sub.current_period_end if sub.status == "active" else None,
        auto_renew=bool(sub.auto_renew),
    )


@return_router.get(
    "/return/{subscription_id}",
    response_class=HTMLResponse,
    responses={404: {"description": "No such purchase (a page saying so)", "content": {"text/html": {}}}},
    openapi_extra={"security": []},  # where YooKassa sends the buyer back: no token
)
def payment_return(subscription_id: uuid.UUID, request: Request) -> HTMLResponse:
    settings = get_runtime().settings
    default = settings.reader_default
    reader = LocaleZone(negotiate(request.headers.get("accept-language"), default.locale), default.zoneinfo)
    page = _page(subscription_id)
    markup = PAGES.render("return.html", page, reader)
    return HTMLResponse(
        markup,
        status_code=404 if page.status == "unknown" else 200,
        headers={
            "Content-Language": reader.locale,
            "Vary": "Accept-Language",
            "Cache-Control": "no-store",
            "Content-Security-Policy": content_security_policy(markup),
        },
    )


def _hashes(markup: str, tag: str) -> str:
    """The CSP source list allowing exactly the inline `<tag>` blocks of this page, or 'none'."""
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", markup, flags=re.S)
    digests = [base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() for block in found]
    return " ".join(f"'sha256-{digest}'" for digest in digests) or "'none'"


def content_security_policy(markup: str) -> str:
    """Nothing but this page's own style and script (by hash) and its status checks on this origin."""
    return (
        f"default-src 'none'; style-src {_hashes(markup, 'style')}; script-src {_hashes(markup, 'script')}; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
