"""Staff roles: `support` reads everything, `operator` may also act. Superusers may do both.

Both are plain Django groups holding two custom permissions of this app; `ensure_groups` (run after
every migrate) creates them idempotently, so granting a role is just adding a user to a group.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

VIEW = "kinobill_admin.view_console"
OPERATE = "kinobill_admin.operate"

SUPPORT_GROUP = "support"
OPERATOR_GROUP = "operator"
ROLE_PERMISSIONS = {
    SUPPORT_GROUP: ["view_console"],
    OPERATOR_GROUP: ["view_console", "operate"],
}


def ensure_groups() -> None:
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from kinobill_admin.models import AuditEntry

    content_type = ContentType.objects.get_for_model(AuditEntry)
    for codename, name in AuditEntry._meta.permissions:
        Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
    for group_name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.set(Permission.objects.filter(content_type=content_type, codename__in=codenames))


def can_view(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(VIEW))


def can_operate(user: Any) -> bool:
    return bool(can_view(user) and user.has_perm(OPERATE))


def context(request: HttpRequest) -> dict[str, Any]:
    from django.conf import settings

    user = getattr(request, "user", None)
    if user is None:
        return {"can_view": False, "can_operate": False, "TIME_ZONE": settings.TIME_ZONE}
    return {"can_view": can_view(user), "can_operate": can_operate(user), "TIME_ZONE": settings.TIME_ZONE}


View = Callable[..., HttpResponse]


def staff_view(view: View) -> View:
    """Logged in and in `support` or `operator` (or superuser); anyone else gets 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_view(request.user):
            raise PermissionDenied("You are not in the support or operator group.")
        return view(request, *args, **kwargs)

    return wrapper


def operator_view(view: View) -> View:
    """An action: POST only, `operator` (or superuser) only; support staff get 403."""

    @staff_view
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_operate(request.user):
            raise PermissionDenied("Only the operator group may do this; support is read-only.")
        return view(request, *args, **kwargs)

    return wrapper
