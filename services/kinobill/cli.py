"""The `kinobill` command: run the stack, serve one service, migrate, mint tokens, move the test clock."""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

from kinobill.embedded import ensure_runtime_dir, kinobill_home


def _home() -> Path:
    return kinobill_home()


def cmd_run(_: argparse.Namespace) -> int:
    from kinobill.production import production_requested
    from kinobill.stack import Ports, Stack

    if production_requested():
        print(
            "kinobill run refuses KINOBILL_ENV=production: it is the local stack (embedded databases, "
            "generated keys, demo plans seeded)",
            file=sys.stderr,
        )
        return 2
    return Stack(_home(), Ports.from_environment()).run()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from kinobill.logs import configure_logging

    configure_logging(args.service)
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from kinobill.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir(_home() / "metrics" / f"{args.service}-{args.port}")
    factories = {
        "subscriptions": "kinobill.subscriptions.app:create_app",
        "billing": "kinobill.billing.app:create_app",
    }
    uvicorn.run(
        factories[args.service],
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        backlog=2048,
        # X-Forwarded-For is believed only from TRUSTED_PROXIES, by the code that needs the client's
        # address (the webhook's source check); uvicorn must not rewrite the peer from any header.
        proxy_headers=False,
    )
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from kinobill import migrations
    from kinobill.config import get_settings

    url = get_settings().database_url
    if not url:
        print("DATABASE_URL is not set", file=sys.stderr)
        return 2
    migrations.upgrade(url)
    print("migrations applied")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from kinobill.production import production_requested
    from kinobill.security import LocalKeys, mint_service_token, mint_user_token

    if production_requested():
        print(
            "kinobill token refuses to mint tokens when KINOBILL_ENV=production: "
            "production tokens come from Auth and the platform's secret store",
            file=sys.stderr,
        )
        return 2
    keys = LocalKeys(_home() / "keys").ensure()
    if args.service:
        print(mint_service_token(keys.service_private.read_bytes(), args.service, ttl=args.ttl))
        return 0
    try:
        user_id = uuid.UUID(args.user)
    except (TypeError, ValueError):
        print("--user must be a UUID", file=sys.stderr)
        return 2
    claims = {name: value for name in ("locale", "zoneinfo") if (value := getattr(args, name))}
    print(mint_user_token(keys.user_private.read_bytes(), user_id, email=args.email, ttl=args.ttl, **claims))
    return 0


def cmd_mail(args: argparse.Namespace) -> int:
    if args.action == "extract":
        from kinobill.i18n.extract import refresh

        for path in refresh():
            print(f"updated {path}")
        return 0
    from kinobill.i18n import LocaleZone
    from kinobill.mail_preview import all_kinds, write_preview

    kinds = all_kinds() if args.kind == "all" else [args.kind]
    try:
        reader = LocaleZone(args.locale, args.zone)
        for kind in kinds:
            preview = write_preview(kind, reader, Path(args.out))
            print(f"{kind}: {preview.html} {preview.text} {preview.message}")
    except (LookupError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


def cmd_clock(args: argparse.Namespace) -> int:
    from datetime import datetime

    import redis

    from kinobill.clock import TestClock, parse_duration
    from kinobill.config import get_settings

    settings = get_settings()
    if settings.kinobill_env == "production":
        print("the test clock is refused in production", file=sys.stderr)
        return 2
    url = settings.redis_url or f"unix://{_home() / 'redis' / 'redis.sock'}"
    clock = TestClock(redis.Redis.from_url(url))
    if args.reset:
        clock.reset()
    elif args.set:
        clock.set(datetime.fromisoformat(args.set))
    elif args.advance:
        clock.advance(parse_duration(args.advance))
    print(f"test clock: {clock.now().isoformat()} (offset {clock.offset()})")
    return 0


def cmd_tick(args: argparse.Namespace) -> int:
    """One renewal scheduler pass now (at the test clock's time when it is on); prints what it did."""
    import json

    from kinobill.domain.errors import DomainError
    from kinobill.runtime import get_runtime
    from kinobill.subscriptions.bootstrap import renewal_scheduler
    from kinobill.subscriptions.renewals import policy_from_config, renewal_policy

    # Like `kinobill clock`: without DATABASE_URL / REDIS_URL, the embedded servers of `kinobill run`.
    home = _home().resolve()
    os.environ.setdefault(
        "DATABASE_URL", f"postgresql+psycopg://postgres:@/postgres?host={home / 'postgres'}"
    )
    os.environ.setdefault("REDIS_URL", f"unix://{home / 'redis' / 'redis.sock'}")
    if os.environ.get("KINOBILL_ENV", "dev") != "production":
        os.environ.setdefault("KINOBILL_TEST_CLOCK", "1")
    runtime = get_runtime()
    try:
        policy = policy_from_config(args.policy) if args.policy else renewal_policy()
    except (DomainError, ValueError) as exc:
        print(f"invalid renewal policy: {exc}", file=sys.stderr)
        return 2
    scheduler = renewal_scheduler(runtime, policy)
    now = runtime.clock.now()
    result = scheduler.run_pass()
    print(json.dumps({"now": now.isoformat(), **result.as_dict()}))
    return 0


def cmd_mailbox(args: argparse.Namespace) -> int:
    from kinobill.mailbox import serve

    serve(args.host, args.smtp_port, args.http_port)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from kinobill.logs import configure_logging
    from kinobill.runtime import get_runtime
    from kinobill.workers import run_workers

    configure_logging("worker")
    return run_workers(get_runtime(), args.only.split(",") if args.only else None)


def cmd_admin(args: argparse.Namespace) -> int:
    from kinobill_admin.manage import main as manage

    return manage(args.rest)


def cmd_jwt_capacity(args: argparse.Namespace) -> int:
    from kinobill.auth_client.capacity import main as capacity_main

    return capacity_main(args.rest)


def cmd_streams(args: argparse.Namespace) -> int:
    from kinobill.events import STREAMS
    from kinobill.runtime import get_runtime
    from kinobill.streams import dead_letters, replay_dead_letters

    client = get_runtime().redis
    streams = [args.stream] if args.stream else list(STREAMS)
    for stream in streams:
        if args.action == "replay":
            print(f"{stream}: replayed {replay_dead_letters(client, stream, args.limit)}")
            continue
        for dead_id, fields in dead_letters(client, stream, args.limit):
            error = fields.get(b"error", b"").decode(errors="replace")
            print(f"{stream} {dead_id.decode()} {error}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from kinobill.security import Caller

    parser = argparse.ArgumentParser(prog="kinobill", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="start the whole local stack in the foreground").set_defaults(func=cmd_run)

    serve = sub.add_parser("serve", help="serve one HTTP service")
    serve.add_argument("service", choices=["subscriptions", "billing"])
    serve.add_argument("--host", default=os.environ.get("KINOBILL_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations (DATABASE_URL)").set_defaults(func=cmd_migrate)

    token = sub.add_parser("token", help="print a JWT the local stack accepts")
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="user id (UUID): a user token with sub=<id>")
    who.add_argument(
        "--service",
        choices=[str(c) for c in Caller],
        help="service identity: an internal service token (each internal endpoint accepts some of them)",
    )
    token.add_argument("--email", help="the user's e-mail (where their mail goes)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.add_argument("--locale", help="the user's language claim, e.g. ru or en-GB")
    token.add_argument("--zoneinfo", help="the user's time zone claim, e.g. Asia/Yekaterinburg")
    token.set_defaults(func=cmd_token)

    clock = sub.add_parser("clock", help="show or move the shared test clock (not in production)")
    move = clock.add_mutually_exclusive_group()
    move.add_argument("--set", metavar="ISO", help="e.g. 2027-01-31T10:00:00+00:00")
    move.add_argument("--advance", metavar="DURATION", help="e.g. 29d, 36h, 90m")
    move.add_argument("--reset", action="store_true", help="back to real time")
    move.add_argument("--show", action="store_true")
    clock.set_defaults(func=cmd_clock)

    tick = sub.add_parser("tick", help="run one renewal scheduler pass now and print what it did")
    tick.add_argument("--policy", help="renewal policy as JSON (default: KINOBILL_RENEWAL_POLICY)")
    tick.set_defaults(func=cmd_tick)

    mailbox = sub.add_parser("mailbox", help="SMTP capture with a JSON inbox")
    mailbox.add_argument("--host", default="127.0.0.1")
    mailbox.add_argument("--smtp-port", type=int, default=1025)
    mailbox.add_argument("--http-port", type=int, default=8025)
    mailbox.set_defaults(func=cmd_mailbox)

    worker = sub.add_parser("worker", help="background workers: outbox relays, consumers, mail, reconciler")
    worker.add_argument("--only", help="comma-separated roles (default: all)")
    worker.set_defaults(func=cmd_worker)

    mail = sub.add_parser("mail", help="e-mail templates: preview a kind, refresh the catalogues")
    mail.add_argument("action", choices=["preview", "extract"], help="preview KIND, or extract the texts")
    mail.add_argument("kind", nargs="?", default="all", help="an e-mail kind, or all (default)")
    mail.add_argument("--locale", default="ru", help="ru (default) or en")
    mail.add_argument("--zone", default="Europe/Moscow", help="the reader's time zone")
    mail.add_argument("--out", default="mail-preview", help="folder for the files (default ./mail-preview)")
    mail.set_defaults(func=cmd_mail)

    streams = sub.add_parser("streams", help="dead letters of the Redis streams: list them, or replay them")
    streams.add_argument("action", choices=["dead", "replay"])
    streams.add_argument("--stream", help="one stream (default: every stream)")
    streams.add_argument("--limit", type=int, default=1000, help="at most this many per stream")
    streams.set_defaults(func=cmd_streams)

    admin = sub.add_parser(
        "admin", help="the Django admin's manage.py, e.g. `kinobill admin createsuperuser`"
    )
    admin.add_argument("rest", nargs=argparse.REMAINDER)
    admin.set_defaults(func=cmd_admin)

    capacity = sub.add_parser("jwt-capacity", help="how many subscriptions fit in an access token")
    capacity.add_argument("rest", nargs=argparse.REMAINDER)
    capacity.set_defaults(func=cmd_jwt_capacity)
    return parser


def main(argv: list[str] | None = None) -> int:
    ensure_runtime_dir()
    args = build_parser().parse_args(argv)
    if args.command not in ("run", "serve", "worker", "mailbox"):
        from kinobill.stack import load_stack_env

        load_stack_env(_home())  # commands in another shell reach the running local stack
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
