"""``engine studio [FLOWS_DIR]``: the studio alone on loopback, for writing flows.

It runs a whole engine over the flows folder with the built-in OpenAI simulator as the OpenAI
side, so no key is needed and a test call can be placed from a flow's page. Records go where
``engine serve``'s go (``ENGINE_DATABASE_URL``, default ``./engine-records.db``). Sign-in is
with ``ENGINE_ADMIN_TOKEN`` or, when it is not set, a token made for this run and printed with
the studio's address.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import secrets
import signal
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]

DEFAULT_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("flows_dir", nargs="?", default="flows", metavar="FLOWS_DIR")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="a loopback address (the studio alone is for this machine)",
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _serve(flows_dir: str, host: str, port: int, token: str, printed: bool) -> None:
    from ..records.settings import RecordsSettings
    from ..runner import running_engine
    from ..server import Engine, EngineSettings
    from ..simulator import Simulator
    from .settings import StudioSettings

    studio = StudioSettings.from_env()
    studio = StudioSettings(
        admin_token=token,
        users_file=studio.users_file,
        secret=studio.secret,
        secure_cookie=studio.secure_cookie,
    )
    async with Simulator() as sim:
        settings = EngineSettings(
            flows_dir=flows_dir,
            openai=sim.config(),
            records=RecordsSettings.from_env(os.environ),
            studio=studio,
        )
        engine = Engine(settings)
        engine.simulator = sim  # the studio's test calls are placed through it
        async with running_engine(engine, host=host, port=port) as url:
            print(f"engine studio: {url}/studio (flows in {flows_dir}; OpenAI is the simulator)")
            if printed:
                print(f"sign in with this token (made for this run): {token}")
            print("Ctrl-C stops it.", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()


def run(args: argparse.Namespace) -> int:
    from ..logs import setup_logging

    if not Path(args.flows_dir).is_dir():
        print(f"engine studio: {args.flows_dir}: no such folder", file=sys.stderr)
        return 2
    if not _loopback(args.host):
        print(
            "engine studio: --host must be a loopback address (127.0.0.1, ::1); to offer the "
            "studio to others, run engine serve with ENGINE_ADMIN_TOKEN set (docs/studio.md)",
            file=sys.stderr,
        )
        return 2
    from .settings import StudioSettings
    from .users import read_users

    try:
        studio = StudioSettings.from_env()
        if studio.users_file is not None:
            read_users(studio.users_file)  # a mistake: said here in one line, not in a traceback
    except ValueError as exc:
        print(f"engine studio: {exc}", file=sys.stderr)
        return 2
    given = os.environ.get("ENGINE_ADMIN_TOKEN", "").strip()
    token = given or secrets.token_urlsafe(18)
    setup_logging("text", level=30)
    try:
        asyncio.run(_serve(args.flows_dir, args.host, args.port, token, printed=not given))
    except OSError as exc:
        print(
            f"engine studio: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    return 0
