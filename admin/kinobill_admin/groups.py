"""Staff roles as Django groups of model permissions: `support` reads and exports, `operator` also acts.

`ensure_groups` runs after every `migrate` (and from `staffuser`): it creates both groups idempotently and
sets their permissions, so granting a role is adding a user to a group. Superusers have every permission.
"""

from __future__ import annotations

SUPPORT_GROUP = "support"
OPERATOR_GROUP = "operator"

READ_MODELS = (
    "plan",
    "subscription",
    "subscriptionperiod",
    "payment",
    "refund",
    "providernotification",
    "subscriptionemail",
    "billingemail",
    "auditentry",
    "operatortask",
    "cardchange",
)
SUPPORT_PERMISSIONS = [f"view_{model}" for model in READ_MODELS] + [
    "export_payment",
    "export_refund",
    "export_auditentry",
]
OPERATOR_PERMISSIONS = [
    *SUPPORT_PERMISSIONS,
    "add_plan",
    "change_plan",
    "cancel_subscription",
    "refund_subscription",
    "reconcile_subscription",
    "resolve_operatortask",
]
ROLE_PERMISSIONS = {SUPPORT_GROUP: SUPPORT_PERMISSIONS, OPERATOR_GROUP: OPERATOR_PERMISSIONS}


def ensure_groups() -> None:
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    create_permissions(apps.get_app_config("kinobill_admin"), verbosity=0)
    for group_name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        permissions = Permission.objects.filter(
            content_type__app_label="kinobill_admin", codename__in=codenames
        )
        found = {p.codename for p in permissions}
        missing = set(codenames) - found
        if missing:
            raise RuntimeError(f"permissions missing after migrate: {sorted(missing)}")
        group.permissions.set(permissions)
