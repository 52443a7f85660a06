"""Every e-mail kind with sample data, rendered to files for operators and designers to look at
(`kinobill mail preview KIND --locale ru`): the HTML part, the plain-text part and the whole message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kinobill.i18n import LocaleZone
from kinobill.i18n.templates import RenderedMail, Templates
from kinobill.mail_message import compose

PACKAGE = Path(__file__).parent
FOLDERS = {"subscriptions": PACKAGE / "subscriptions" / "mail", "billing": PACKAGE / "billing" / "mail"}
MOMENT = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 10:00 in Moscow
PLAN = "Премиум"

_COMMON: dict[str, Any] = {"plan": PLAN}
SAMPLES: dict[str, dict[str, Any]] = {
    "subscription_activated": {**_COMMON, "paid_until": MOMENT + timedelta(days=30)},
    "subscription_renewed": {**_COMMON, "paid_until": MOMENT + timedelta(days=61)},
    "renewal_reminder": {**_COMMON, "amount": 29900, "charge_at": MOMENT + timedelta(days=3), "days": 3},
    "renewal_failed": {
        **_COMMON,
        "next_attempt_at": MOMENT + timedelta(days=2),
        "access_until": MOMENT + timedelta(days=4),
    },
    "subscription_ended_payment_failed": dict(_COMMON),
    "subscription_ended_cancelled": dict(_COMMON),
    "subscription_ended_expired": dict(_COMMON),
    "subscription_cancelled": {**_COMMON, "access_until": MOMENT + timedelta(days=12)},
    "plan_price_changed": {**_COMMON, "period": "month", "old_amount": 29900, "new_amount": 34900},
    "payment_succeeded": {"amount": 29900, "description": "Премиум, месяц"},
    "payment_canceled": {"amount": 29900, "description": "Премиум, месяц", "reason": "insufficient_funds"},
    "payment_duplicate": {"amount": 29900, "description": "Премиум, месяц"},
    "refund_started": {
        "amount": 14950,
        "description": "Премиум, месяц",
        "status_url": "https://billing.kinobill.example/api/v1/refunds/0b0e5c6e-5d1b-4a8e-9a43-2a3c1f6f0d11",
    },
    "refund_succeeded": {"amount": 14950},
    "refund_canceled": {"amount": 14950, "reason": "general_decline"},
}


def templates_for(kind: str) -> Templates:
    for folder in FOLDERS.values():
        if (folder / f"{kind}.txt").exists():
            return Templates(folder)
    raise LookupError(f"no e-mail kind {kind!r}; known: {', '.join(sorted(all_kinds()))}")


def all_kinds() -> list[str]:
    return sorted(kind for folder in FOLDERS.values() for kind in Templates(folder).kinds())


def render_sample(kind: str, reader: LocaleZone) -> RenderedMail:
    templates = templates_for(kind)
    if kind not in SAMPLES:
        raise LookupError(f"no sample data for {kind!r}")
    return templates.render_mail(kind, SAMPLES[kind], reader)


@dataclass(frozen=True)
class Preview:
    html: Path
    text: Path
    message: Path


def write_preview(kind: str, reader: LocaleZone, out_dir: Path) -> Preview:
    """`<kind>.<locale>.html`, `.txt` (subject first) and `.eml` (the multipart message) in `out_dir`."""
    mail = render_sample(kind, reader)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{kind}.{reader.locale}"
    preview = Preview(out_dir / f"{stem}.html", out_dir / f"{stem}.txt", out_dir / f"{stem}.eml")
    preview.html.write_text(mail.html, encoding="utf-8")
    preview.text.write_text(f"Subject: {mail.subject}\n\n{mail.text}", encoding="utf-8")
    message = compose(
        sender="Kinobill <billing@kinobill.local>",
        to="viewer@example.com",
        message_id=uuid.UUID(int=0),
        created_at=MOMENT,
        kind=kind,
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        locale=reader.locale,
    )
    preview.message.write_bytes(message.as_bytes())
    return preview
