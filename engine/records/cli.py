"""`engine calls` (list recent calls, or show one) and `engine db upgrade`, over the records
database that `engine serve` writes (``ENGINE_DATABASE_URL``, else ./engine-records.db)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .query import MAX_LIMIT, OUTCOMES, CallQuery, QueryError

if TYPE_CHECKING:  # SQLAlchemy is imported by the commands that use it, not by `engine lint`
    from sqlalchemy.engine import URL

__all__ = ["add_calls_command", "add_db_command"]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
T = TypeVar("T")


def add_calls_command(commands: Any) -> None:
    calls = commands.add_parser(
        "calls",
        help="list recent calls from the records, or show one (engine calls show ID)",
        description="Recent calls, newest first, from the records database "
        "(ENGINE_DATABASE_URL, else ./engine-records.db). Times are UTC.",
    )
    calls.add_argument("--flow", help="a flow's name, its file's name or its path")
    calls.add_argument("--number", help="the dialled number or the caller's, e.g. +18005551212")
    calls.add_argument("--outcome", choices=OUTCOMES)
    calls.add_argument(
        "--since", help="from this time: 2026-11-24T15:00 (UTC), or ago: 30m, 2h, 7d"
    )
    calls.add_argument("--until", help="before this time, as for --since")
    calls.add_argument("--day", help="on this UTC day: 2026-11-24")
    calls.add_argument("--limit", type=int, default=50, help=f"at most this many (1-{MAX_LIMIT})")
    calls.add_argument("--before", metavar="CURSOR", help="the next page, as the last one said")
    calls.add_argument("--format", choices=("text", "json"), default="text")
    calls.set_defaults(run=_list_calls)
    shows = calls.add_subparsers(dest="calls_command", metavar="show")
    show = shows.add_parser("show", help="one call's timeline and transcript")
    show.add_argument("call_id", metavar="ID")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(run=_show_call)


def add_db_command(commands: Any) -> None:
    db = commands.add_parser(
        "db",
        help="the records database: engine db upgrade",
        description="engine serve migrates the records schema at start; run this to do it "
        "alone (a deploy step, or a database user that may alter tables).",
    )
    actions = db.add_subparsers(dest="db_command", metavar="upgrade", required=True)
    upgrade = actions.add_parser("upgrade", help="bring the records schema up to date")
    upgrade.set_defaults(run=_upgrade)


def _database(command: str) -> URL | None:
    from .settings import database_url

    try:
        return database_url(os.environ.get("ENGINE_DATABASE_URL"))
    except ValueError as exc:
        print(f"engine {command}: {exc}", file=sys.stderr)
        return None


def _no_file_yet(url: URL) -> bool:
    if url.get_backend_name() != "sqlite" or Path(str(url.database)).exists():
        return False
    print(
        f"no call records yet: {url.database} does not exist (engine serve and engine demo "
        "keep them there; ENGINE_DATABASE_URL names another database)",
        file=sys.stderr,
    )
    return True


def _on_database(
    command: str, url: URL, work: Callable[[Any], Awaitable[T]], *, migrate: bool = True
) -> T | None:
    """Run ``work(store)`` (on an up-to-date schema unless ``migrate`` is false); None,
    after saying why, when the database fails."""
    from .database import describe_error, open_database
    from .migrate import upgrade
    from .settings import redacted
    from .store import CallStore

    async def main() -> T:
        database = open_database(url)
        try:
            if migrate:
                await upgrade(database)
            return await work(CallStore(database))
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except Exception as exc:
        print(
            f"engine {command}: the records database {redacted(url)} did not answer: "
            f"{describe_error(exc)}",
            file=sys.stderr,
        )
        return None


def _list_calls(args: argparse.Namespace) -> int:
    from .readable import calls_table

    try:
        query = CallQuery.parse(
            {
                "flow": args.flow,
                "number": args.number,
                "outcome": args.outcome,
                "since": args.since,
                "until": args.until,
                "day": args.day,
                "limit": str(args.limit),
                "before": args.before,
            }
        )
    except QueryError as exc:
        print(f"engine calls: --{exc}", file=sys.stderr)
        return EXIT_USAGE
    url = _database("calls")
    if url is None:
        return EXIT_USAGE
    if _no_file_yet(url):
        return EXIT_OK
    found = _on_database("calls", url, lambda store: store.find(query))
    if found is None:
        return EXIT_PROBLEMS
    page, after = found
    if args.format == "json":
        body = {"calls": [c.to_dict() for c in page], "next": after.encode() if after else None}
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not page:
        print("no calls match" if _filtered(args) else "no calls recorded yet")
        return EXIT_OK
    print(calls_table(page))
    if after is not None:
        print(f"… more: engine calls --before {after.encode()} (with the same filters)")
    return EXIT_OK


def _filtered(args: argparse.Namespace) -> bool:
    return any(
        getattr(args, name) for name in ("flow", "number", "outcome", "since", "until", "day")
    )


def _show_call(args: argparse.Namespace) -> int:
    from .readable import call_story

    url = _database("calls")
    if url is None:
        return EXIT_USAGE
    if _no_file_yet(url):
        return EXIT_PROBLEMS
    found = _on_database("calls", url, lambda store: _get(store, args.call_id))
    if found is None:
        return EXIT_PROBLEMS
    record = found[0]
    if record is None:
        print(f"engine calls show: no record of call {args.call_id!r}", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.format == "json":
        print(json.dumps(record.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(call_story(record))
    return EXIT_OK


async def _get(store: Any, call_id: str) -> tuple[Any]:
    return (await store.get(call_id),)  # a tuple: "no such call" is not "no answer"


def _upgrade(args: argparse.Namespace) -> int:
    from .migrate import upgrade
    from .settings import redacted

    url = _database("db upgrade")
    if url is None:
        return EXIT_USAGE

    async def work(store: Any) -> tuple[str | None, str | None]:
        return await upgrade(store.engine)

    found = _on_database("db upgrade", url, work, migrate=False)
    if found is None:
        return EXIT_PROBLEMS
    before, now = found
    done = f"upgraded from {before or 'empty'} to {now}" if before != now else f"already at {now}"
    print(f"records database {redacted(url)}: schema {done}")
    return EXIT_OK
