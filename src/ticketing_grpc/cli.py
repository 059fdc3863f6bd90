"""`ticketing-grpc serve`: run the server until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticketing-grpc", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC server and the HTTP sidecar")
    serve.add_argument("--grpc-addr", help="host:port (TICKETING_GRPC_ADDR, 127.0.0.1:50051)")
    serve.add_argument("--http-addr", help="host:port (TICKETING_HTTP_ADDR, 127.0.0.1:8080)")
    serve.add_argument("--data-dir", type=Path, help="state folder (TICKETING_DATA_DIR, ./data)")
    serve.add_argument(
        "--allow-private-targets",
        action="store_true",
        default=None,
        help="allow loopback/private webhook targets and provider URLs "
        "(TICKETING_ALLOW_PRIVATE_WEBHOOK_TARGETS=1)",
    )
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING (TICKETING_LOG_LEVEL, INFO)")
    return parser


async def _serve(settings: Settings) -> None:
    from .server import start

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await start(settings)
    if server.admin_token:
        print(
            f"Generated admin token (shown once; also in {settings.data_dir}/admin.token):\n"
            f"  {server.admin_token}",
            flush=True,
        )
    print(
        f"ticketing-grpc serving gRPC on {settings.grpc_addr.rpartition(':')[0]}:"
        f"{server.grpc_port}, HTTP on port {server.http_port}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        logging.getLogger(__name__).info("stopping")
        await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env(
        grpc_addr=args.grpc_addr,
        http_addr=args.http_addr,
        data_dir=args.data_dir,
        allow_private_targets=args.allow_private_targets,
        log_level=args.log_level,
    )
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
