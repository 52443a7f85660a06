"""Django management for the admin: `kinobill admin <command> [args]` calls `main(argv)`.

Examples: `kinobill admin migrate`, `kinobill admin createsuperuser`,
`kinobill admin staffuser alice --role support`.
"""

from __future__ import annotations

import os
import sys

SETTINGS_MODULE = "kinobill_admin.settings"


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    import django

    django.setup()


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    from django.core.management import execute_from_command_line

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        execute_from_command_line(["kinobill admin", *args])
    except SystemExit as exc:  # Django exits on errors and on --help
        return int(exc.code) if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
