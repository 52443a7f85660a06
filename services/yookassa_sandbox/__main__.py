"""``python -m yookassa_sandbox`` / ``yookassa-sandbox``: run the sandbox with uvicorn (one worker)."""

from __future__ import annotations

import argparse
import sys
import tempfile

import uvicorn

from .app import create_app
from .config import Settings
from .tls import generate_self_signed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="yookassa-sandbox", description="Local emulator of the YooKassa API"
    )
    parser.add_argument("--host", help="overrides YOOKASSA_SANDBOX_HOST")
    parser.add_argument("--port", type=int, help="overrides YOOKASSA_SANDBOX_PORT")
    parser.add_argument(
        "--https", action="store_true", help="serve HTTPS (self-signed unless a cert is given)"
    )
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.host or args.port or args.https:
        settings.host = args.host or settings.host
        settings.port = args.port or settings.port
        settings.https = settings.https or args.https
        settings.public_url = f"{settings.scheme}://{settings.host}:{settings.port}"
    ssl: dict[str, str] = {}
    if settings.https:
        if not (settings.certfile and settings.keyfile):
            directory = settings.cert_dir or tempfile.mkdtemp(prefix="yookassa-sandbox-tls-")
            settings.certfile, settings.keyfile = generate_self_signed(directory)
        ssl = {"ssl_certfile": settings.certfile, "ssl_keyfile": settings.keyfile}
    print(
        f"yookassa-sandbox: {settings.scheme}://{settings.host}:{settings.port}/v3 shop_id={settings.shop_id}"
        + (f" cert={settings.certfile}" if settings.https else ""),
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=2,
        **ssl,  # type: ignore[arg-type]
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
