"""How fast the studio's flows pages answer (target: every page under 100 ms, issue #11).

Serves the studio in process (``httpx.ASGITransport`` over ``create_app``: the server's own
time, no sockets) over a copy of the example flows, plus ``--copies`` more flow files (copies
of the receptionist with numbers of their own, for a longer list), signed in with the admin
token, and times each page ``--repeat`` times: min / median / p95 / max in milliseconds.

- ``GET /flows``: the list;
- ``GET /flows/FILE``: each example flow's page (lint, diagram, scenarios listed), warm;
- ``POST /flows/FILE/lint``: a text never seen before (the lint runs), and one seen (kept);
- ``POST /flows/FILE/scenarios``: acme-support's 21 scenarios, run.

    python bench/studio_flows_bench.py [--repeat 50] [--copies 0]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from engine.openai import OpenAIConfig
from engine.server import Engine, EngineSettings, create_app
from engine.studio.settings import StudioSettings

FLOWS = Path(__file__).resolve().parents[1] / "flows"
TOKEN = "bench-token-0123456789abcdef"
CONFIG = OpenAIConfig(
    api_key="sk-bench", webhook_secret="whsec_YmVuY2g=", base_url="http://127.0.0.1:9/v1"
)


async def timed(
    label: str, repeat: int, request: Callable[[int], Awaitable[httpx.Response]]
) -> None:
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        answer = await request(i)
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (label, answer.status_code)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(
        f"{label:44} min {times[0]:6.2f}  median {statistics.median(times):6.2f}  "
        f"p95 {p95:6.2f}  max {times[-1]:6.2f} ms"
    )


async def main(repeat: int, copies: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "flows"
        shutil.copytree(FLOWS, folder)
        receptionist = (folder / "receptionist.yaml").read_text()
        for n in range(copies):
            text = receptionist.replace('"+14155550123"', f'"+1415666{n:04d}"')
            (folder / f"desk-{n:04d}.yaml").write_text(text)
        engine = Engine(
            EngineSettings(
                flows_dir=str(folder), openai=CONFIG, studio=StudioSettings(admin_token=TOKEN)
            ),
            environ={"ACME_TOKEN": "bench"},
        )
        engine.registry.reload()
        transport = httpx.ASGITransport(app=create_app(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench/studio") as client:
            await client.post("/sign-in", data={"token": TOKEN})
            page = await client.get("/flows")
            found = re.search(r'<meta name="csrf" content="([^"]*)"', page.text)
            assert found
            htmx = {"HX-Request": "true", "X-CSRF-Token": found.group(1)}
            print(
                f"{len(list(folder.glob('*.yaml')))} files (scenario files included), {repeat} runs each"
            )
            await timed("GET /flows", repeat, lambda _: client.get("/flows"))
            for path in sorted(FLOWS.glob("*.yaml")):
                if not path.name.endswith(".test.yaml"):
                    await client.get(f"/flows/{path.name}")
                    await timed(
                        f"GET /flows/{path.name}",
                        repeat,
                        lambda _, n=path.name: client.get(f"/flows/{n}"),
                    )
            text = (folder / "bank-line.yaml").read_text()
            url = "/flows/bank-line.yaml/lint"
            await timed(
                "POST lint bank-line (new text)",
                repeat,
                lambda i: client.post(url, data={"text": f"{text}# {i}\n"}, headers=htmx),
            )
            await timed(
                "POST lint bank-line (seen)",
                repeat,
                lambda _: client.post(url, data={"text": text}, headers=htmx),
            )
            await timed(
                "POST scenarios acme-support (21)",
                max(3, repeat // 10),
                lambda _: client.post("/flows/acme-support.yaml/scenarios", headers=htmx),
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--copies", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.repeat, args.copies))
