"""The admin site: Django's own (`admin.site`, see apps.KinobillSiteConfig), with the dashboard on its
index page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _


class KinobillAdminSite(admin.AdminSite):
    site_header = _("Kinobill administration")
    site_title = _("Kinobill")
    index_title = _("Dashboard")
    index_template = "admin/kinobill_index.html"
    site_url = None  # no public site to link to

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        from kinobill_admin.dashboard import dashboard_context

        context = dict(extra_context or {})
        if request.user.has_perm("kinobill_admin.view_payment"):
            context.update(dashboard_context())
        return super().index(request, context)
