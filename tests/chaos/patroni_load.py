"""Steady load on a stack while its database fails over, and what clients saw, with timestamps.

* buyers: buy (retrying 503 with the same Idempotency-Key, after its Retry-After) and pay in the sandbox,
  whose notification is Billing's webhook load; every answer is recorded;
* probes: Subscriptions' and Billing's ``/readyz``, Auth's access endpoint, and a libpq connection
  through the cluster URL (when the database itself accepted writes again).

From the records: 500s (must be none), 503s without Retry-After (none), connection resets (none), and
the outage each side saw: the database's (fault → writable through the URL) and the application's
(fault → the first purchase answered 201 after the last one that was not).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import psycopg

from kinobill.database_url import ConnectionPolicy, DatabaseUrl
from shop import SUCCESS_CARD


@dataclass(frozen=True)
class Answer:
    at: float  # monotonic, when the answer arrived
    started: float
    what: str
    status: int  # 0 = no HTTP answer (connection reset or refused), -1 = no answer within the timeout
    retry_after: bool = False


@dataclass
class Observations:
    answers: list[Answer] = field(default_factory=list)
    writable: list[tuple[float, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: Answer) -> None:
        with self.lock:
            self.answers.append(answer)

    def since(self, moment: float) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.at >= moment]

    def statuses(self, moment: float, what: str | None = None) -> Counter[int]:
        return Counter(a.status for a in self.since(moment) if what is None or a.what == what)

    def database_down(self, fault: float) -> float:
        """Fault → the first moment the URL reached a writable node again, after being refused."""
        with self.lock:
            after = [(t, ok) for t, ok in self.writable if t >= fault]
        down = [t for t, ok in after if not ok]
        if not down:
            return 0.0
        back = next((t for t, ok in after if ok and t > down[-1]), None)
        return (back or time.monotonic()) - fault

    def app_outage(self, fault: float) -> float:
        """Fault → the first purchase answered 201 that started after the last purchase that was not."""
        purchases = [a for a in self.since(fault) if a.what == "purchase"]
        failed = [a for a in purchases if a.status != 201]
        if not failed:
            return 0.0
        last = max(a.at for a in failed)
        first_ok = min((a.at for a in purchases if a.status == 201 and a.started >= last), default=None)
        return (first_ok or time.monotonic()) - fault


@dataclass
class Purchase:
    subscription_id: str
    email: str
    provider_payment_id: str


class SteadyLoad:
    """Buyers, probes and their records; ``start()`` / ``stop()``; thread-safe lists of what happened."""

    def __init__(
        self,
        stack,
        tokens,
        plan_id: str,
        database_url: str,
        *,
        buyers: int = 2,
        pause: float = 0.25,
    ) -> None:
        self.stack, self.tokens, self.plan_id = stack, tokens, plan_id
        # the probe's own connections: 1 s per host, keepalives, a statement timeout (never hangs)
        self.conninfo = DatabaseUrl.parse(database_url).conninfo(
            ConnectionPolicy(connect_timeout_seconds=1, statement_timeout_ms=1000, tcp_user_timeout_ms=2000)
        )
        self.buyers, self.pause = buyers, pause
        self.seen = Observations()
        self.paid: list[Purchase] = []
        self.abandoned: list[str] = []  # purchases still refused when the buyer gave up (must be none)
        self.access_user = uuid.uuid4()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> SteadyLoad:
        self._stop.clear()
        targets = [self._buyer] * self.buyers + [self._probe_ready, self._probe_access, self._probe_database]
        self._threads = [threading.Thread(target=t, daemon=True) for t in targets]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(20)

    # --- buyers -------------------------------------------------------------------------------------

    def _record(self, client: httpx.Client, what: str, method: str, url: str, **kw) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = client.request(method, url, **kw)
        except httpx.TimeoutException:
            self.seen.add(Answer(time.monotonic(), started, what, -1))
            return None
        except httpx.TransportError:
            self.seen.add(Answer(time.monotonic(), started, what, 0))
            return None
        self.seen.add(
            Answer(time.monotonic(), started, what, response.status_code, "retry-after" in response.headers)
        )
        return response

    def _buyer(self) -> None:
        with httpx.Client(base_url=self.stack.subscriptions_url, timeout=30) as client:
            while not self._stop.is_set():
                self._buy_one(client)
                self._stop.wait(self.pause)

    def _buy_one(self, client: httpx.Client) -> None:
        user = uuid.uuid4()
        email = f"fo-{user.hex[:12]}@example.com"
        headers = {**self.tokens.user_headers(user, email), "Idempotency-Key": uuid.uuid4().hex}
        body = {"plan_id": self.plan_id, "period": "month"}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            response = self._record(
                client, "purchase", "POST", "/api/v1/subscriptions", json=body, headers=headers
            )
            if response is not None and response.status_code == 201:
                purchase = response.json()
                self.stack.sandbox.confirm(purchase["payment"]["provider_payment_id"], SUCCESS_CARD)
                self.paid.append(Purchase(purchase["id"], email, purchase["payment"]["provider_payment_id"]))
                return
            wait = 0.2
            if response is not None and response.status_code in (409, 503):  # in progress / unavailable
                wait = min(float(response.headers.get("retry-after", "1")), 2.0)
            elif response is not None:
                self.abandoned.append(f"{response.status_code} {response.text[:200]}")
                return
            time.sleep(wait)  # the client's own back-off between retries, not a synchronisation
        self.abandoned.append("still refused after 90 s")

    # --- probes -------------------------------------------------------------------------------------

    def _probe_ready(self) -> None:
        with httpx.Client(timeout=15) as client:
            while not self._stop.is_set():
                for name, base in (
                    ("subscriptions", self.stack.subscriptions_url),
                    ("billing", self.stack.billing_url),
                ):
                    self._record(client, f"readyz:{name}", "GET", f"{base}/readyz")
                time.sleep(0.2)

    def _probe_access(self) -> None:
        url = f"{self.stack.subscriptions_url}/internal/v1/users/{self.access_user}/subscriptions/active"
        with httpx.Client(timeout=15, headers=self.tokens.service_headers("auth")) as client:
            while not self._stop.is_set():
                self._record(client, "access", "GET", url)
                time.sleep(0.2)

    def _probe_database(self) -> None:
        while not self._stop.is_set():
            ok = False
            try:
                with psycopg.connect(self.conninfo) as conn:
                    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                    ok = row is not None and not row[0]
            except psycopg.Error:
                ok = False
            with self.seen.lock:
                self.seen.writable.append((time.monotonic(), ok))
            time.sleep(0.1)  # pacing the probe, not a synchronisation
