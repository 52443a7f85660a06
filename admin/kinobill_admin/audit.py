"""Recording staff actions: every attempt, successful or not, with who, when, what, the request and the
service's answer. Each entry about an existing object is also written to Django's admin log, so it shows
in that object's "History" page next to Django's own entries."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.http import HttpRequest

from kinobill_admin.models import AuditEntry


def record(
    request: HttpRequest,
    action: str,
    *,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    details: dict[str, Any] | None = None,
    outcome: str = "ok",
    message: str = "",
) -> AuditEntry:
    user = request.user
    if target is not None:
        target_type = target_type or target._meta.model_name or ""
        target_id = target_id or str(target.pk)
    entry = AuditEntry.objects.create(
        actor=user if user.is_authenticated else None,
        actor_name=user.get_username() if user.is_authenticated else "anonymous",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=json.loads(json.dumps(details or {}, default=str)),
        outcome=outcome,
        message=message[:2000],
        # REMOTE_ADDR is the peer, or what a configured trusted proxy said (never any client's header)
        remote_addr=(request.META.get("REMOTE_ADDR") or "")[:64],
    )
    if target is not None and user.is_authenticated:
        LogEntry.objects.create(
            user_id=user.pk,
            content_type=ContentType.objects.get_for_model(type(target)),
            object_id=str(target.pk),
            object_repr=str(target)[:200],
            action_flag=CHANGE,
            change_message=f"{action}: {outcome}" + (f" — {message}" if message else "")[:1000],
        )
    return entry
