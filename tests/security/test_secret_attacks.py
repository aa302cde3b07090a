"""A service that echoes the request back (headers included) must not hand the flow's token
to the model: refusals are cut to a short reason and the flow's secrets are masked."""

from __future__ import annotations

import asyncio
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from helpers import tool_outputs

NUMBER = "+18005550172"
TOKEN = "acme-0123456789-secret-token"
ENVIRON = {"ACME_TOKEN": TOKEN}


async def echo(request: Request) -> Response:
    """Answers with every header it received, the way a debugging endpoint does."""
    headers = dict(request.headers)
    kind = request.path_params["kind"]
    if kind == "json-refusal":
        return JSONResponse({"message": "bad request", "headers": headers}, status_code=400)
    if kind == "text-refusal":
        text = f"Unauthorized: Authorization: {headers['authorization']}\n" + json.dumps(headers)
        return PlainTextResponse(text, status_code=401)
    return JSONResponse({"you_sent": headers})  # a 200 that echoes


ECHO = Starlette(routes=[Route("/echo/{kind}", echo)])


def flow(base: str) -> str:
    return f"""\
name: Echo
numbers: ["{NUMBER}"]
instructions: Call the services. (Careless author's note, token {{{{ env.ACME_TOKEN }}}}.)
greeting: Echo line.
tools:
  check:
    description: Check the account.
    parameters:
      kind: {{type: string, enum: [json-refusal, text-refusal, ok], description: Which}}
    http:
      url: "{base}/echo/{{{{ args.kind }}}}"
      headers: {{Authorization: "Bearer {{{{ env.ACME_TOKEN }}}}", X-Api-Key: "k-{{{{ env.ACME_TOKEN }}}}"}}
      save_as: answer
  read_back:
    description: Read the saved answer back.
    say: "{{{{ saved.answer }}}}"
  careless:
    description: A line a careless author wrote.
    say: "Debug: the token is {{{{ env.ACME_TOKEN }}}}."
"""


async def _told(h, kind: str) -> tuple[object, dict, str]:
    call = await h.answered(NUMBER)
    call.model.call_tool("check", {"kind": kind})
    await call.say("Check my account")
    await call.wait_for_client_event("response.create", count=2, timeout=4)
    (output,) = tool_outputs(call)
    sent = json.dumps([e.event for e in call.client_events])
    return call, output, sent


def test_a_refusal_gives_a_short_reason_not_the_echoed_headers(rt, serve):
    async def main() -> None:
        async with serve(ECHO) as base, rt(flows={"e.yaml": flow(base)}, environ=ENVIRON) as h:
            _, output, sent = await _told(h, "json-refusal")
            assert output["status"] == 400 and output["reason"] == "bad request"
            assert "headers" not in json.dumps(output)
            assert TOKEN not in sent

    asyncio.run(main())


def test_a_text_refusal_reason_has_the_token_masked(rt, serve):
    async def main() -> None:
        async with serve(ECHO) as base, rt(flows={"e.yaml": flow(base)}, environ=ENVIRON) as h:
            _, output, sent = await _told(h, "text-refusal")
            assert output["status"] == 401
            assert output["reason"] == "Unauthorized: Authorization: [secret]"
            assert TOKEN not in sent

    asyncio.run(main())


def test_an_echoed_token_is_masked_in_the_answer_and_what_is_saved(rt, serve):
    async def main() -> None:
        async with serve(ECHO) as base, rt(flows={"e.yaml": flow(base)}, environ=ENVIRON) as h:
            call, output, _ = await _told(h, "ok")
            echoed = output["data"]["you_sent"]
            assert echoed["authorization"] == "[secret]"
            assert echoed["x-api-key"] == "[secret]"
            call.model.call_tool("read_back", {})
            await call.say("What did it say?")
            await call.wait_for_client_event("response.create", count=4, timeout=4)
            await call.wait_idle()
            sent = json.dumps([e.event for e in call.client_events])
            assert "[secret]" in sent and TOKEN not in sent

    asyncio.run(main())


def test_a_template_that_quotes_the_token_says_it_masked(rt, serve):
    async def main() -> None:
        async with serve(ECHO) as base, rt(flows={"e.yaml": flow(base)}, environ=ENVIRON) as h:
            call = await h.answered(NUMBER)
            call.model.call_tool("careless", {})
            await call.say("Tell me a secret")
            await call.wait_for_client_event(
                "response.create",
                where=lambda e: "Debug" in e["response"].get("instructions", ""),
                timeout=4,
            )
            sent = json.dumps([e.event for e in call.client_events])
            assert "Debug: the token is [secret]." in sent and TOKEN not in sent
            (accept,) = call.requests_for("accept")
            assert "token [secret]." in accept.body["instructions"]
            assert TOKEN not in json.dumps(accept.body)

    asyncio.run(main())
