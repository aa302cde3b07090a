"""An engine that keeps no records, and every command but the records' own, does not load
SQLAlchemy: a process that loads it owes the garbage collector full passes over tens of
thousands of objects (pauses of 0.1 s and more, measured in bench/runtime_bench.py), and
`engine lint` would start slower."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_engine_and_the_cli_load_no_database_code_until_records_are_kept():
    probe = (
        "import sys\n"
        "import engine.cli, engine.demo, engine.server\n"
        "from engine.records import CallRecord, RecordSink\n"
        "engine.cli.build_parser()\n"
        "from engine.server import Engine, EngineSettings\n"
        "from engine.openai import OpenAIConfig\n"
        "config = OpenAIConfig(api_key='sk-x', webhook_secret='whsec_eA==', base_url='http://127.0.0.1:9/v1')\n"
        "import asyncio\n"
        "engine_ = Engine(EngineSettings(flows_dir='.', openai=config))\n"
        "engine.server.create_app(engine_)\n"
        "asyncio.run(engine_.records.start())\n"
        "asyncio.run(engine_.records.stop())\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic', 'asyncpg', 'aiosqlite'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
