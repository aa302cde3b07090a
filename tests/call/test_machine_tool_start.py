"""CallMachine: a tool starts the moment its function call item is complete (issue #14).

The model often says "let me check that" and calls the tool in one response, and may speak
on for seconds after the call. What a call starts goes out on its item (the HTTP request, the
state change, the filler's clock, the output); what can only follow the response waits for
it to end (the reply to the outputs, a transfer's or hangup's line, the REFER or hangup).
When the caller cuts that response short, what was done stands and what waited is dropped.
"""

from __future__ import annotations

import json
import textwrap

from engine.call.actions import (
    AddNote,
    CancelResponse,
    CancelTimer,
    Hangup,
    Refer,
    RequestResponse,
    RunHttpTool,
    SendToolOutput,
    StartTimer,
    UpdateSession,
)
from engine.call.events import (
    AudioStarted,
    AudioStopped,
    KeypadPressed,
    ResponseFinished,
    ResponseStarted,
    SessionResumed,
    TimerFired,
    ToolCallRequested,
    ToolFinished,
)
from engine.call.machine import CallMachine, filler_timer
from engine.flow.model import Flow
from engine.flow.source import load_source

from helpers import asks, greeted

FLOW = """\
name: Early
numbers: ["+18005550009"]
instructions: Base.
greeting: Hello.
start: main
states:
  main:
    tools: [lookup, go_next, note, transfer, quiet_transfer, bye, check_then_transfer]
    keypad: {"1": hours}
  next:
    instructions: Next state.
    tools: [note]
tools:
  lookup:
    description: Look something up.
    http: {url: "https://svc.example/lookup", timeout: 8}
    filler: {say: Still looking., after: 2}
  go_next:
    description: Move on.
    goto: next
  note:
    description: Note something.
    say: Noted.
  transfer:
    description: Transfer.
    say: Connecting you now.
    transfer: "+15551230000"
  quiet_transfer:
    description: Transfer without a word.
    transfer: "+15551230000"
  bye:
    description: Bye.
    say: Goodbye!
    hangup: true
  check_then_transfer:
    description: Check, then transfer.
    http: {url: "https://svc.example/check", timeout: 8}
    transfer: "+15551230000"
  hours:
    description: Opening hours.
    say: We are open nine to five.
"""

OK = json.dumps({"ok": True})


def machine() -> CallMachine:
    doc = load_source("unit.yaml", textwrap.dedent(FLOW))
    return CallMachine(Flow.model_validate(doc.data), {"caller": {"number": "+14155550100"}})


def of(kind: type, actions: list) -> list:
    return [a for a in actions if isinstance(a, kind)]


def started() -> CallMachine:
    return greeted(machine())


def call(m: CallMachine, rid: str, call_id: str, name: str, args: str = "{}") -> list:
    return m.handle(ToolCallRequested(rid, call_id, name, args))


def service_answers(m: CallMachine, call_id: str, tool: str) -> list:
    return m.handle(ToolFinished(call_id, tool, OK, True, {"ok": True}))


def test_an_http_tool_is_asked_on_its_item_and_the_reply_waits_for_the_response_to_end():
    m = started()
    m.handle(ResponseStarted("resp_1"))
    on_item = call(m, "resp_1", "c1", "lookup")
    (run,) = of(RunHttpTool, on_item)
    assert run.call_id == "c1" and run.tool == "lookup"
    assert StartTimer(filler_timer("c1"), 2.0) in on_item  # the filler's clock starts now
    assert asks(on_item) == []
    # The service answers while the model still speaks: the output goes back at once...
    answered = service_answers(m, "c1", "lookup")
    assert SendToolOutput("c1", OK) in answered and asks(answered) == []
    # ...and the reply to it is asked for once the response has ended.
    assert len(asks(m.handle(ResponseFinished("resp_1", "completed")))) == 1


def test_the_reply_waits_for_a_service_that_answers_after_the_response_ended():
    m = started()
    m.handle(ResponseStarted("resp_1"))
    call(m, "resp_1", "c1", "lookup")
    assert asks(m.handle(ResponseFinished("resp_1", "completed"))) == []
    answered = service_answers(m, "c1", "lookup")
    output, ask = [a for a in answered if isinstance(a, SendToolOutput | RequestResponse)]
    assert output == SendToolOutput("c1", OK) and isinstance(ask, RequestResponse)


def test_a_state_change_is_sent_on_its_item():
    m = started()
    m.handle(ResponseStarted("resp_1"))
    update, output = call(m, "resp_1", "c1", "go_next")
    assert isinstance(update, UpdateSession) and "Next state." in update.instructions
    assert output == SendToolOutput("c1", OK)
    assert m.state == "next"
    assert len(asks(m.handle(ResponseFinished("resp_1", "completed")))) == 1


def test_a_tools_say_line_is_asked_after_the_response_that_called_it():
    m = started()
    m.handle(ResponseStarted("resp_1"))
    assert asks(call(m, "resp_1", "c1", "note")) == []
    (line,) = asks(m.handle(ResponseFinished("resp_1", "completed")))
    assert line.say == "Noted."
    m.handle(ResponseStarted("resp_line", line.request))
    (reply,) = asks(m.handle(ResponseFinished("resp_line", "completed")))
    assert reply.say is None  # then the model speaks about the output


def test_two_calls_of_one_response_start_in_order_and_get_one_reply():
    m = started()
    m.handle(ResponseStarted("resp_1"))
    first = call(m, "resp_1", "c1", "lookup")
    second = call(m, "resp_1", "c2", "go_next")
    assert [a.call_id for a in of(RunHttpTool, first)] == ["c1"]
    assert of(UpdateSession, second) and SendToolOutput("c2", OK) in second
    # the second was checked against the state the first left: lookup ran in main
    assert asks(m.handle(ResponseFinished("resp_1", "completed"))) == []
    answered = service_answers(m, "c1", "lookup")
    assert SendToolOutput("c1", OK) in answered and len(asks(answered)) == 1


def test_a_transfer_waits_for_the_response_that_called_it_then_its_line():
    m = started()
    m.handle(ResponseStarted("resp_1"))
    m.handle(AudioStarted("resp_1"))
    on_item = call(m, "resp_1", "c1", "transfer")
    assert on_item == [SendToolOutput("c1", OK)]  # no REFER, no line yet
    assert m.handle(AudioStopped("resp_1")) == []  # the model may speak on
    (line,) = asks(m.handle(ResponseFinished("resp_1", "completed")))
    assert line.say == "Connecting you now."
    m.handle(ResponseStarted("resp_line", line.request))
    m.handle(AudioStarted("resp_line"))
    m.handle(ResponseFinished("resp_line", "completed"))
    assert Refer("tel:+15551230000") in m.handle(AudioStopped("resp_line"))


def test_a_transfer_with_no_line_goes_once_its_response_has_been_heard():
    m = started()
    m.handle(ResponseStarted("resp_1"))
    m.handle(AudioStarted("resp_1"))
    assert call(m, "resp_1", "c1", "quiet_transfer") == [SendToolOutput("c1", OK)]
    done = m.handle(ResponseFinished("resp_1", "completed"))
    assert not of(Refer, done)  # its audio still plays
    assert Refer("tel:+15551230000") in m.handle(AudioStopped("resp_1"))
    # With nothing playing, the REFER goes as the response ends.
    m = started()
    m.handle(ResponseStarted("resp_1"))
    call(m, "resp_1", "c1", "quiet_transfer")
    assert Refer("tel:+15551230000") in m.handle(ResponseFinished("resp_1", "completed"))


def test_a_cut_response_keeps_what_its_calls_did_and_asks_for_no_reply():
    m = started()
    m.handle(ResponseStarted("resp_1"))
    assert of(RunHttpTool, call(m, "resp_1", "c1", "lookup"))  # the request is made
    assert of(UpdateSession, call(m, "resp_1", "c2", "go_next"))  # the state change is sent
    # The caller speaks over the response: the server cancels it.
    cut = m.handle(ResponseFinished("resp_1", "cancelled"))
    assert CancelTimer(filler_timer("c1")) in cut and asks(cut) == []
    assert m.handle(TimerFired(filler_timer("c1"))) == []  # the filler is not said
    assert m.state == "next"  # the goto stands
    # The service's answer still goes back (every call is answered), with no reply asked:
    # the server answers the caller's turn, and the model sees the output there.
    answered = service_answers(m, "c1", "lookup")
    assert SendToolOutput("c1", OK) in answered and asks(answered) == []


def test_a_cut_response_drops_its_transfer_or_hangup_and_tells_the_model():
    for tool, kind in (("transfer", "transfer was not made"), ("bye", "call was not ended")):
        m = started()
        m.handle(ResponseStarted("resp_1"))
        assert call(m, "resp_1", "c1", tool) == [SendToolOutput("c1", OK)]
        cut = m.handle(ResponseFinished("resp_1", "cancelled"))
        (note,) = of(AddNote, cut)
        assert kind in note.text
        assert asks(cut) == [] and not of(Refer | Hangup, cut)  # the line is dropped too
        assert not m.departing
        # the call goes on: the next tool call runs as any other
        m.handle(ResponseStarted("resp_2"))
        assert call(m, "resp_2", "c2", "go_next")[-1] == SendToolOutput("c2", OK)


def test_a_transfer_after_a_service_whose_response_was_cut_is_not_made():
    m = started()
    m.handle(ResponseStarted("resp_1"))
    assert of(RunHttpTool, call(m, "resp_1", "c1", "check_then_transfer"))
    m.handle(ResponseFinished("resp_1", "cancelled"))
    answered = m.handle(ToolFinished("c1", "check_then_transfer", OK, True))
    assert SendToolOutput("c1", OK) in answered and of(AddNote, answered)
    assert not of(Refer, answered) and asks(answered) == [] and not m.departing


def test_a_key_that_stops_a_transfers_response_drops_the_transfer():
    m = started()
    m.handle(ResponseStarted("resp_1"))
    call(m, "resp_1", "c1", "quiet_transfer")
    pressed = m.handle(KeypadPressed("1"))
    assert CancelResponse() in pressed and len(of(AddNote, pressed)) == 2  # dropped; pressed
    assert not m.departing
    (line,) = asks(m.handle(ResponseFinished("resp_1", "cancelled")))
    assert line.say == "We are open nine to five."


def test_calls_of_a_response_being_cancelled_are_not_started():
    m = started()
    m.handle(ResponseStarted("resp_1"))
    assert CancelResponse() in m.handle(KeypadPressed("1"))
    assert call(m, "resp_1", "c1", "lookup") == []


def test_calls_of_incomplete_and_failed_responses_run_and_get_a_reply():
    for status in ("incomplete", "failed"):
        m = started()
        m.handle(ResponseStarted("resp_1"))
        assert call(m, "resp_1", "c1", "go_next")[-1] == SendToolOutput("c1", OK)
        assert len(asks(m.handle(ResponseFinished("resp_1", status)))) == 1, status


def test_a_connection_lost_mid_response_does_not_hold_the_reply_or_the_transfer():
    m = started()
    m.handle(ResponseStarted("resp_1"))
    call(m, "resp_1", "c1", "go_next")
    assert len(asks(m.handle(SessionResumed()))) == 1
    m = started()
    m.handle(ResponseStarted("resp_1"))
    call(m, "resp_1", "c1", "quiet_transfer")
    assert Refer("tel:+15551230000") in m.handle(SessionResumed())
