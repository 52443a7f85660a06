"""`kinobill admin staffuser NAME --role support|operator`: create or update a staff account."""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kinobill_admin.groups import OPERATOR_GROUP, SUPPORT_GROUP, ensure_groups


class Command(BaseCommand):
    help = "Create or update a staff user in the support (read-only) or operator (may act) group."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=[SUPPORT_GROUP, OPERATOR_GROUP], required=True)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="read the password from this environment variable instead of prompting",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_groups()
        if options["password_env"]:
            password = os.environ.get(options["password_env"], "")
            if not password:
                raise CommandError(f"${options['password_env']} is empty")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("the passwords differ")
        users = get_user_model()
        user, created = users.objects.get_or_create(username=options["username"])
        try:
            validate_password(password, user)
        except ValidationError as exc:
            if created:
                user.delete()
            raise CommandError("; ".join(exc.messages)) from exc
        user.email = options["email"] or user.email
        user.is_staff = True  # may log in to the admin; the group decides what they see and do
        user.is_active = True
        user.set_password(password)
        user.save()
        user.groups.remove(*Group.objects.filter(name__in=[SUPPORT_GROUP, OPERATOR_GROUP]))
        user.groups.add(Group.objects.get(name=options["role"]))
        verb = "created" if created else "updated"
        self.stdout.write(f"{options['username']} {verb} in group {options['role']}")
