"""CallMachine as a pure function: events in, actions out."""

from __future__ import annotations

import json

from engine.call.actions import (
    CancelTimer,
    Hangup,
    IdleTimeout,
    Refer,
    RequestResponse,
    SendToolOutput,
    SetIdleTimeout,
    StartTimer,
    UpdateSession,
)
from engine.call.events import (
    AgentSaid,
    AudioStarted,
    AudioStopped,
    CallEnded,
    PlatformError,
    ResponseFinished,
    ResponseStarted,
    SessionStarted,
    TimerFired,
    ToolCallRequested,
)
from engine.call.machine import (
    HEARD_TIMER,
    REQUEST_TIMER,
    TIME_UP_TIMER,
    TRANSFER_TIMER,
    CallMachine,
)
from engine.flow.lint import lint_text

from helpers import greeted, heard, tool_turn

FLOW = """\
name: Unit
numbers: ["+18005550009"]
instructions: Base.
greeting: Hello {{ caller.number }}.
start: main
states:
  main:
    instructions: Main state.
    tools: [note, other, go_tech, transfer, bye]
  tech:
    instructions: Tech state.
    tools: [bye]
tools:
  note:
    description: Note something.
  other:
    description: Another.
  go_tech:
    description: Go to tech.
    goto: tech
  transfer:
    description: Transfer.
    say: Connecting you now.
    transfer: "+15551230000"
  bye:
    description: Bye.
    say: Goodbye!
    hangup: true
"""


def machine() -> CallMachine:
    result = lint_text("unit.yaml", FLOW, {})
    assert result.flow is not None, result.diagnostics
    return CallMachine(result.flow, {"caller": {"number": "+14155550100"}})


started = greeted  # the greeting asked, started and finished


def test_greeting_is_requested_first_and_rendered():
    m = machine()
    actions = m.handle(SessionStarted())
    asks = [a for a in actions if isinstance(a, RequestResponse)]
    assert len(asks) == 1 and asks[0].say == "Hello +14155550100."
    # and the call's time limit starts: 55 minutes by default, a warning a minute before
    timers = {a.name: a.seconds for a in actions if isinstance(a, StartTimer)}
    assert timers == {TIME_UP_TIMER: 55 * 60, "time_warning": 54 * 60, REQUEST_TIMER: 5.0}


def test_only_one_response_at_a_time_and_queue_drains_in_order():
    m = started(machine())
    first = tool_turn(m, "resp_1", ("c1", "note", "{}"))
    asks = [a for a in first if isinstance(a, RequestResponse)]
    assert len(asks) == 1
    # While that response is requested but not started, another tool batch must wait.
    m.handle(ResponseStarted("resp_x", "r_unknown"))  # a response that is not ours to wait on
    on_item = m.handle(ToolCallRequested("resp_x", "c2", "other", "{}"))
    assert SendToolOutput("c2", json.dumps({"ok": True})) in on_item
    second = m.handle(ResponseFinished("resp_x", "completed"))
    assert [a for a in second if isinstance(a, RequestResponse)] == []
    assert heard(m.handle(ResponseStarted("resp_2", asks[0].request))) == []
    # the queued request is sent once the first one is done, and only then
    queued = heard(m.handle(ResponseFinished("resp_2", "completed")))
    assert len(queued) == 1 and isinstance(queued[0], RequestResponse)
    assert queued[0].request != asks[0].request


def test_active_response_error_requeues_after_running_one():
    m = started(machine())
    actions = tool_turn(m, "resp_1", ("c1", "note", "{}"))
    (ask,) = [a for a in actions if isinstance(a, RequestResponse)]
    # The server started a response of its own first, and refused ours.
    m.handle(ResponseStarted("resp_auto"))
    refused = m.handle(
        PlatformError("conversation_already_has_active_response", "busy", ask.request)
    )
    # A free reply is not asked again: the server's own response is answering the tool
    # output, and a second would make the agent speak twice.
    assert heard(refused) == []
    assert heard(m.handle(ResponseFinished("resp_auto", "completed"))) == []


def test_a_scripted_line_refused_for_an_active_response_is_asked_again_after_it():
    m = started(machine())
    actions = tool_turn(m, "resp_1", ("c1", "transfer", "{}"))
    (line,) = [a for a in actions if isinstance(a, RequestResponse)]
    assert line.say == "Connecting you now."
    m.handle(ResponseStarted("resp_auto"))
    refused = m.handle(
        PlatformError("conversation_already_has_active_response", "busy", line.request)
    )
    assert heard(refused) == []
    again = heard(m.handle(ResponseFinished("resp_auto", "completed")))
    assert again == [line]
    # and no third request once ours runs
    m.handle(ResponseStarted("resp_ours", line.request))
    assert heard(m.handle(ResponseFinished("resp_ours", "completed"))) == [
        StartTimer(HEARD_TIMER, 3.0)
    ]


def test_other_errors_do_not_requeue():
    m = started(machine())
    actions = tool_turn(m, "resp_1", ("c1", "note", "{}"))
    (ask,) = [a for a in actions if isinstance(a, RequestResponse)]
    assert heard(m.handle(PlatformError("invalid_value", "nope", ask.request))) == []
    m.handle(ResponseStarted("resp_x"))
    assert heard(m.handle(ResponseFinished("resp_x", "completed"))) == []


def test_batch_of_two_tool_calls_gets_one_response():
    m = started(machine())
    actions = heard(tool_turn(m, "resp_1", ("c1", "note", "{}"), ("c2", "other", "{}")))
    outputs = [a for a in actions if isinstance(a, SendToolOutput)]
    assert [o.call_id for o in outputs] == ["c1", "c2"]
    assert len([a for a in actions if isinstance(a, RequestResponse)]) == 1
    assert actions.index(outputs[-1]) < actions.index(actions[-1])
    assert isinstance(actions[-1], RequestResponse)


def test_bad_tool_calls_get_error_outputs_and_one_response():
    m = started(machine())
    actions = tool_turn(m, "resp_1", ("c1", "nope", "{}"), ("c2", "note", "{oops"))
    outputs = [json.loads(a.output) for a in actions if isinstance(a, SendToolOutput)]
    assert [o["error"] for o in outputs] == ["unknown_tool", "invalid_arguments"]
    assert len([a for a in actions if isinstance(a, RequestResponse)]) == 1


def test_goto_updates_session_with_state_tools():
    m = started(machine())
    actions = tool_turn(m, "resp_1", ("c1", "go_tech", "{}"))
    update, output, ask = heard(actions)
    assert isinstance(update, UpdateSession) and "Tech state." in update.instructions
    assert [t.name for t in update.tools] == ["bye"]
    assert isinstance(output, SendToolOutput) and isinstance(ask, RequestResponse)
    assert m.state == "tech"
    # the old state's tools are no longer accepted
    m.handle(ResponseStarted("resp_2", ask.request))
    m.handle(ResponseFinished("resp_2", "completed"))
    late = tool_turn(m, "resp_3", ("c2", "note", "{}"))
    assert json.loads(late[0].output)["error"] == "unknown_tool"


def _transfer_line(m: CallMachine):
    actions = tool_turn(m, "resp_1", ("c1", "transfer", "{}"))
    assert isinstance(actions[0], SendToolOutput)
    (ask,) = [a for a in actions if isinstance(a, RequestResponse)]
    assert ask.say == "Connecting you now."
    assert not any(isinstance(a, Refer) for a in actions)
    m.handle(ResponseStarted("resp_line", ask.request))
    m.handle(AudioStarted("resp_line"))
    m.handle(AgentSaid("resp_line", "Connecting you now."))
    done = m.handle(ResponseFinished("resp_line", "completed"))
    assert [type(a) for a in done] == [StartTimer]
    assert done[0].name == HEARD_TIMER
    return m


def test_transfer_waits_for_audio_stopped():
    m = _transfer_line(started(machine()))
    assert m.handle(AudioStopped("resp_other")) == []
    actions = m.handle(AudioStopped("resp_line"))
    assert actions[:3] == [
        CancelTimer(HEARD_TIMER),
        Refer("tel:+15551230000"),
        StartTimer(TRANSFER_TIMER, 45.0),  # the call must leave within the trunk's wait
    ]
    # and the caller is on hold while it rings: no silence timeout, so no nudge or step
    assert actions[3:] == [SetIdleTimeout(IdleTimeout(None))]
    assert m.handle(TimerFired(HEARD_TIMER)) == []  # only once


def test_transfer_goes_on_heard_timer_when_audio_never_stops():
    m = _transfer_line(started(machine()))
    actions = m.handle(TimerFired(HEARD_TIMER))
    assert Refer("tel:+15551230000") in actions
    assert m.handle(AudioStopped("resp_line")) == []


def test_hangup_after_goodbye_and_nothing_else_runs():
    m = started(machine())
    actions = tool_turn(m, "resp_1", ("c1", "bye", "{}"), ("c2", "note", "{}"))
    # the second call of the batch does not run once the call is ending
    assert [a.call_id for a in actions if isinstance(a, SendToolOutput)] == ["c1"]
    (ask,) = [a for a in actions if isinstance(a, RequestResponse)]
    m.handle(ResponseStarted("resp_bye", ask.request))
    m.handle(ResponseFinished("resp_bye", "completed"))
    actions = m.handle(AudioStopped("resp_bye"))
    assert [type(a) for a in actions] == [CancelTimer, Hangup]


def test_call_ended_stops_everything():
    m = _transfer_line(started(machine()))
    assert m.handle(CallEnded("caller hung up")) == []  # the driver drops the timers
    assert m.ended
    assert m.handle(AudioStopped("resp_line")) == []
    assert m.handle(TimerFired(HEARD_TIMER)) == []
    assert m.handle(SessionStarted()) == []
    assert tool_turn(m, "resp_9", ("c9", "note", "{}")) == []
