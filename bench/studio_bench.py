"""How fast the studio's pages answer with 10,000 call records (issue #11: every page under
100 ms).

Writes ``--records`` call records (default 10,000; several flows, every outcome, tools that
succeed and fail, transcripts and timelines of realistic length, spread over the last 28
days) into a fresh SQLite file (or, with ``--database postgresql``, a scratch database
created on ``--postgres-url``'s server and dropped after) through the store's own upsert,
then starts ``engine studio`` on it in a child process (a whole engine on loopback, as a
flow author runs it), signs in, and times every studio page through real HTTP:
``--requests`` requests per page, one at a time, after two unmeasured ones. Prints p50, p95
and max in milliseconds per page, and the status each answered. Not a test: it prints
figures. Loopback only; the child process is stopped at the end whatever happens.

    python bench/studio_bench.py [--records 10000] [--requests 50]
        [--database sqlite|postgresql] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.records import (  # noqa: E402
    CallOutcome,
    CallRecord,
    Step,
    ToolCall,
    TranscriptLine,
    TransferTry,
)

TOKEN = "studio-bench-token-0123456789"
FLOWS = REPO / "flows"
# Flow file, its name, its numbers, its tools: as in the repository's flows/.
LINES = [
    (
        "acme-support.yaml",
        "Acme support line",
        ["+18005551212", "+442071234567"],
        ["lookup_order", "to_billing", "tech_help", "to_engineer", "request_callback", "goodbye"],
    ),
    (
        "bank-line.yaml",
        "Bank line",
        ["+18005550120"],
        ["balances", "cards", "main_menu", "check_balance", "to_cards_team", "to_person"],
    ),
    ("after-hours.yaml", "Acme after hours", ["+18005550142"], ["take_message", "goodbye"]),
    ("receptionist.yaml", "Receptionist", ["+14155550123"], ["find_person", "transfer"]),
    ("acme-priority.yaml", "Acme priority", ["+18005550150"], ["to_account_manager"]),
]
OUTCOMES = [
    (CallOutcome.HANDLED, 45),
    (CallOutcome.TRANSFERRED, 30),
    (CallOutcome.ABANDONED, 15),
    (CallOutcome.REJECTED, 6),
    (CallOutcome.FAILED, 4),
]
TOOL_OUTCOMES = [("ok", 85), ("failed", 6), ("timeout", 4), ("refused", 3), ("cancelled", 2)]
TEXT = (
    "I have a question about my bill please where is my order it was due last week can you "
    "check the status I would like to speak to someone about my card thank you goodbye"
)
WORDS = TEXT.split(" ")


def _pick(rng: random.Random, weighted: list[tuple[Any, int]]) -> Any:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(5, 16))).capitalize() + "."


def make_records(count: int, seed: int = 11) -> list[CallRecord]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    records = []
    for _ in range(count):
        file, name, numbers, tools = LINES[min(int(rng.expovariate(0.9)), len(LINES) - 1)]
        at = now - timedelta(seconds=rng.uniform(60, 28 * 86400))

        def t(s: float, at: datetime = at) -> datetime:
            return at + timedelta(seconds=s)

        outcome = _pick(rng, OUTCOMES)
        record = CallRecord(
            call_id=f"rtc_{uuid.UUID(int=rng.getrandbits(128)).hex}",
            received_at=at,
            from_number=f"+1415555{rng.randint(0, 9999):04d}",
            to_number=rng.choice(numbers),
            headers={"X-Twilio-CallSid": f"CA{rng.getrandbits(64):016x}"},
            flow_file=str(FLOWS / file),
            flow_name=name,
            flow_version=f"{rng.getrandbits(48):012x}",
            replica="bench:1",
        )
        if outcome is CallOutcome.REJECTED:
            record.decision, record.reject_status = "rejected", 486
            record.reject_reason, record.reject_kind = "the line is closed", "closed"
            record.ended_at, record.ended_how, record.outcome = at, "rejected", outcome
            record.timeline = [Step(at, "decision", "rejected with SIP 486: the line is closed")]
            records.append(record)
            continue
        record.answered_at = t(0.3)
        clock = 0.3
        record.timeline.append(Step(at, "decision", f"answered with flow {file}"))
        record.transcript = []
        for turn in range(rng.randint(2, 8)):
            clock += rng.uniform(1, 6)
            who, kind = ("agent", "said") if turn % 2 == 0 else ("caller", "heard")
            text = _sentence(rng)
            record.transcript.append(TranscriptLine(t(clock), who, text))
            record.timeline.append(Step(t(clock), kind, text))
            if turn == 1:
                state = rng.choice(["triage", "menu", "tech", "account"])
                record.states.append(Step(t(clock), "state", f"entered state {state}"))
                record.timeline.append(record.states[-1])
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            clock += rng.uniform(0.5, 3)
            tool_outcome = _pick(rng, TOOL_OUTCOMES)
            tool = ToolCall(
                name=rng.choice(tools),
                started_at=t(clock),
                arguments={"order_id": f"A-{rng.randint(1, 99999)}"},
                outcome=tool_outcome,
                answer='{"status": "shipped", "eta": "tomorrow"}',
                http_status=200 if tool_outcome == "ok" else 503,
                duration_ms=rng.uniform(40, 900),
            )
            record.tools.append(tool)
            record.timeline.append(
                Step(
                    tool.started_at,
                    "tool",
                    f"tool {tool.name}: {tool.outcome}",
                    {"name": tool.name, "outcome": tool.outcome},
                )
            )
        if outcome is CallOutcome.TRANSFERRED:
            clock += 1
            target = "sip:+15551230000@sip.acme.example"
            record.transfers.append(TransferTry(target, t(clock), "took"))
            record.timeline.append(Step(t(clock), "transfer", f"transfer to {target}: took"))
        how = {
            CallOutcome.HANDLED: "hangup_tool",
            CallOutcome.TRANSFERRED: "transferred",
            CallOutcome.ABANDONED: "caller_hung_up",
            CallOutcome.FAILED: "failure",
        }[outcome]
        record.ended_at, record.ended_how, record.outcome = t(clock + 1), how, outcome
        record.timeline.append(Step(record.ended_at, "ended", f"ended: {how}", {"how": how}))
        records.append(record)
    return records


@contextlib.asynccontextmanager
async def scratch_database(kind: str, postgres_url: str) -> AsyncIterator[str]:
    """The URL of an empty database of this run's own, removed after."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/studio-bench.db"
        return
    import asyncpg

    from engine.records.settings import database_url

    admin = database_url(postgres_url)
    name = f"engine_bench_{uuid.uuid4().hex[:10]}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, timeout=5)
    await connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(drivername="postgresql", database=name).render_as_string(False)
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


async def fill(url: str, records: list[CallRecord]) -> float:
    from engine.records.database import open_database
    from engine.records.migrate import upgrade
    from engine.records.settings import database_url
    from engine.records.store import CallStore

    database = open_database(database_url(url), 30)
    try:
        await upgrade(database)
        store = CallStore(database, timeout_s=60)
        start = time.perf_counter()
        for i in range(0, len(records), 500):
            await store.upsert(records[i : i + 500], "bench")
        return time.perf_counter() - start
    finally:
        await database.dispose()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def engine_studio(url: str, port: int) -> Any:
    env = {
        **os.environ,
        "ENGINE_ADMIN_TOKEN": TOKEN,
        "ENGINE_DATABASE_URL": url,
        "PYTHONPATH": str(REPO),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "engine", "studio", str(FLOWS), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        cwd=REPO,
    )
    try:
        yield child
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def ready(client: httpx.AsyncClient, base: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"engine studio exited with status {child.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if (await client.get(base + "/sign-in")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise SystemExit("engine studio did not answer within 30 s")


def pages(records: list[CallRecord]) -> list[tuple[str, str]]:
    sample = records[len(records) // 2]
    day = sample.received_at.strftime("%Y-%m-%d")
    return [
        ("flows list", "/flows"),
        ("flow page", "/flows/acme-support.yaml"),
        ("versions", "/flows/acme-support.yaml/versions"),
        ("version", f"/flows/acme-support.yaml/versions/{sample.flow_version}"),
        ("calls", "/calls"),
        ("calls ?flow", "/calls?flow=bank-line.yaml"),
        ("calls ?flow (rare)", "/calls?flow=acme-priority.yaml"),
        ("calls ?number (dialled)", "/calls?number=%2B18005550120"),
        ("calls ?number (caller)", f"/calls?number={sample.from_number.replace('+', '%2B')}"),
        ("calls ?number (none)", "/calls?number=%2B19999999999"),
        ("calls ?outcome", "/calls?outcome=failed"),
        ("calls ?day", f"/calls?day={day}"),
        ("calls all filters", f"/calls?flow=acme-support&outcome=handled&day={day}"),
        ("call page", f"/calls/{sample.call_id}"),
        ("overview (14 days)", "/overview"),
        ("overview (90 days)", "/overview?days=90"),
    ]


async def measure(base: str, records: list[CallRecord], requests: int) -> list[str]:
    lines = []
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        answer = await client.post(base + "/sign-in", data={"token": TOKEN, "next": ""})
        assert answer.status_code == 303, answer.status_code
        found = pages(records)
        # The second page of the list, by the cursor the first one gives.
        first = await client.get(base + "/calls")
        link = re.search(r'href="([^"]+)" rel="next"', first.text)
        if link is not None:
            found.append(("calls page 2", html.unescape(link.group(1))[len("/studio") :]))
        width = max(len(n) for n, _ in found)
        lines.append(f"{'page':<{width}}  status    p50 ms    p95 ms    max ms")
        for name, path in found:
            times = []
            status = 0
            for i in range(requests + 2):
                start = time.perf_counter()
                got = await client.get(base + path)
                took = (time.perf_counter() - start) * 1000
                status = got.status_code
                if i >= 2:
                    times.append(took)
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            lines.append(
                f"{name:<{width}}  {status:>6}  {statistics.median(times):8.1f}  {p95:8.1f}  "
                f"{times[-1]:8.1f}"
            )
    return lines


async def main(args: argparse.Namespace) -> None:
    records = make_records(args.records)
    tools = sum(len(r.tools) for r in records)
    async with scratch_database(args.database, args.postgres_url) as url:
        took = await fill(url, records)
        print(
            f"{len(records)} call records ({tools} tool calls) written to {args.database} "
            f"in {took:.1f} s"
        )
        port = _free_port()
        base = f"http://127.0.0.1:{port}/studio"
        with engine_studio(url, port) as child:
            async with httpx.AsyncClient(trust_env=False, timeout=5) as probe:
                await ready(probe, base, child)
            for line in await measure(base, records, args.requests):
                print(line, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a server where a scratch database may be created (for --database postgresql)",
    )
    asyncio.run(main(parser.parse_args()))
