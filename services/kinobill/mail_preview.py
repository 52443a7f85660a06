"""Every e-mail kind with sample data, rendered to files for operators and designers to look at
(`kinobill mail preview KIND --locale ru`): the HTML part, the plain-text part and the whole message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kinobill.billing import notifications as billing
from kinobill.i18n import LocaleZone
from kinobill.i18n.templates import RenderedMail, Templates
from kinobill.mail_message import compose
from kinobill.subscriptions import notifications as subscriptions

MOMENT = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 10:00 in Moscow
PLAN = "Премиум"
DESCRIPTION = "Kinobill Премиум, 1 месяц"
REFUND_URL = "https://billing.kinobill.example/api/v1/refunds/0b0e5c6e-5d1b-4a8e-9a43-2a3c1f6f0d11"
DAY = timedelta(days=1)

Sample = subscriptions.Notification | billing.Notification
_SAMPLES: tuple[Sample, ...] = (
    subscriptions.SubscriptionActivated(plan=PLAN, paid_until=MOMENT + 30 * DAY),
    subscriptions.SubscriptionRenewed(plan=PLAN, paid_until=MOMENT + 61 * DAY),
    subscriptions.RenewalReminder(plan=PLAN, amount=29900, days=3, charge_at=MOMENT + 3 * DAY),
    subscriptions.RenewalFailed(plan=PLAN, next_attempt_at=MOMENT + 2 * DAY, access_until=MOMENT + 4 * DAY),
    *(subscriptions.SubscriptionEnded(plan=PLAN, reason=r) for r in sorted(subscriptions.ENDED_REASONS_TOLD)),
    subscriptions.SubscriptionCancelled(plan=PLAN, access_until=MOMENT + 12 * DAY),
    subscriptions.PlanPriceChanged(plan=PLAN, period="month", old_amount=29900, new_amount=34900),
    subscriptions.CardUpdateNeeded(plan=PLAN, reason="card_expired", access_until=MOMENT + 4 * DAY),
    subscriptions.CardChanged(plan=PLAN, card="Bank card *4444", retry_now=True),
    billing.PaymentSucceeded(amount=29900, description=DESCRIPTION),
    billing.PaymentCanceled(amount=29900, description=DESCRIPTION, reason="insufficient_funds"),
    billing.PaymentDuplicate(amount=29900, description=DESCRIPTION),
    billing.RefundStarted(amount=14950, description=DESCRIPTION, status_url=REFUND_URL),
    billing.RefundSucceeded(amount=14950),
    billing.RefundCanceled(amount=14950, reason="general_decline"),
)
SAMPLES: dict[str, Sample] = {sample.kind: sample for sample in _SAMPLES}
SERVICES = (subscriptions, billing)


def templates_for(kind: str) -> Templates:
    for service in SERVICES:
        if kind in service.MAIL.kinds():
            return service.MAIL.templates
    raise LookupError(f"no e-mail kind {kind!r}; known: {', '.join(all_kinds())}")


def all_kinds() -> list[str]:
    return sorted(kind for service in SERVICES for kind in service.MAIL.kinds())


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
