"""The ``/sandbox`` test-helper API (plain JSON, no authentication; loopback use only)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import ApiError
from .faults import FaultError

if TYPE_CHECKING:
    from .app import Sandbox

_SETTABLE: dict[str, tuple[type, ...]] = {
    "webhook_url": (str, type(None)),
    "webhook_retry_scale": (int, float),
    "webhook_retry_window": (int, float),
    "confirmation_ttl": (int, float),
    "capture_ttl": (int, float),
    "idempotence_ttl": (int, float),
    "fiscalization": (bool,),
    "receipt_delay": (int, float),
}
_JOURNAL_FILTERS = ("method", "path", "operation", "idempotence_key", "object_id", "fault")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("a JSON object is expected")
    return data


def routes(sandbox: Sandbox) -> list[Route]:
    store = sandbox.store

    def settings_view() -> dict[str, Any]:
        s = sandbox.settings
        return {
            "shop_id": s.shop_id,
            "public_url": s.public_url,
            "https": s.https,
            **{name: getattr(s, name) for name in _SETTABLE},
        }

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "shop_id": sandbox.settings.shop_id})

    async def enter_card(request: Request, confirm: Any, object_id: str) -> Response:
        """What a checkout page does with a card (``{"card_number", "expiry_month"?, ...}``)."""
        try:
            data = await _json(request)
            number = data.get("card_number")
            if not isinstance(number, str):
                return _error(400, "card_number (string) is required")
            obj = confirm(
                object_id, number, data.get("expiry_month"), data.get("expiry_year"), data.get("csc")
            )
        except ApiError as exc:
            return _error(exc.status, exc.description)
        except ValueError as exc:
            return _error(400, str(exc))
        return JSONResponse(obj)

    async def confirm(request: Request) -> Response:
        return await enter_card(request, store.confirm, request.path_params["payment_id"])

    async def expire(request: Request) -> Response:
        try:
            return JSONResponse(store.expire_payment(request.path_params["payment_id"]))
        except ApiError as exc:
            return _error(exc.status, exc.description)

    async def method_behaviour(request: Request) -> Response:
        try:
            data = await _json(request)
            method = store.set_method_behaviour(
                request.path_params["method_id"], str(data.get("outcome")), data.get("party")
            )
        except ApiError as exc:
            return _error(exc.status, exc.description)
        except ValueError as exc:
            return _error(400, str(exc))
        return JSONResponse(method.as_sandbox())

    async def method_confirm(request: Request) -> Response:
        """The binding page: the payer enters a card for a ``POST /payment_methods`` method."""
        return await enter_card(request, store.confirm_payment_method, request.path_params["method_id"])

    async def method_get(request: Request) -> Response:
        method = store.methods.get(request.path_params["method_id"])
        if method is None:
            return _error(404, "saved payment method not found")
        return JSONResponse(method.as_sandbox())

    async def refund_behaviour(request: Request) -> Response:
        try:
            data = await _json(request)
            store.set_refund_behaviour(str(data.get("outcome")), data.get("payment_id"), data.get("party"))
        except ApiError as exc:
            return _error(exc.status, exc.description)
        except ValueError as exc:
            return _error(400, str(exc))
        return JSONResponse({"outcome": data.get("outcome"), "payment_id": data.get("payment_id")})

    async def refund_complete(request: Request) -> Response:
        try:
            data = await _json(request)
            obj = store.complete_refund(
                request.path_params["refund_id"], str(data.get("outcome")), data.get("party")
            )
        except ApiError as exc:
            return _error(exc.status, exc.description)
        except ValueError as exc:
            return _error(400, str(exc))
        return JSONResponse(obj)

    async def journal(request: Request) -> Response:
        q = request.query_params
        items: list[dict[str, Any]] = list(sandbox.journal)
        for name in _JOURNAL_FILTERS:
            if name in q:
                items = [e for e in items if str(e[name]) == q[name]]
        if "http_status" in q:
            items = [e for e in items if str(e["http_status"]) == q["http_status"]]
        if "replayed" in q:
            want = q["replayed"].lower() in ("1", "true", "yes")
            items = [e for e in items if e["replayed"] == want]
        if "since_seq" in q:
            items = [e for e in items if e["seq"] > int(q["since_seq"])]
        return JSONResponse({"count": len(items), "items": items})

    async def faults_add(request: Request) -> Response:
        try:
            fault = sandbox.faults.add(await _json(request))
        except (FaultError, ValueError, TypeError) as exc:
            return _error(400, str(exc))
        return JSONResponse(fault.as_dict())

    async def faults_list(request: Request) -> Response:
        return JSONResponse({"items": [f.as_dict() for f in sandbox.faults.active]})

    async def faults_clear(request: Request) -> Response:
        removed = sandbox.faults.clear()
        for fault in removed:
            if fault.held:
                sandbox.webhooks.release(fault)
        return JSONResponse({"removed": len(removed)})

    async def fault_delete(request: Request) -> Response:
        fault = sandbox.faults.remove(request.path_params["fault_id"])
        if fault is None:
            return _error(404, "fault not found")
        if fault.held:
            sandbox.webhooks.release(fault)
        return JSONResponse(fault.as_dict())

    async def webhooks(request: Request) -> Response:
        items = [d.as_dict() for d in sandbox.webhooks.deliveries]
        for name in ("event", "object_id", "status"):
            if name in request.query_params:
                items = [d for d in items if d[name] == request.query_params[name]]
        return JSONResponse({"count": len(items), "items": items})

    async def settings_get(request: Request) -> Response:
        return JSONResponse(settings_view())

    async def settings_set(request: Request) -> Response:
        try:
            data = await _json(request)
        except ValueError as exc:
            return _error(400, str(exc))
        for name, value in data.items():
            types = _SETTABLE.get(name)
            if (
                types is None
                or (isinstance(value, bool) and bool not in types)
                or not isinstance(value, types)
            ):
                return _error(
                    400, f"setting {name!r} cannot be set to {value!r}; settable: {list(_SETTABLE)}"
                )
        for name, value in data.items():
            number = isinstance(value, int) and not isinstance(value, bool)
            setattr(sandbox.settings, name, float(value) if number else value)
        sandbox.wake.set()
        return JSONResponse(settings_view())

    async def clock(request: Request) -> Response:
        try:
            data = await _json(request)
            advance = float(data.get("advance_seconds", 0))
        except (ValueError, TypeError) as exc:
            return _error(400, str(exc))
        if advance < 0:
            return _error(400, "the sandbox clock only moves forward")
        store.clock_offset += advance
        expired = store.expire_due()
        sandbox.wake.set()
        return JSONResponse({"offset_seconds": store.clock_offset, "expired": expired})

    async def reset(request: Request) -> Response:
        sandbox.reset()
        return JSONResponse({"status": "reset"})

    return [
        Route("/sandbox/health", health, methods=["GET"]),
        Route("/sandbox/payments/{payment_id}/confirm", confirm, methods=["POST"]),
        Route("/sandbox/payments/{payment_id}/expire", expire, methods=["POST"]),
        Route("/sandbox/payment_methods/{method_id}/behaviour", method_behaviour, methods=["POST"]),
        Route("/sandbox/payment_methods/{method_id}/confirm", method_confirm, methods=["POST"]),
        Route("/sandbox/payment_methods/{method_id}", method_get, methods=["GET"]),
        Route("/sandbox/refunds/behaviour", refund_behaviour, methods=["POST"]),
        Route("/sandbox/refunds/{refund_id}/complete", refund_complete, methods=["POST"]),
        Route("/sandbox/journal", journal, methods=["GET"]),
        Route("/sandbox/faults", faults_add, methods=["POST"]),
        Route("/sandbox/faults", faults_list, methods=["GET"]),
        Route("/sandbox/faults", faults_clear, methods=["DELETE"]),
        Route("/sandbox/faults/{fault_id}", fault_delete, methods=["DELETE"]),
        Route("/sandbox/webhooks", webhooks, methods=["GET"]),
        Route("/sandbox/settings", settings_get, methods=["GET"]),
        Route("/sandbox/settings", settings_set, methods=["POST"]),
        Route("/sandbox/clock", clock, methods=["POST"]),
        Route("/sandbox/reset", reset, methods=["POST"]),
    ]
