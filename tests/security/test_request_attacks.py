"""Values a caller writes (their display name, SIP headers, what a service answered, the
model's arguments) reaching an outside service: they are data, never structure. Every test
places a real call through the simulator and looks at what a loopback service received."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from helpers import tool_outputs

NUMBER = "+18005550171"
ATTACK = "x/../../admin?role=root&a="


def recording_service(seen: list[dict]) -> Starlette:
    """A service that records each request as it arrived on the wire."""

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        seen.append(
            {
                "raw_path": request.scope["raw_path"].decode(),
                "query": request.query_params.multi_items(),
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": json.loads(body) if body else None,
            }
        )
        if request.url.path == "/accounts/lookup":
            return JSONResponse({"id": "../admin?role=root#x", "name": "Ada"})
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/{rest:path}", endpoint, methods=["GET", "POST"])])


def flow(base: str) -> str:
    return f"""\
name: Customers
numbers: ["{NUMBER}"]
instructions: Look the caller up.
greeting: Customers line.
tools:
  by_name:
    description: Look the caller up by name.
    http:
      url: "{base}/customers/{{{{ caller.name }}}}"
  by_header:
    description: Look the caller up by the account their phone sends.
    http:
      url: "{base}/members/{{{{ call.sip_headers['X-Account'] }}}}?from={{{{ caller.number }}}}"
  lookup:
    description: Find the caller's account.
    http:
      url: "{base}/accounts/lookup"
      save_as: account
  by_saved:
    description: Read the account found before.
    http:
      url: "{base}/accounts/{{{{ saved.account.id }}}}/balance"
  orders:
    description: List orders.
    parameters:
      express: {{type: boolean, description: Express orders only}}
      note: {{type: string, required: false, description: A note}}
    http:
      url: "{base}/orders?express={{{{ args.express }}}}&note={{{{ args.note | default(none) }}}}"
  header_name:
    description: Send the caller's name in a header.
    http:
      url: "{base}/hello"
      headers: {{X-Caller-Name: "{{{{ caller.name }}}}"}}
  header_account:
    description: Send the account header on.
    http:
      url: "{base}/hello"
      headers: {{X-Account: "{{{{ call.sip_headers['X-Account'] }}}}"}}
  note:
    description: Save a note for the caller.
    parameters:
      text: {{type: string, description: The note}}
    http:
      method: POST
      url: "{base}/notes"
      body: {{who: "{{{{ caller.name }}}}", text: "{{{{ args.text }}}}", fixed: true}}
"""


async def _run_tool(h, tool: str, args: dict | str | None = None, **place) -> object:
    placed = await h.place(NUMBER, **place)
    assert placed.status == 200, placed.deliveries
    call = placed.call
    await call.wait_connected()
    await call.wait_for_client_event("response.create")
    await call.wait_idle()
    call.model.call_tool(tool, args or {})
    await call.say("Please look me up")
    await call.wait_for_client_event("response.create", count=2, timeout=4)
    return call


def test_a_display_name_fills_one_path_segment(rt, serve):
    async def main() -> None:
        seen: list[dict] = []
        async with serve(recording_service(seen)) as base, rt(flows={"c.yaml": flow(base)}) as h:
            call = await _run_tool(h, "by_name", caller_name=ATTACK)
            assert tool_outputs(call)[0]["ok"] is True
            assert [r["raw_path"] for r in seen] == [
                "/customers/x%2F..%2F..%2Fadmin%3Frole%3Droot%26a%3D"
            ]
            assert seen[0]["query"] == []

    asyncio.run(main())


def test_a_sip_header_fills_one_path_segment(rt, serve):
    async def main() -> None:
        seen: list[dict] = []
        async with serve(recording_service(seen)) as base, rt(flows={"c.yaml": flow(base)}) as h:
            await _run_tool(h, "by_header", extra_headers={"X-Account": ATTACK})
            await h.wait_for(lambda: seen, 3, "the service to be called")
            assert seen[0]["raw_path"] == "/members/x%2F..%2F..%2Fadmin%3Frole%3Droot%26a%3D"
            assert seen[0]["query"] == [("from", "+14155550100")]

    asyncio.run(main())


def test_a_saved_answer_fills_one_path_segment(rt, serve):
    async def main() -> None:
        seen: list[dict] = []
        async with serve(recording_service(seen)) as base, rt(flows={"c.yaml": flow(base)}) as h:
            call = await _run_tool(h, "lookup")
            call.model.call_tool("by_saved", {})
            await call.say("And my balance?")
            await h.wait_for(lambda: len(seen) == 2, 3, "the second request")
            assert seen[1]["raw_path"] == "/accounts/..%2Fadmin%3Frole%3Droot%23x/balance"
            assert seen[1]["query"] == []

    asyncio.run(main())


def test_none_and_false_are_empty_in_a_url(rt, serve):
    async def main() -> None:
        seen: list[dict] = []
        async with serve(recording_service(seen)) as base, rt(flows={"c.yaml": flow(base)}) as h:
            await _run_tool(h, "orders", {"express": False})
            await h.wait_for(lambda: seen, 3, "the service to be called")
            assert seen[0]["query"] == [("express", ""), ("note", "")]

    asyncio.run(main())


def test_a_header_value_cannot_add_a_header(rt, serve):
    async def main() -> None:
        seen: list[dict] = []
        async with serve(recording_service(seen)) as base, rt(flows={"c.yaml": flow(base)}) as h:
            call = await _run_tool(
                h, "header_account", extra_headers={"X-Account": "42\r\nX-Role: admin"}
            )
            (output,) = tool_outputs(call)
            assert (output["ok"], output["error"]) == (False, "bad_header")
            assert seen == []  # nothing was sent
            assert not call.ended

    asyncio.run(main())


@pytest.fixture
def logged():
    records: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Catch(level=logging.WARNING)
    logger = logging.getLogger("engine")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def test_a_non_ascii_header_value_fails_the_tool_without_a_traceback(rt, serve, logged):
    async def main() -> None:
        seen: list[dict] = []
        async with serve(recording_service(seen)) as base, rt(flows={"c.yaml": flow(base)}) as h:
            call = await _run_tool(h, "header_name", caller_name="Zoë Ñúñez")
            (output,) = tool_outputs(call)
            assert (output["ok"], output["error"]) == (False, "bad_header")
            assert seen == []
            assert not call.ended and len(h.engine.calls) == 1

    asyncio.run(main())
    assert [r for r in logged if r.exc_info] == []


def test_a_value_cannot_change_the_json_body(rt, serve):
    async def main() -> None:
        seen: list[dict] = []
        name = "Ada}, {admin: true"  # a SIP display name holds no unescaped quote
        async with serve(recording_service(seen)) as base, rt(flows={"c.yaml": flow(base)}) as h:
            call = await _run_tool(h, "note", {"text": '"}, "role": "root'}, caller_name=name)
            assert tool_outputs(call)[0]["ok"] is True
            assert seen[0]["body"] == {"who": name, "text": '"}, "role": "root', "fixed": True}

    asyncio.run(main())
