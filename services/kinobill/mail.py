"""E-mail: written as rows in the same transaction as the event, sent by a worker.

Each e-mail has a dedupe key (one per event: e.g. `payment-succeeded:<payment id>`), so an event
applied twice never queues two e-mails.

The sender claims a batch, then for each e-mail commits the intent to send (`sending_at`), hands it to
SMTP and, after the batch, marks what was sent. At most once per Message-ID: a row whose intent is
recorded but whose sending is not (the sender died, or the database failed while marking) is never sent
again; it is marked sent as "outcome unconfirmed" (counted). One bad e-mail cannot jam the rest: an
e-mail's own failure (an address no server takes, a refusal) is recorded on its row, retried after the
claim expires and given up (`dead_at`, metric and alert) after `MAX_ATTEMPTS`, at once for an invalid
address; a failure of the server or connection leaves the rest of the batch for the next claim.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from sqlalchemy.dialects.postgresql import insert

from kinobill.domain.addresses import email_address_problem
from kinobill.mail_message import compose
from kinobill.pacing import IdleBackoff
from kinobill.unavailable import log_loop_failure

log = logging.getLogger(__name__)

EMAILS_SENT = Counter("kinobill_emails_sent_total", "E-mails handed to SMTP", ["kind"])
EMAILS_FAILED = Counter("kinobill_email_failures_total", "E-mail send failures", ["kind"])
EMAILS_DEAD = Counter(
    "kinobill_emails_dead_total", "E-mails given up (bad address or every attempt failed)", ["kind"]
)
EMAILS_DEAD_NOW = Gauge("kinobill_email_dead_letters", "E-mails given up and not sent", ["schema"])
EMAILS_UNCONFIRMED = Counter(
    "kinobill_emails_unconfirmed_total", "E-mails handed to SMTP whose sending was not recorded", ["kind"]
)
MAX_ATTEMPTS = 5


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
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.max_attempts = max_attempts
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
                .where(
                    t.c.sent_at.is_(None),
                    t.c.dead_at.is_(None),
                    sa.or_(t.c.claimed_until.is_(None), t.c.claimed_until < now),
                )
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
        unconfirmed = [row for row in rows if row.sending_at is not None]
        if unconfirmed:
            # A sender went to SMTP with these and could not record the outcome (it died, or the database
            # failed): they were most likely delivered. At most once: they are not sent again.
            self._update(
                [r.id for r in unconfirmed], sent_at=t.c.sending_at, last_error="outcome unconfirmed"
            )
            for row in unconfirmed:
                EMAILS_UNCONFIRMED.labels(row.kind).inc()
            log.warning("%s e-mails sent without confirmation; not sent again", len(unconfirmed))
        return [row for row in rows if row.sending_at is None]

    def _update(self, ids: Sequence[uuid.UUID], **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.update().where(self.table.c.id.in_(ids)).values(**values))

    def _failed(self, row: Any, exc: BaseException) -> None:
        """This e-mail's own failure (a bad address, refused by the server): recorded on its row, retried
        after the claim expires, dead after `max_attempts` (at once when no server could take it)."""
        attempts = row.attempts + 1  # counted by the claim
        hopeless = email_address_problem(row.to_address) is not None
        dead = hopeless or attempts >= self.max_attempts
        self._update(
            [row.id], sending_at=None, last_error=repr(exc)[:500], dead_at=self.now() if dead else None
        )
        EMAILS_FAILED.labels(row.kind).inc()
        if dead:
            EMAILS_DEAD.labels(row.kind).inc()
            log.error("e-mail %s (%s) given up after %s attempts: %r", row.id, row.kind, attempts, exc)

    def send_once(self) -> int:
        rows = self._claim()
        if not rows:
            return 0
        sent: list[uuid.UUID] = []
        pending = list(rows)
        try:
            with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=10) as smtp:
                while pending:
                    row = pending[0]
                    try:
                        problem = email_address_problem(row.to_address)
                        if problem:
                            raise ValueError(problem)
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
                    except (ValueError, TypeError, UnicodeError) as exc:
                        self._failed(pending.pop(0), exc)
                        continue
                    self._update([row.id], sending_at=self.now())  # the intent, committed before SMTP
                    try:
                        smtp.send_message(message)
                    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
                        self._failed(pending.pop(0), exc)
                        continue
                    except smtplib.SMTPDataError as exc:
                        if exc.smtp_code < 500:  # 4xx: try again later, as for a connection failure
                            raise
                        self._failed(pending.pop(0), exc)
                        continue
                    pending.pop(0)
                    EMAILS_SENT.labels(row.kind).inc()
                    sent.append(row.id)
        except (OSError, smtplib.SMTPException) as exc:
            # The server or the connection failed, not an e-mail: the rest waits for the next claim.
            if pending:
                self._update([r.id for r in pending], sending_at=None, last_error=repr(exc)[:500])
            for row in pending:
                EMAILS_FAILED.labels(row.kind).inc()
            log.warning("smtp failed after %s of %s e-mails: %s", len(sent), len(rows), exc)
        self.crash_point("mail.after_send")
        if sent:
            self._update(sent, sent_at=self.now(), last_error=None)
        return len(sent)

    def count_dead(self) -> int:
        t = self.table
        with self.engine.connect() as conn:
            dead = conn.execute(
                sa.select(sa.func.count())
                .select_from(t)
                .where(t.c.dead_at.is_not(None), t.c.sent_at.is_(None))
            ).scalar_one()
        EMAILS_DEAD_NOW.labels(self.table.schema or "public").set(dead)
        return int(dead)

    def run(self, stop: threading.Event, idle: IdleBackoff | None = None) -> None:
        idle = idle or IdleBackoff(least=0.05, most=0.5)
        counted = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - counted > 10.0:
                    self.count_dead()
                    counted = time.monotonic()
                idle.after(self.send_once() > 0, stop)
            except Exception as exc:
                log_loop_failure(log, "e-mail sender failed", exc)
                stop.wait(1.0)
