"""Where the admin's pages are and what a change list shows (Django's admin URLs and context)."""

from __future__ import annotations

from typing import Any


def admin_url(model: str, *parts: object) -> str:
    """/kinobill_admin/<model>/[<id>/<view>/]: Django's admin URL of one of the console's models."""
    tail = "".join(f"{p}/" for p in parts)
    return f"/kinobill_admin/{model}/{tail}"


def listed_ids(client: Any, model: str, **params: Any) -> set[str]:
    """The primary keys a change list shows for these filters / search (one page)."""
    response = client.get(admin_url(model), params)
    assert response.status_code == 200, (response.status_code, response.content.decode()[:500])
    return {str(obj.pk) for obj in response.context["cl"].result_list}


def action(client: Any, model: str, name: str, ids: list[Any], **extra: Any) -> Any:
    """Run a change-list action on the given rows (what ticking them and pressing "Go" posts)."""
    data = {"action": name, "_selected_action": [str(i) for i in ids], **extra}
    return client.post(admin_url(model), data)
