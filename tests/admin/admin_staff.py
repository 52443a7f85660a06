"""Staff accounts for the tests: a user in a group (or none, or a superuser) and a logged-in client."""

from __future__ import annotations

import uuid


def make_user(role: str | None, superuser: bool = False):
    from django.contrib.auth.models import Group, User

    name = f"{role or 'nobody'}-{uuid.uuid4().hex[:8]}"
    if superuser:
        user = User.objects.create_superuser(name, f"{name}@staff.example", "pw-" + uuid.uuid4().hex)
    else:  # staff may log in to the admin site; the group decides what they see and do
        user = User.objects.create_user(
            name, f"{name}@staff.example", "pw-" + uuid.uuid4().hex, is_staff=True
        )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def client_for(user, language: str = "en"):
    """A logged-in test client; English pages unless asked (the admin's default is Russian)."""
    from django.test import Client

    client = Client(headers={"Accept-Language": language})
    if user is not None:
        client.force_login(user)
    return client
