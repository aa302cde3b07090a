"""The runtime harness: the simulator and the engine on loopback, against a temporary flows
folder. Tests get it from the ``rt`` fixture (tests/conftest.py)::

    def test_x(rt):
        async def main():
            async with rt(flows={"a.yaml": FLOW}) as h:
                placed = await h.place(to="+18005550001")
        asyncio.run(main())
"""

from __future__ import annotations

import contextlib
import shutil
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from engine.records.memory import RecentRecords
from engine.records.record import CallRecord
from engine.runner import running_engine
from engine.server import Engine, EngineSettings
from engine.simulator import PlacedCall, SimCall, Simulator

from helpers import wait_for

REPO_FLOWS = Path(__file__).resolve().parents[1] / "flows"
# Tuesday 3 March 2026, 10:00 in New York: every example flow is open. Calls in these tests
# would otherwise meet acme-support's closed hours at night; tests of the hours set their own.
OPEN_HOURS = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
BANK_NUMBER = "+18005550040"


@dataclass
class Harness:
    sim: Simulator
    engine: Engine
    url: str
    flows_dir: Path
    http: httpx.AsyncClient

    @property
    def webhook(self) -> str:
        return self.url + "/webhooks/openai"

    async def place(self, to: str = "+18005551212", **kwargs: Any) -> PlacedCall:
        return await self.sim.place_call(self.webhook, to=to, **kwargs)

    async def answered(self, to: str = "+18005551212", **kwargs: Any) -> SimCall:
        """Place a call, expect it accepted, and wait until the greeting has been heard."""
        placed = await self.place(to, **kwargs)
        assert placed.status == 200, placed.deliveries
        call = placed.call
        await call.wait_connected()
        await call.wait_for_client_event("response.create")
        await call.wait_idle()
        return call

    def write_flow(self, name: str, text: str) -> Path:
        path = self.flows_dir / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    wait_for = staticmethod(wait_for)

    async def wait_calls_over(self, timeout: float = 3.0) -> None:
        await wait_for(lambda: not self.engine.calls, timeout, "engine.calls to empty")

    async def flow_status(self) -> dict[str, dict[str, Any]]:
        """``GET /flows``: each flow file's status, by file name."""
        response = await self.http.get(self.url + "/flows")
        assert response.status_code == 200
        return {f["file"].rsplit("/", 1)[-1]: f for f in response.json()}

    async def wait_flow_status(
        self, predicate: Callable[[dict[str, dict[str, Any]]], Any], what: str, timeout: float = 5.0
    ) -> dict[str, dict[str, Any]]:
        """Poll ``/flows`` until ``predicate`` holds of it (the reload is the engine's own
        timer); returns the status it held of."""

        async def holds() -> dict[str, dict[str, Any]] | None:
            status = await self.flow_status()
            return status if predicate(status) else None

        return await wait_for(holds, timeout, what, interval=0.05)

    def rest_requests(self) -> list[Any]:
        return list(self.sim.requests) + [r for c in self.sim.calls.values() for r in c.requests]

    async def record(self, call_id: str, timeout: float = 3.0) -> CallRecord:
        """The call's record, once the engine has finished it (the default sink keeps it)."""
        sink = self.engine.record_sink
        assert isinstance(sink, RecentRecords)
        return await wait_for(lambda: sink.get(call_id), timeout, f"the record of {call_id}")


@contextlib.asynccontextmanager
async def harness(
    tmp_path: Path,
    *,
    flows: dict[str, str] | None = None,
    repo_flows: bool = False,
    environ: dict[str, str] | None = None,
    simulator: dict[str, Any] | None = None,
    **settings: Any,
) -> AsyncIterator[Harness]:
    folder = tmp_path / "flows"
    folder.mkdir(exist_ok=True)
    if repo_flows:
        for path in REPO_FLOWS.glob("*.yaml"):
            shutil.copy(path, folder / path.name)
    for name, text in (flows or {}).items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    settings.setdefault("reload_interval_s", 0.1)
    settings.setdefault("clock", lambda: OPEN_HOURS)
    settings.setdefault("drain_timeout_s", 2.0)
    async with Simulator(**(simulator or {})) as sim:
        engine = Engine(
            EngineSettings(flows_dir=str(folder), openai=sim.config(), **settings),
            environ=environ if environ is not None else {"ACME_TOKEN": "t"},
        )
        async with running_engine(engine) as url, httpx.AsyncClient(trust_env=False) as http:
            try:
                yield Harness(sim, engine, url, folder, http)
            finally:
                # Callers hang up, so the engine's drain on stop has nothing to wait for.
                for call in list(sim.calls.values()):
                    if not call.ended:
                        await call.hang_up()
                with contextlib.suppress(TimeoutError):
                    await wait_for(lambda: not engine.calls, 2.0, "calls to end")


# -- flows several runtime test files call ------------------------------------------------
def bank_flow(base: str = "http://127.0.0.1:9", *, extra: str = "") -> str:
    """The bank line (``BANK_NUMBER``): keys, digits, a filler, a transfer with a fallback;
    its tools ask ``base``; ``extra`` is added at the top level."""
    return f"""\
name: Bank
numbers: ["{BANK_NUMBER}"]
instructions: You are the bank's phone agent.
greeting: Welcome to the bank.
global_tools: [to_person, goodbye]
keypad: {{"0": to_person}}
trunk: {{carrier: wavix, region: us, transfer_wait: 0.4}}
start: menu
states:
  menu:
    instructions: Offer balances (press 1) or an account check (press 2).
    tools: [balance, account]
    keypad: {{"1": balance, "2": account}}
  account:
    instructions: Ask for the 6-digit account number; the caller may key it in.
    tools: []
    collect:
      save_as: account_number
      digits: 6
      timeout: 0.3
      then: check_account
tools:
  balance:
    description: Read the balance.
    say: Your balance is forty-two dollars.
  account:
    description: Check an account.
    goto: account
  check_account:
    description: Look the account up.
    http:
      url: "{base}/accounts/{{{{ saved.account_number }}}}"
      timeout: 2
  slow_lookup:
    description: A slow lookup.
    http:
      url: "{base}/slow"
      timeout: 3
    filler: {{say: One moment while I look that up., after: 0.2}}
  to_person:
    description: Transfer to a person.
    say: Connecting you to a person.
    transfer: ["+15551230000", "sip:desk@pbx.example"]
    fallback: {{say: Nobody is free right now., goto: menu}}
  goodbye:
    description: End the call.
    say: Goodbye!
    hangup: true
{extra}"""


def orders_flow(base: str, timeout: float = 0.5) -> str:
    """The orders line: one tool asking ``base`` for an order, with this timeout."""
    return f"""\
name: Orders
numbers: ["+18005550002"]
instructions: Orders agent.
greeting: Orders line.
tools:
  lookup_order:
    description: Look up an order.
    parameters:
      order_id: {{type: string, description: the order}}
    http:
      method: GET
      url: "{base}/orders/{{{{ args.order_id }}}}"
      timeout: {timeout:g}
"""
