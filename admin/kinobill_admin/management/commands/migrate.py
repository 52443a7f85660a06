"""`migrate`, made safe for the shared cluster: creates the `admin` schema, one migrator at a time.

Django only ever migrates the `admin` schema (search_path); the service tables are unmanaged models.
Two admin pods starting together serialise on a Postgres advisory lock.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections

LOCK_ID = 0x6B62_6164  # "kbad"


class Command(DjangoMigrate):
    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options.get("database") or "default"]
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.ADMIN_SCHEMA}"')
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_ID])
        try:
            super().handle(*args, **options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_ID])
