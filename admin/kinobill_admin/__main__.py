"""`python -m kinobill_admin --port 8000`: migrate the admin schema, ensure the roles, serve (ASGI).

uvicorn serves Django's ASGI app; WhiteNoise serves static files; SIGTERM stops it gracefully
(in-flight requests finish, then the process exits 0).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys


def trusted_proxies(value: str) -> str:
    """FORWARDED_ALLOW_IPS: addresses or networks of the proxies in front of the admin. "*" is refused:
    any client could then write the address the audit log and the login lockout record."""
    entries = [e.strip() for e in value.split(",") if e.strip()]
    if "*" in entries:
        raise SystemExit("FORWARDED_ALLOW_IPS='*' would let any client forge its address; list the proxies")
    return ",".join(entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kinobill_admin", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("ADMIN_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("ADMIN_PORT", "8000")))
    parser.add_argument("--no-migrate", action="store_true", help="skip `migrate` (another job ran it)")
    args = parser.parse_args(argv)
    trusted = trusted_proxies(os.environ.get("FORWARDED_ALLOW_IPS", ""))

    from kinobill_admin.manage import setup

    setup()
    from django.core.management import call_command

    from kinobill_admin.groups import ensure_groups

    if not args.no_migrate:
        call_command("migrate", interactive=False, verbosity=0)
    ensure_groups()

    import uvicorn

    logging.getLogger(__name__).info("kinobill admin on http://%s:%s", args.host, args.port)
    config = uvicorn.Config(
        "kinobill_admin.asgi:application",
        host=args.host,
        port=args.port,
        lifespan="off",
        # X-Forwarded-For is believed only from the listed proxies; none listed = the peer's address.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        timeout_graceful_shutdown=20,
        log_level=os.environ.get("ADMIN_LOG_LEVEL", "info").lower(),
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler that was
    # installed before it; a no-op one lets the process exit 0 after the graceful shutdown.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
