"""`engine demo`: one scripted call, from the signed webhook to the transfer, on loopback.

It starts the built-in OpenAI simulator and the engine, places a call to the Acme support
line in ``flows/``, plays the caller and the model, and prints what crossed the wire. No
keys, no network.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .records import CallRecord
from .runner import running_engine
from .server import Engine, EngineSettings

if TYPE_CHECKING:  # SQLAlchemy comes with it: imported when the demo runs, not with DEMO_CLOCK
    from .records.settings import RecordsSettings

__all__ = ["run_demo"]

DEMO_NUMBER = "+18005551212"
# The demo's own clock, a Tuesday at 10:00 in New York, so the Acme line is open whenever the
# demo runs (out of hours it would hand the call to flows/after-hours.yaml).
DEMO_CLOCK = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
# How the engine asks the model for a scripted line (engine/openai/protocol.py); the demo
# shows the line the caller hears, not the request around it.
_SAY_EXACTLY = "Say exactly: "


def _spoken(response: dict[str, object]) -> str:
    """The line a ``response.create`` asks the model to say."""
    return str(response.get("instructions") or "").removeprefix(_SAY_EXACTLY)


async def _demo(flows_dir: str, records: RecordsSettings) -> int:
    from .records.readable import call_story
    from .simulator import Simulator

    start = time.perf_counter()

    def say(line: str) -> None:
        print(f"{(time.perf_counter() - start) * 1000:8.1f} ms  {line}")

    async with Simulator() as sim:
        settings = EngineSettings(
            flows_dir=flows_dir, openai=sim.config(), clock=lambda: DEMO_CLOCK, records=records
        )
        engine = Engine(settings, environ={"ACME_TOKEN": "demo-token"})
        async with running_engine(engine) as url:
            # The timeline counts from here: the call, not the start-up of two servers.
            start = time.perf_counter()
            say(f"engine listening on {url}; OpenAI simulator on {sim.base_url}")
            say(
                f"phone rings: a Twilio caller dials {DEMO_NUMBER} (demo clock: Tue 10:00 New York)"
            )
            placed = await sim.place_call(f"{url}/webhooks/openai", to=DEMO_NUMBER)
            call = placed.call
            accept = (await call.wait_for_request("accept")).body or {}
            say(f"webhook answered {placed.deliveries[-1].status} after accept")
            tools = ", ".join(t["name"] for t in accept.get("tools", []))
            say(
                f"accepted: model {accept.get('model')}, voice "
                f"{accept.get('audio', {}).get('output', {}).get('voice')}, tools [{tools}]"
            )
            await call.wait_connected()
            greeting = await call.wait_for_client_event("response.create")
            say(f'agent greets: "{_spoken(greeting["response"])}"')
            await call.wait_idle()
            call.model.call_tool("to_billing", {}, preamble="Sure, billing can help with that.")
            say('caller: "I have a question about my bill."')
            await call.say("I have a question about my bill.")
            output = await call.wait_for_client_event("conversation.item.create")
            say(f"model calls to_billing; engine answers {output['item']['output']}")
            line = await call.wait_for_client_event("response.create", count=2)
            say(f'agent says the transfer line: "{_spoken(line["response"])}"')
            refer = await call.wait_for_request("refer", timeout=10)
            say(f"line heard; REFER to {(refer.body or {}).get('target_uri')}")
            reason = await call.wait_ended(timeout=10)
            say(f"call ended: {reason}")
            record = await _record_of(engine, call.call_id)
    print("\ntranscript:")
    for said in (record.transcript or []) if record is not None else []:
        print(f"  {said.who:>6}: {said.text}")
    where = records.url.database if records.url.get_backend_name() == "sqlite" else None
    print(f"\ncall record, kept in {where or records.shown_url}:")
    if record is None:
        print("  (no record of this call was kept)")
    else:
        print(call_story(record))
        print(f"\n(engine calls lists the calls kept; engine calls show {call.call_id} shows this)")
    return 0


async def _record_of(engine: Engine, call_id: str) -> CallRecord | None:
    """The call's record as the database has it: the call's end written first."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            while engine.calls:  # the call's task puts its last record as it ends
                await asyncio.sleep(0.01)
    writer = engine.records.writer
    if writer is not None:
        await writer.flush()
    store = engine.records.store
    return None if store is None else await store.get(call_id)


def run_demo(flows_dir: str | None = None) -> int:
    folder = flows_dir or str(Path("flows"))
    if not Path(folder, "acme-support.yaml").is_file():
        print(f"engine demo: {folder}/acme-support.yaml not found; run it from the repository")
        return 2
    from .records.settings import RecordsSettings

    try:
        records = RecordsSettings.from_env(os.environ)
    except ValueError as exc:
        print(f"engine demo: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_demo(folder, records))
