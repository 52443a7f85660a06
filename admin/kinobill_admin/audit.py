"""Recording staff actions: every attempt, successful or not, with who, when, what and the answer."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from kinobill_admin.models import AuditEntry


def record(
    request: HttpRequest,
    action: str,
    *,
    target_type: str = "",
    target_id: str = "",
    details: dict[str, Any] | None = None,
    outcome: str = "ok",
    message: str = "",
) -> AuditEntry:
    user = request.user
    return AuditEntry.objects.create(
        actor=user if user.is_authenticated else None,
        actor_name=user.get_username() if user.is_authenticated else "anonymous",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=details or {},
        outcome=outcome,
        message=message[:2000],
        remote_addr=(request.META.get("REMOTE_ADDR") or "")[:64],
    )
