from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class KinobillAdminConfig(AppConfig):
    name = "kinobill_admin"
    label = "kinobill_admin"
    verbose_name = "Kinobill"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kinobill_admin.groups import ensure_groups

        # After every `migrate` (the server runs it at start): the two staff groups exist, idempotently.
        post_migrate.connect(lambda **_: ensure_groups(), sender=self, weak=False, dispatch_uid="kb-groups")


class KinobillSiteConfig(AdminConfig):
    """django.contrib.admin with the Kinobill site (dashboard index) as the default site."""

    default_site = "kinobill_admin.site.KinobillAdminSite"
