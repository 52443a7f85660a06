"""Django's admin site is used only for staff accounts and the read-only audit log."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from kinobill_admin.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_name", "action", "target_type", "target_id", "outcome")
    list_filter = ("action", "outcome")
    search_fields = ("actor_name", "target_id", "message")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
