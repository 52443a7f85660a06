"""YooKassa sandbox: a local HTTP server behaving like YooKassa's API v3 for the official ``yookassa`` SDK.

Start
-----
``python -m yookassa_sandbox`` or ``yookassa-sandbox`` (``--host``, ``--port``, ``--https``); one uvicorn
worker, state in memory. Point the SDK at it::

    Configuration.configure("100500", "test_kinobill_sandbox_key", api_url="http://127.0.0.1:8010/v3")

From tests use :func:`yookassa_sandbox.testing.run_sandbox` (a real subprocess, readiness polled, stopped on
exit; the handle wraps the ``/sandbox`` API below).

Environment (defaults for local use)
------------------------------------
``YOOKASSA_SHOP_ID`` (100500), ``YOOKASSA_SECRET_KEY`` (test_kinobill_sandbox_key; a ``test_`` key makes
objects ``test: true``), ``YOOKASSA_SANDBOX_HOST`` (127.0.0.1), ``YOOKASSA_SANDBOX_PORT`` (8010),
``YOOKASSA_SANDBOX_PUBLIC_URL`` (base of ``confirmation_url``; default from scheme/host/port),
``YOOKASSA_SANDBOX_WEBHOOK_URL`` (unset: notifications are recorded, not sent),
``YOOKASSA_SANDBOX_WEBHOOK_RETRY_SCALE`` (1.0; multiplies every retry delay and the 24 h retry window),
``YOOKASSA_SANDBOX_WEBHOOK_RETRY_WINDOW`` (86400 s), ``YOOKASSA_SANDBOX_WEBHOOK_TIMEOUT`` (10 s),
``YOOKASSA_SANDBOX_CONFIRMATION_TTL`` (3600 s: pending → canceled/expired_on_confirmation),
``YOOKASSA_SANDBOX_CAPTURE_TTL`` (604800 s: waiting_for_capture → canceled/expired_on_capture),
``YOOKASSA_SANDBOX_IDEMPOTENCE_TTL`` (86400 s), ``YOOKASSA_SANDBOX_CURRENCY`` (RUB),
``YOOKASSA_SANDBOX_GATEWAY_ID`` (shop id + "01"), ``YOOKASSA_SANDBOX_HTTPS`` (0/1),
``YOOKASSA_SANDBOX_CERTFILE`` / ``YOOKASSA_SANDBOX_KEYFILE`` (HTTPS; a self-signed pair for
127.0.0.1/localhost is generated when absent, into ``YOOKASSA_SANDBOX_CERT_DIR`` or a temp dir, path
printed on start),
``YOOKASSA_SANDBOX_JOURNAL_MAX`` (1000000 entries), ``YOOKASSA_SANDBOX_LOG_LEVEL`` (warning),
``YOOKASSA_SANDBOX_FISCALIZATION`` (1: a shop with "Чеки от ЮKassa", payments and refunds need a receipt;
0 turns it off), ``YOOKASSA_SANDBOX_RECEIPT_DELAY`` (1 s from a success to its receipt's registration).

API (``/v3``, HTTP Basic shop id : secret key)
----------------------------------------------
``POST/GET /payments``, ``GET /payments/{id}``, ``POST /payments/{id}/capture``,
``POST /payments/{id}/cancel``, ``POST/GET /refunds``, ``GET /refunds/{id}``, ``GET /me``,
``POST /payment_methods`` (bank card, redirect confirmation), ``GET /payment_methods/{id}``.
POSTs need ``Idempotence-Key`` (≤ 64 chars, the
spec's pattern); same key + same method/path/body replays the first answer (status and bytes, errors
included) for 24 h; same key + anything else is 400 ``invalid_request`` with ``parameter: "Idempotence-Key"``.
Errors are ``{type: "error", id, code, description, parameter}`` with 400/401/404/405/429/500.
Payments: ``confirmation.type`` ``redirect`` (→ ``confirmation_url`` on the checkout page), or
``payment_method_id`` of a saved method (no confirmation; the method's behaviour decides), or
``payment_method_data.card`` with a test card (non-3-DS cards settle at once; 3-DS cards need a redirect).
Test cards (``cards.py``) decide success, 3-DS and every decline reason with its party.

Receipts (54-FZ, ``receipts.py``)
---------------------------------
With fiscalisation on, ``POST /payments`` and ``POST /refunds`` without a valid ``receipt`` are 400
``invalid_request`` (parameter ``receipt...``): the official ``ReceiptData`` schema (``spec/``)
plus YooKassa receipts' limits (1–80 items, description 1–128, quantity ≤ 99999.999 with ≤ 3 decimals,
``customer.email``, ``measure``, items adding up to the amount). The object then carries
``receipt_registration``: ``pending``, ``succeeded`` ``receipt_delay`` s after the operation succeeded
(``canceled`` under a ``receipt_canceled`` fault, or at once for a canceled payment). With it off a receipt
is optional (still checked when sent).

Binding a card (``POST /payment_methods``)
------------------------------------------
The method is ``pending`` with ``confirmation.confirmation_url`` →
``GET /checkout/payment_methods?methodId=<id>`` (a card form; then 303 to ``return_url``). A paying test
card makes it ``active``/``saved`` (usable as ``payment_method_id``, behaviours apply) and sends
``payment_method.active``; a declining one leaves it ``inactive``.

Checkout page
-------------
``GET /checkout/payments/v2/contract?orderId=<payment id>``: card form (number, MM/YY, CVC, holder);
3-DS cards get a code page (``POST /checkout/payments/v2/3ds``); then a 303 redirect to ``return_url``.

Test-helper API (``/sandbox``, JSON, no auth)
---------------------------------------------
- ``GET /sandbox/health`` → ``{"status": "ok", "shop_id"}``
- ``POST /sandbox/payments/{id}/confirm`` ``{"card_number", "expiry_month"?, "expiry_year"?, "csc"?}`` → the
  payment (what the checkout page does); ``POST /sandbox/payments/{id}/expire`` → force expiry now.
- ``POST /sandbox/payment_methods/{id}/confirm`` ``{"card_number"}`` → bind a card to a ``POST
  /payment_methods`` method (what its page does).
- ``POST /sandbox/payment_methods/{id}/behaviour`` ``{"outcome": "succeeded" | <payment cancellation reason>,
  "party"?: "yoo_money"|"payment_network"|"merchant"}`` → how later charges on the saved method end
  (persistent until changed); ``GET /sandbox/payment_methods/{id}``.
- ``POST /sandbox/refunds/behaviour`` ``{"outcome": "succeeded"|"pending"|<refund cancellation reason>,
  "payment_id"?: id (else global), "party"?}``; ``POST /sandbox/refunds/{id}/complete`` ``{"outcome"}``.
- ``GET /sandbox/journal`` ``?method=&path=&operation=&idempotence_key=&object_id=&fault=
  &http_status=&replayed=&since_seq=`` → ``{"count", "items": [{seq, time, method, path, operation,
  idempotence_key, http_status
  (null when no answer was sent), object_id, replayed, fault}]}`` — every /v3 request; count real charges with
  ``operation=payments.create&replayed=false&http_status=200``.
- ``POST /sandbox/faults`` / ``GET /sandbox/faults`` / ``DELETE /sandbox/faults`` /
  ``DELETE /sandbox/faults/{id}`` (shapes below).
- ``GET /sandbox/webhooks`` ``?event=&object_id=&status=`` → deliveries with their attempts.
- ``GET|POST /sandbox/settings`` ``{"webhook_url", "webhook_retry_scale", "webhook_retry_window",
  "confirmation_ttl", "capture_ttl", "idempotence_ttl", "fiscalization", "receipt_delay"}`` (runtime changes).
- ``POST /sandbox/clock`` ``{"advance_seconds": N}`` moves the sandbox clock forward (expiry, 24 h replay).
- ``POST /sandbox/reset`` clears payments, refunds, methods, keys, journal, faults, deliveries, clock.

Faults (``POST /sandbox/faults``)
---------------------------------
``{"kind", "endpoint": "*", "count": 1 (null = until cleared), "latency_ms": 0, "retry_after": 1 (s),
"commit": false, "copies": 2}``. API endpoints: ``payments.create|list|get|capture|cancel``,
``refunds.create|list|get``, ``me.get`` or ``"POST /v3/payments/{payment_id}/capture"`` style, or ``*``.
API kinds: ``latency`` (wait, then answer), ``hang`` (never answer; ``commit: true`` performs the operation
first), ``error_before_commit`` (500, nothing happened), ``error_after_commit`` (the operation happened and
is stored under the key, then 500), ``drop_before_commit`` / ``drop_after_commit`` (TCP connection aborted
without a byte of answer), ``too_many_requests`` (429 + ``Retry-After``), ``processing`` (202
``{type: processing, retry_after}`` + ``Retry-After``). Webhook kinds (endpoint = event name or ``*``):
``webhook_duplicate`` (``copies`` deliveries), ``webhook_delay`` (``latency_ms`` later),
``webhook_reorder`` (hold ``count`` ≥ 2 notifications, deliver newest first), ``webhook_drop`` (lost).
Receipt kind (endpoint ``payment``, ``refund`` or ``*``): ``receipt_canceled`` (the next ``count``
registrations end ``canceled``).

Webhooks
--------
``{type: "notification", event, object}`` for ``payment.waiting_for_capture``, ``payment.succeeded``,
``payment.canceled``, ``refund.succeeded``, ``payment_method.active``, POSTed in the background; a non-200
answer or a connection error is retried after 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 2 h, then
every 4 h until 24 h after the event (all scaled by the retry scale).

Not covered (and why)
---------------------
- Confirmation types ``external``, ``qr``, ``embedded``, ``mobile_application``; payment methods other than
  bank cards (``payment_method_data.type`` ≠ ``bank_card``), ``payment_token`` (Apple/Google Pay): Kinobill
  pays by card through the redirect page; they answer 400 "not supported by the sandbox".
- Split payments (``transfers``, refund ``sources``), Safe deal (``deal``, ``/deals``), ``airline``,
  ``receiver``, ``payment_order``, ``statements``, ``refund_method_data``: not used; non-empty values are 400.
- ``/invoices``, ``/receipts``, ``/payouts``, ``/sbp_banks``,
  ``/personal_data``, ``/webhooks`` (OAuth partners only), OAuth ``Bearer`` auth: out of scope, 404/401.
- Receipts (54-FZ): no fiscal documents (``/receipts``); third-party cash registers' rules (phone only,
  100 items) are not modelled; marking fields are checked by the schema only.
- Events ``payout.*``, ``deal.closed``: their objects are not emulated. ``POST /payment_methods`` with
  card data (PCI-DSS) or types other than ``bank_card``: 400.
- Exact error ``description`` texts and the 403 ``forbidden`` case: not documented; descriptions are ours.
- Limits that depend on the acquirer (min/max amount per method, refund older than N months, ``refund > 1
  RUB``) and ``income_amount`` (a flat 3.5 % fee here) are approximations.
- The Idempotence-Key scope is not documented; here it is per shop, and the key binds method + path + body.
"""
