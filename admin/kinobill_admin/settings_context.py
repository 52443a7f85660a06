from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def time_zone(request: HttpRequest) -> dict[str, Any]:
    """The deployment's zone, named next to the times staff read (Europe/Moscow by default)."""
    return {"TIME_ZONE": settings.TIME_ZONE}
