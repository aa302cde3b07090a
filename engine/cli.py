"""The `engine` command. Each subcommand is a few lines over the layers below it."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _lint(args: argparse.Namespace) -> int:
    from .flow.diagnostics import format_github, format_json, format_text, summary_line
    from .flow.ignores import UNIGNORABLE, unknown_rule_message
    from .flow.lint import collect_files, lint_files
    from .flow.rules import RULES
    from .flow.workers import in_workers, parallel_jobs

    ignored = args.ignore or []
    wrong = [name for name in ignored if name not in RULES or name in UNIGNORABLE]
    for name in wrong:
        message, hint = unknown_rule_message(name)
        print(f"engine lint: --ignore {message}{'; ' + hint if hint else ''}", file=sys.stderr)
    if wrong:
        return EXIT_USAGE
    outside: list[str] = []
    files, missing = collect_files(args.paths, outside)
    for path in missing:
        print(f"engine lint: {path}: no such file or folder", file=sys.stderr)
    for path in outside:
        print(
            f"engine lint: {path}: a link to a file outside its folder; not read",
            file=sys.stderr,
        )
    if missing:
        return EXIT_USAGE
    if not files:
        print("engine lint: no flow files (*.yaml, *.yml) found", file=sys.stderr)
        return EXIT_USAGE
    report = lint_files(files, ignore=ignored, each=in_workers(parallel_jobs(len(files))))
    diagnostics = report.diagnostics
    if args.format == "json":
        print(format_json(diagnostics))
    elif args.format == "github":
        if diagnostics:
            print(format_github(diagnostics))
        print(summary_line(diagnostics, len(files)))
    else:
        if diagnostics:
            print(format_text(diagnostics, report.sources))
        print(summary_line(diagnostics, len(files)))
    failing = [d for d in diagnostics if d.is_error or args.strict]
    return EXIT_PROBLEMS if failing else EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    from .flow.schema import flow_schema_text

    sys.stdout.write(flow_schema_text())
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from .connections import ConnectionLimits, serve_config
    from .logs import setup_logging
    from .openai import ConfigError
    from .runner import DrainingServer
    from .server import Engine, EngineSettings, create_app

    # A mistyped folder would otherwise start an engine that answers nothing and says so
    # only at /readyz: stop at once, in one line, as a missing setting does.
    folder = Path(args.flows_dir)
    if not folder.is_dir():
        why = "a file, not a folder" if folder.exists() else "no such folder"
        print(
            f"engine serve: {args.flows_dir}: {why}; give the folder of flow files "
            "(engine serve FLOWS_DIR)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    setup_logging(args.log_format)
    try:
        settings = EngineSettings.from_env(args.flows_dir)
        limits = ConnectionLimits.from_env()
    except (ConfigError, ValueError) as exc:
        print(f"engine serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    engine = Engine(settings)
    config = serve_config(
        create_app(engine),
        limits,
        host=args.host,
        port=args.port,
        log_config=None,
        lifespan="on",
    )
    asyncio.run(DrainingServer(config, engine).serve())
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    from .logs import setup_logging

    setup_logging("text", level=40)  # the demo prints its own timeline; show errors only
    return run_demo(args.flows_dir)


class _Subcommand(argparse.ArgumentParser):
    """A subcommand's parser. Given ``module``, its arguments and its ``run`` come from that
    module (``add_arguments``, ``run``), imported only when the subcommand is used or its help
    shown: `engine lint` does not wait for the simulator that `engine test` imports."""

    def __init__(self, *args: Any, module: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._module = module

    def _load(self) -> None:
        if self._module is not None:
            module = importlib.import_module(self._module)
            self._module = None
            module.add_arguments(self)
            self.set_defaults(run=module.run)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        self._load()
        return super().parse_known_args(*args, **kwargs)

    def format_usage(self) -> str:
        self._load()
        return super().format_usage()

    def format_help(self) -> str:
        self._load()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engine",
        description="A declarative call-flow engine for OpenAI Realtime SIP calls.",
    )
    parser.add_argument("--version", action="version", version=f"engine {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Subcommand)

    lint = commands.add_parser(
        "lint",
        help="check flow files and point at every mistake",
        description="Check flow files. Exit 0: clean; 1: problems found; 2: usage error.",
    )
    lint.add_argument(
        "paths",
        nargs="*",
        default=["flows"],
        metavar="PATH",
        help="flow files or folders (default: flows, as for engine test)",
    )
    lint.add_argument(
        "--format",
        choices=("text", "json", "github"),
        default="text",
        help="github: GitHub Actions workflow annotations",
    )
    lint.add_argument("--strict", action="store_true", help="warnings fail the exit code too")
    lint.add_argument(
        "--ignore",
        action="append",
        metavar="RULE",
        help="leave out the problems of this rule everywhere, e.g. template-env (repeatable); "
        "in a file, `# engine: ignore[RULE]` leaves them out on one line",
    )
    lint.set_defaults(run=_lint)

    schema = commands.add_parser("schema", help="print the flow JSON Schema")
    schema.set_defaults(run=_schema)

    serve = commands.add_parser(
        "serve",
        help="answer calls: the OpenAI webhook, health and flow status over HTTP",
        description="Configuration comes from the environment: OPENAI_API_KEY, "
        "OPENAI_WEBHOOK_SECRET, OPENAI_BASE_URL (optional), ENGINE_DRAIN_TIMEOUT, "
        "ENGINE_DEFAULT_COUNTRY_CODE, ENGINE_MAX_CONNECTIONS, ENGINE_DATABASE_URL (call "
        "records; default ./engine-records.db), ENGINE_RECORDS_DAYS, ENGINE_ADMIN_TOKEN, "
        "ENGINE_STUDIO_USERS, ENGINE_STUDIO_SECRET, ENGINE_STUDIO_SECURE_COOKIE.",
    )
    serve.add_argument("flows_dir", nargs="?", default="flows", metavar="FLOWS_DIR")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-format", choices=("text", "json"), default="text")
    serve.set_defaults(run=_serve)

    commands.add_parser(
        "test",
        module="engine.authoring.scenarios",
        help="run the scenarios (*.test.yaml) beside the flows, with no phone and no network",
        description="Exit 0: every scenario passed; 1: a scenario failed or a scenario file "
        "has a mistake; 2: usage error.",
    )
    commands.add_parser(
        "graph",
        module="engine.authoring.graph",
        help="print a flow as a Mermaid (or DOT) diagram of its states and tools",
    )
    commands.add_parser(
        "new",
        module="engine.authoring.scaffold",
        help="write a new flow and its scenarios, ready to edit (lints clean)",
    )

    commands.add_parser(
        "studio",
        module="engine.studio.alone",
        help="the studio alone on loopback: edit, lint, test and try flows in a browser",
    )
    commands.add_parser(
        "studio-user",
        module="engine.studio.users",
        help="add a studio user (or change their password or role) in a users file",
    )

    demo = commands.add_parser(
        "demo", help="place one scripted call through the built-in OpenAI simulator"
    )
    demo.add_argument("flows_dir", nargs="?", default="flows", metavar="FLOWS_DIR")
    demo.set_defaults(run=_demo)

    from .records.cli import add_calls_command, add_db_command

    add_calls_command(commands)
    add_db_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
