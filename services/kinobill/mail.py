"""E-mail: written as rows in the same transaction as the event, sent by a worker.

Each e-mail has a dedupe key (one per event: e.g. `payment-succeeded:<payment id>`), so an event
applied twice never queues two e-mails. The sender claims a batch, sends, then marks them sent; a crash
between sending and marking resends with the same Message-ID (at-least-once, deduplicated by clients).
"""

from __future__ import annotations

import logging
import smtplib
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.dialects.postgresql import insert

from kinobill.mail_message import compose
from kinobill.pacing import IdleBackoff

log = logging.getLogger(__name__)

EMAILS_SENT = Counter("kinobill_emails_sent_total", "E-mails handed to SMTP", ["kind"])
EMAILS_FAILED = Counter("kinobill_email_failures_total", "E-mail send failures", ["kind"])
CLAIM = timedelta(seconds=60)


@dataclass(frozen=True)
class Email:
    """A rendered e-mail: its kind (which e-mail it is), subject and text. Each service's
    ``notifications`` module renders these from typed contexts. `body` is the plain-text part, `html`
    the HTML part; `locale` and `zoneinfo` are what it was rendered in (kept so a resend is the same)."""

    kind: str
    subject: str
    body: str
    html: str | None = None
    locale: str | None = None
    zoneinfo: str | None = None


def _row(dedupe_key: str, to: str, user_id: uuid.UUID | None, email: Email) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "dedupe_key": dedupe_key,
        "to_address": to,
        "user_id": user_id,
        "kind": email.kind,
        "subject": email.subject,
        "body": email.body,
        "html_body": email.html,
        "locale": email.locale,
        "zoneinfo": email.zoneinfo,
    }


def queue_email(
    conn: sa.Connection,
    table: sa.Table,
    *,
    dedupe_key: str,
    to: str | None,
    user_id: uuid.UUID | None,
    email: Email,
) -> bool:
    """Queue an e-mail in the caller's transaction; False when this event already queued it."""
    if not to:
        log.warning("no e-mail address for user %s; %s not sent", user_id, email.kind)
        return False
    result = conn.execute(
        insert(table)
        .values(_row(dedupe_key, to, user_id, email))
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    return bool(result.rowcount)


def queue_emails(conn: sa.Connection, table: sa.Table, emails: Sequence[dict[str, Any]]) -> int:
    """`queue_email` for several (each a dict of its keyword arguments): one multi-row INSERT, the
    same dedupe. Returns how many were queued."""
    rows = []
    for e in emails:
        if not e["to"]:
            log.warning("no e-mail address for user %s; %s not sent", e["user_id"], e["email"].kind)
            continue
        rows.append(_row(e["dedupe_key"], e["to"], e["user_id"], e["email"]))
    if not rows:
        return 0
    result = conn.execute(insert(table).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"]))
    return int(result.rowcount)


class EmailSender:
    def __init__(
        self,
        engine: sa.Engine,
        table: sa.Table,
        *,
        smtp_host: str,
        smtp_port: int,
        sender: str,
        now: Callable[[], datetime],
        batch: int = 50,
        claim: timedelta = CLAIM,
        crash_point: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.engine, self.table = engine, table
        self.smtp_host, self.smtp_port, self.sender = smtp_host, smtp_port, sender
        self.now, self.batch, self.crash_point = now, batch, crash_point
        self.claim = claim  # a sender that dies holding a batch releases it after this long

    def _claim(self) -> list[Any]:
        t = self.table
        now = self.now()
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(t)
                .where(t.c.sent_at.is_(None), sa.or_(t.c.claimed_until.is_(None), t.c.claimed_until < now))
                .order_by(t.c.created_at)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                conn.execute(
                    t.update()
                    .where(t.c.id.in_([r.id for r in rows]))
                    .values(claimed_until=now + self.claim, attempts=t.c.attempts + 1)
                )
            return list(rows)

    def send_once(self) -> int:
        rows = self._claim()
        if not rows:
            return 0
        sent: list[uuid.UUID] = []
        try:
            with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=10) as smtp:
                for row in rows:
                    message = compose(
                        sender=self.sender,
                        to=row.to_address,
                        message_id=row.id,
                        created_at=row.created_at,
                        kind=row.kind,
                        subject=row.subject,
                        text=row.body,
                        html=row.html_body,
                        locale=row.locale,
                    )
                    smtp.send_message(message)
                    EMAILS_SENT.labels(row.kind).inc()
                    sent.append(row.id)
        except (OSError, smtplib.SMTPException) as exc:
            for row in rows:
                if row.id not in sent:
                    EMAILS_FAILED.labels(row.kind).inc()
            log.warning("smtp failed after %s of %s e-mails: %s", len(sent), len(rows), exc)
        self.crash_point("mail.after_send")
        if sent:
            with self.engine.begin() as conn:
                conn.execute(
                    self.table.update()
                    .where(self.table.c.id.in_(sent))
                    .values(sent_at=self.now(), last_error=None)
                )
        return len(sent)

    def run(self, stop: threading.Event, idle: IdleBackoff | None = None) -> None:
        idle = idle or IdleBackoff(least=0.05, most=0.5)
        while not stop.is_set():
            try:
                idle.after(self.send_once() > 0, stop)
            except Exception:
                log.exception("e-mail sender failed; retrying")
                stop.wait(1.0)
