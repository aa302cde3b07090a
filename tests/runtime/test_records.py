"""Call records (issue #10): real calls through the simulator, and the record each one leaves.

Every call the engine decides on gets one record, answered or not; it goes to the engine's
sink (by default the last records in memory, read here with ``h.record``) and to each of
``engine.on_record``, and one summary line goes to the log.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.flow.model import Lines
from engine.openai.rest import RetryBudget
from engine.records.record import CallOutcome, CallRecord
from engine.simulator import RestFault

NUMBER = "+18005550060"
TOKEN = "s3cr3t-bank-token-value"
CARD = "4111222233334444"
ACCOUNT = "987654"
QUICK = {"accept": RetryBudget(0.3, first_pause_s=0.05)}


def bank(base: str = "http://127.0.0.1:9", *, records: str = "", extra: str = "") -> str:
    return f"""\
name: Records Bank
numbers: ["{NUMBER}"]
instructions: You are the bank's phone agent.
greeting: Welcome to the bank.
global_tools: [to_person, goodbye]
trunk: {{carrier: wavix, region: us, transfer_wait: 0.4}}
start: menu
records:
  headers: [X-Customer-Ref]
  sensitive: [card_number]
{records}states:
  menu:
    instructions: Check cards; press 2 for an account.
    tools: [check_card, slow_check, account]
    keypad: {{"2": account}}
  account:
    instructions: Ask for the 6-digit account number.
    tools: []
    collect: {{save_as: account_number, digits: 6, timeout: 0.3, then: check_account}}
tools:
  check_card:
    description: Check a card.
    parameters: {{card_number: {{type: string, description: the card's number}}}}
    http:
      method: POST
      url: "{base}/cards"
      headers: {{Authorization: "Bearer {{{{ env.BANK_TOKEN }}}}"}}
      body: {{card: "{{{{ args.card_number }}}}"}}
  slow_check:
    description: A slow check.
    http: {{url: "{base}/slow", timeout: 3}}
    filler: {{say: One moment please., after: 0.2}}
  account:
    description: Check an account.
    goto: account
  check_account:
    description: Look the account up.
    http:
      url: "{base}/accounts/{{{{ saved.account_number }}}}"
      headers: {{Authorization: "Bearer {{{{ env.BANK_TOKEN }}}}"}}
  to_person:
    description: Transfer to a person.
    say: Connecting you to a person.
    transfer: "+15551230000"
  goodbye:
    description: End the call.
    say: Goodbye!
    hangup: true
{extra}"""


def bank_service(serve):
    """The bank's service on loopback. It echoes what it was sent, the token included (a
    debugging endpoint would): the record must show none of it."""

    async def cards(request: Request) -> Response:
        body = await request.json()
        return JSONResponse(
            {
                "card_number": body["card"],
                "status": "valid",
                "auth": request.headers["authorization"],
            }
        )

    async def accounts(request: Request) -> Response:
        number = request.path_params["number"]
        return JSONResponse({"account": number, "balance": "42.00", "note": f"acct {number}"})

    async def slow(request: Request) -> Response:
        await asyncio.sleep(0.6)
        return JSONResponse({"ok": True})

    routes = [
        Route("/cards", cards, methods=["POST"]),
        Route("/accounts/{number}", accounts),
        Route("/slow", slow),
    ]
    return serve(Starlette(routes=routes))


ENV = {"BANK_TOKEN": TOKEN}


def world(rt, flow: str, **settings):
    """The engine and the simulator, with this flow and the bank's token in the environment."""
    return rt(flows={"b.yaml": flow}, environ=ENV, **settings)


def everything(record: CallRecord) -> str:
    return json.dumps(record.to_dict(), ensure_ascii=False)


def function_output(call):
    return call.wait_for_client_event(
        "conversation.item.create",
        where=lambda e: e["item"]["type"] == "function_call_output",
        timeout=3,
    )


def test_a_call_leaves_a_record_of_each_part_with_private_values_masked(rt, serve):
    async def main() -> None:
        async with bank_service(serve) as base, world(rt, bank(base)) as h:
            placed = await h.place(
                NUMBER,
                from_="+14155550177",
                extra_headers={"X-Customer-Ref": "cust-77", "X-Other": "not kept"},
            )
            call = placed.call
            await call.wait_for_client_event("response.create")
            await call.wait_idle()
            call.model.call_tool("check_card", {"card_number": CARD})
            await call.say(f"My card is {CARD}")
            await function_output(call)
            await call.wait_idle()
            await call.press("2")  # to the account state
            await call.wait_for_client_event("session.update", timeout=3)
            await call.wait_idle()
            for key in ACCOUNT:
                await call.press(key)
            await call.wait_for_client_event(
                "conversation.item.create",
                where=lambda e: "check_account tool answered" in json.dumps(e),
                timeout=3,
            )
            await call.wait_idle()
            call.model.call_tool("to_person", {})
            await call.say("Put me through to a person.")
            assert await call.wait_ended(timeout=5) == "transferred"
            record = await h.record(call.call_id)

        assert record.decision == "accepted" and record.flow_name == "Records Bank"
        assert record.flow_file and record.flow_file.endswith("b.yaml")
        assert record.flow_version and len(record.flow_version) == 12
        assert (record.from_number, record.to_number) == ("+14155550177", NUMBER)
        assert record.headers == {"X-Customer-Ref": "cust-77"}
        assert record.answered_at and record.ended_at
        assert record.received_at <= record.answered_at <= record.ended_at
        assert record.replica

        assert [s.data["state"] for s in record.states] == ["menu", "account"]
        keys = [s.data for s in record.keys]
        assert keys[0] == {"key": "2", "state": "menu", "tool": "account"}
        assert keys[1:] == [
            {"key": "[masked]", "state": "account", "collect": "account_number"}
        ] * len(ACCOUNT)

        card, account, person = record.tools
        assert (card.name, card.outcome, card.http_status) == ("check_card", "ok", 200)
        assert card.duration_ms is not None and card.duration_ms >= 0
        assert card.arguments == {"card_number": "[masked]"}
        answer = json.loads(card.answer or "")
        assert answer["data"]["card_number"] == "[masked]"
        assert answer["data"]["status"] == "valid"
        assert (account.name, account.outcome, account.http_status) == ("check_account", "ok", 200)
        assert account.arguments == {}  # the engine ran it, once the digits were in
        assert ACCOUNT not in (account.answer or "") and "42.00" in (account.answer or "")
        assert (person.name, person.outcome) == ("to_person", "ok")

        (transfer,) = record.transfers
        assert (transfer.target, transfer.result) == ("sip:15551230000@us.wavix.net", "took")
        assert (record.ended_how, record.outcome) == ("transferred", CallOutcome.TRANSFERRED)

        assert record.transcript is not None
        lines = [(t.who, t.text) for t in record.transcript]
        assert ("agent", "Welcome to the bank.") in lines
        assert ("caller", "My card is [masked]") in lines
        assert ("agent", "Connecting you to a person.") in lines

        kinds = [s.kind for s in record.timeline]
        assert kinds[0] == "decision" and kinds[-1] == "ended"
        assert {"state", "key", "tool", "transfer", "said", "heard"} <= set(kinds)
        at = [s.at for s in record.timeline[1:]]
        assert at == sorted(at)

        text = everything(record)
        for private in (TOKEN, CARD, ACCOUNT, "not kept"):
            assert private not in text, private
        restored = CallRecord.from_dict(json.loads(text))
        assert restored.to_dict() == record.to_dict()

    asyncio.run(main())


def test_no_transcript_when_the_flow_turns_it_off(rt):
    async def main() -> None:
        flow = bank(records="  transcript: false\n")
        async with world(rt, flow) as h:
            call = await h.answered(NUMBER)
            await call.say("My mother's maiden name is Smithers.")
            await call.wait_idle()
            await call.hang_up()
            record = await h.record(call.call_id)
        assert record.transcript is None
        assert not {"said", "heard"} & {s.kind for s in record.timeline}
        text = everything(record)
        assert "Smithers" not in text and "Welcome to the bank" not in text
        assert record.outcome is CallOutcome.HANDLED  # the agent had answered the caller

    asyncio.run(main())


def test_a_call_to_a_number_no_flow_answers_is_recorded_rejected(rt, json_log):
    async def main() -> None:
        async with world(rt, bank()) as h:
            placed = await h.place("+18005559999", from_="+14155550123")
            assert placed.status == 200
            record = await h.record(placed.call.call_id)
        assert record.decision == "rejected" and record.outcome is CallOutcome.REJECTED
        assert (record.reject_status, record.reject_kind) == (404, "unknown_number")
        assert "no flow answers" in (record.reject_reason or "")
        assert (record.from_number, record.to_number) == ("+14155550123", "+18005559999")
        assert record.flow_file is None and record.answered_at is None
        assert record.ended_how == "rejected" and record.transcript == []
        (line,) = [
            e
            for e in map(json.loads, json_log.getvalue().splitlines())
            if "call ended" in e["message"]
        ]
        assert line["message"] == "call ended: rejected with SIP 404 (unknown_number) (no flow)"
        assert (line["outcome"], line["call_id"]) == ("rejected", placed.call.call_id)
        assert "flow" not in line  # a JSON log leaves out a field with no value

    asyncio.run(main())


def test_a_session_openai_refuses_is_recorded_rejected_with_480(rt):
    async def main() -> None:
        async with world(rt, bank()) as h:
            h.sim.faults.accept = RestFault(status=400, message="Invalid voice")
            placed = await h.place(NUMBER)
            record = await h.record(placed.call.call_id)
        assert (record.decision, record.reject_status) == ("rejected", 480)
        assert record.reject_kind == "accept_refused" and record.flow_name == "Records Bank"
        assert record.outcome is CallOutcome.REJECTED

    asyncio.run(main())


def test_an_accept_that_fails_is_recorded_failed(rt):
    async def main() -> None:
        async with world(rt, bank(), rest_budgets=QUICK) as h:
            h.sim.faults.accept = RestFault(status=500)
            placed = await h.place(NUMBER)
            assert placed.status is not None and placed.status >= 500
            record = await h.record(placed.call.call_id)
        assert (record.ended_how, record.outcome) == ("failure", CallOutcome.FAILED)
        assert record.answered_at is None and record.decision == "accepted"
        assert "accept" in (record.ended_detail or "")

    asyncio.run(main())


def test_the_flow_hanging_up_is_handled(rt):
    async def main() -> None:
        async with world(rt, bank()) as h:
            call = await h.answered(NUMBER)
            call.model.call_tool("goodbye", {})
            await call.say("That's all, thanks.")
            await call.wait_ended(timeout=5)
            record = await h.record(call.call_id)
        assert (record.ended_how, record.ended_detail) == ("hangup_tool", "tool goodbye")
        assert record.outcome is CallOutcome.HANDLED

    asyncio.run(main())


def test_the_time_limit_is_handled(rt):
    async def main() -> None:
        extra = "limits: {call_minutes: 0.02, warn_minutes: 0}\n"  # 1.2 s
        async with world(rt, bank(extra=extra)) as h:
            call = await h.answered(NUMBER)
            await call.wait_ended(timeout=5)
            record = await h.record(call.call_id)
        assert (record.ended_how, record.outcome) == ("time_limit", CallOutcome.HANDLED)
        assert record.transcript and record.transcript[-1].text == Lines().time_up
        assert "the call's time limit was reached" in [s.text for s in record.timeline]

    asyncio.run(main())


def test_a_caller_who_hangs_up_before_being_answered_abandoned_the_call(rt):
    async def main() -> None:
        async with world(rt, bank()) as h:
            call = await h.answered(NUMBER)  # the greeting, and nothing the caller said
            await call.hang_up()
            record = await h.record(call.call_id)
        assert (record.ended_how, record.outcome) == ("caller_hung_up", CallOutcome.ABANDONED)

    asyncio.run(main())


def test_a_call_cut_by_the_engine_shutting_down_failed(rt):
    async def main() -> None:
        async with world(rt, bank()) as h:
            call = await h.answered(NUMBER)
            await h.engine.drain(0.01)
            record = await h.record(call.call_id)
        assert (record.ended_how, record.outcome) == ("engine_shutdown", CallOutcome.FAILED)

    asyncio.run(main())


def test_fillers_and_silence_steps_are_in_the_timeline(rt, serve):
    async def main() -> None:
        ladder = "silence: {after: 5, steps: [{say: Are you still there?}]}\n"
        async with (
            bank_service(serve) as base,
            world(rt, bank(base, extra=ladder)) as h,
        ):
            call = await h.answered(NUMBER)
            assert await call.stay_silent()
            await call.wait_idle()
            call.model.call_tool("slow_check", {})
            await call.say("Check it please.")
            await function_output(call)
            await call.wait_idle()
            await call.hang_up()
            record = await h.record(call.call_id)
        silence = [s for s in record.timeline if s.kind == "silence"]
        assert [s.data for s in silence] == [{"in_a_row": 1, "state": "menu"}]
        (filler,) = [s for s in record.timeline if s.kind == "filler"]
        assert filler.data == {"tool": "slow_check"}
        assert record.tools[0].outcome == "ok" and record.tools[0].http_status == 200

    asyncio.run(main())


def test_the_summary_line_has_the_outcome_flow_duration_and_counts(rt, json_log):
    async def main() -> str:
        async with world(rt, bank()) as h:
            call = await h.answered(NUMBER)
            call.model.call_tool("no_such_tool", {})  # refused: counts as a failure
            await call.say("Do the thing.")
            await call.wait_idle()
            await call.press("2")
            await call.wait_for_client_event("session.update", timeout=3)
            await call.wait_idle()
            call.model.call_tool("goodbye", {})
            await call.say("Bye.")
            await call.wait_ended(timeout=5)
            await h.record(call.call_id)
            return call.call_id

    call_id = asyncio.run(main())
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    (line,) = [e for e in lines if e["message"].startswith("call ended")]
    assert line["call_id"] == call_id and line["level"] == "info"
    assert line["message"].startswith("call ended: handled after ")
    assert line["message"].endswith(f"s (flow {line['flow']})") and line["flow"].endswith("b.yaml")
    assert isinstance(line["duration_s"], float) and line["duration_s"] >= 0
    counts = {k: line[k] for k in ("states", "tools", "tool_failures", "transfers", "keys")}
    assert counts == {"states": 2, "tools": 2, "tool_failures": 1, "transfers": 0, "keys": 1}
    assert line["outcome"] == "handled"


def test_a_consumer_that_fails_stops_neither_the_sink_nor_the_others(rt):
    async def main() -> None:
        seen: list[CallRecord] = []

        def broken(record: CallRecord) -> None:
            raise RuntimeError("consumer bug")

        async with world(rt, bank()) as h:
            h.engine.on_record.extend([broken, seen.append])
            call = await h.answered(NUMBER)
            await call.hang_up()
            record = await h.record(call.call_id)
            assert seen == [record]
            second = await h.answered(NUMBER)  # the engine takes calls as before
            await second.hang_up()
            await h.record(second.call_id)
            assert len(seen) == 2
        assert isinstance(record.received_at, datetime)

    asyncio.run(main())


def test_a_closed_line_that_only_says_a_line_is_an_opening_handled_by_the_flow(rt):
    async def main() -> None:
        closed = bank(extra='hours: {open: {sat: "09:00-12:00"}, when_closed: {say: Closed.}}\n')
        async with world(rt, closed) as h:
            placed = await h.place(NUMBER)
            await placed.call.wait_ended(timeout=5)
            record = await h.record(placed.call.call_id)
        assert record.decision == "opening_say" and record.states == []
        assert (record.ended_how, record.ended_detail) == ("hangup_tool", "tool opening")
        assert record.outcome is CallOutcome.HANDLED
        assert "closed" in record.timeline[0].text

    asyncio.run(main())


def test_a_call_handed_off_then_refused_has_its_hand_off_chain(rt):
    async def main() -> None:
        front = bank(extra='callers: [{numbers: ["+14155550123"], flow: vip}]\n')
        vip = """\
name: VIP
numbers: ["+18005550061"]
instructions: VIP desk.
callers: [{numbers: ["+1415*"], reject: 486}]
"""
        async with rt(flows={"b.yaml": front, "vip.yaml": vip}, environ=ENV) as h:
            placed = await h.place(NUMBER, from_="+14155550123")
            record = await h.record(placed.call.call_id)
        assert (record.decision, record.reject_status, record.reject_kind) == (
            "rejected",
            486,
            "caller_rule",
        )
        assert [p.rsplit("/", 1)[-1] for p in record.handoffs] == ["b.yaml"]
        assert record.flow_file and record.flow_file.endswith("vip.yaml")
        assert record.outcome is CallOutcome.REJECTED

    asyncio.run(main())
