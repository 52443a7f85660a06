from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from kinobill_admin import probes

urlpatterns = [
    path("healthz", probes.healthz, name="healthz"),
    path("readyz", probes.readyz, name="readyz"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: Russian by default, English on request
    path("", admin.site.urls),
]

handler400 = "kinobill_admin.errors.bad_request"
