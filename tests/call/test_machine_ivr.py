"""CallMachine's IVR behaviours as pure transitions: keypad, digits, silence, transfers,
limits, fillers, global tools and the opening of a closed line (docs/ivr-design.md)."""

from __future__ import annotations

import json

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
    CallerSaid,
    CallerSilent,
    CallerStartedSpeaking,
    KeypadPressed,
    ReferFailed,
    ResponseFinished,
    ResponseStarted,
    SessionStarted,
    TimerFired,
    ToolFinished,
)
from engine.call.machine import (
    COLLECT_TIMER,
    REQUEST_TIMER,
    TIME_UP_TIMER,
    TIME_WARNING_TIMER,
    TRANSFER_TIMER,
    CallMachine,
    filler_timer,
)
from engine.call.session import idle_for
from engine.flow.model import Step, Tool

from helpers import IVR, asks, flow_of, heard, machine, play, started, tool_turn

_rids = iter(range(1000, 10**6))


def settle(m: CallMachine, actions: list) -> list:
    """Play every response the machine asked for (and those they lead to); returns all the
    actions seen, so a test can look for what happened at the end."""
    seen = list(actions)
    pending = asks(actions)
    while pending:
        out = play(m, f"resp_{next(_rids)}", pending.pop(0))
        seen += out
        pending += asks(out)
    return seen


# -- global tools ------------------------------------------------------------------------
def test_global_tools_are_offered_in_every_state_after_the_states_own():
    flow = flow_of(IVR)
    assert flow.tools_of("menu") == ["balance", "cards", "operator"]
    assert flow.tools_of("account") == ["operator"]
    m = started(machine())
    actions = tool_turn(m, "resp_1", ("c1", "cards", "{}"))
    (update,) = [a for a in actions if isinstance(a, UpdateSession)]
    assert [t.name for t in update.tools] == ["lookup", "operator"]


# -- keypad ------------------------------------------------------------------------------
def test_a_key_stops_the_agent_tells_the_model_and_runs_its_tool():
    m = started(machine())
    m.handle(ResponseStarted("resp_talk"))  # the agent is talking
    actions = m.handle(KeypadPressed("1"))
    assert actions[0] == CancelResponse()
    assert actions[1] == AddNote("The caller pressed 1 on the keypad.")
    assert heard(m.handle(ResponseFinished("resp_talk", "cancelled"))) == [
        RequestResponse("r2", "Your balance is ten dollars.")
    ]


def test_a_key_that_moves_state_lets_the_agent_speak_there():
    m = started(machine())
    actions = m.handle(KeypadPressed("2"))
    assert CancelResponse() not in actions  # nobody was talking
    (update,) = [a for a in actions if isinstance(a, UpdateSession)]
    assert update.instructions.endswith("Cards.")
    assert asks(actions) == [RequestResponse("r2", None)]
    assert m.state == "cards"


def test_the_flow_keypad_works_in_every_state_and_unmapped_keys_do_nothing():
    m = started(machine())
    assert m.handle(KeypadPressed("7")) == []
    actions = m.handle(KeypadPressed("0"))
    assert asks(actions)[0].say == "Connecting you."


def test_keys_during_a_transfer_or_after_the_end_change_nothing():
    m = started(machine())
    (ask,) = asks(m.handle(KeypadPressed("0")))
    assert m.departing
    assert m.handle(KeypadPressed("1")) == []
    play(m, "resp_t", ask)
    m.handle(KeypadPressed("2"))
    assert m.state == "menu"


# -- collecting digits -------------------------------------------------------------------
def account_machine() -> CallMachine:
    return started(machine(state="account"))


def test_digits_are_collected_saved_told_and_then_run():
    m = account_machine()
    first = m.handle(KeypadPressed("1"))
    assert first == [StartTimer(COLLECT_TIMER, 5.0)]
    assert m.handle(KeypadPressed("2")) == [StartTimer(COLLECT_TIMER, 5.0)]
    m.handle(KeypadPressed("3"))
    done = m.handle(KeypadPressed("4"))
    assert done[0] == CancelTimer(COLLECT_TIMER)
    assert done[1] == AddNote("The caller keyed in account: 1234.")
    (run,) = [a for a in done if isinstance(a, RunHttpTool)]
    assert run.tool == "check" and run.context["saved"]["account"] == "1234"
    # the http answer goes to the model as a note (no function call to answer), then a response
    after = m.handle(ToolFinished(run.call_id, "check", '{"ok": true}', True))
    assert AddNote('The check tool answered: {"ok": true}') in after
    assert len(asks(after)) == 1
    assert not any(isinstance(a, SendToolOutput) for a in after)


def test_the_finish_key_ends_an_entry_with_enough_digits():
    m = account_machine()
    for key in "987":
        m.handle(KeypadPressed(key))
    done = m.handle(KeypadPressed("#"))
    assert AddNote("The caller keyed in account: 987.") in done


def test_too_few_digits_at_the_timeout_are_told_to_the_model():
    m = account_machine()
    m.handle(KeypadPressed("5"))
    done = m.handle(TimerFired(COLLECT_TIMER))
    assert done[0] == CancelTimer(COLLECT_TIMER)
    assert isinstance(done[1], AddNote) and "stopped after 1 digit;" in done[1].text
    assert len(asks(done)) == 1
    assert "account" not in m.context["saved"]


def test_on_timeout_step_runs_when_the_caller_stops_short():
    text = IVR.replace("      then: check\n", "      on_timeout: {say: Please try again.}\n")
    m = started(machine(text, state="account"))
    m.handle(KeypadPressed("5"))
    short = m.handle(KeypadPressed("#"))  # too few at the finish key
    assert [a.say for a in asks(short)] == ["Please try again."]
    assert not any(isinstance(a, AddNote) for a in short)  # the step speaks, not the model
    assert m.handle(TimerFired(COLLECT_TIMER)) == []  # the entry is over already
    settle(m, short)
    # and when the keys just stop, the timer ends the entry the same way
    m.handle(KeypadPressed("5"))
    late = m.handle(TimerFired(COLLECT_TIMER))
    assert CancelTimer(COLLECT_TIMER) in late
    assert [a.say for a in asks(late)] == ["Please try again."]
    assert "account" not in m.context["saved"]


def test_the_first_digit_stops_the_agent_talking():
    m = account_machine()
    m.handle(ResponseStarted("resp_talk"))
    assert m.handle(KeypadPressed("1"))[0] == CancelResponse()
    assert CancelResponse() not in m.handle(KeypadPressed("2"))


# -- silence -----------------------------------------------------------------------------
def test_the_session_carries_the_states_idle_timeout():
    flow = flow_of(IVR)
    assert idle_for(flow, "menu").ms == 6000
    assert idle_for(flow, "cards").ms == 10000
    plain = flow_of("name: P\nnumbers: ['+18005550008']\ninstructions: x\n")
    assert idle_for(plain, None).ms == 10000  # the default ladder
    off = flow_of("name: P\nnumbers: ['+18005550008']\ninstructions: x\nsilence: off\n")
    assert idle_for(off, None) is None  # no ladder anywhere: turn detection untouched


def silence(m: CallMachine, rid: str) -> list:
    """One caller silence: the event, then the server's own nudge response starting."""
    out = m.handle(CallerSilent())
    out += m.handle(ResponseStarted(rid))
    return out


def test_the_ladder_climbs_one_step_per_silence_and_cancels_the_servers_nudge():
    m = started(machine())
    first = heard(silence(m, "resp_n1"))
    assert first == [RequestResponse("r2", "Are you still there?"), CancelResponse()]
    assert m.handle(ResponseFinished("resp_n1", "cancelled")) == []
    play(m, "resp_1", first[0])
    second = heard(silence(m, "resp_n2"))
    assert second[0] == AddNote("Ask again in simpler words.")
    assert second[1:] == [RequestResponse("r3", None), CancelResponse()]
    m.handle(ResponseFinished("resp_n2", "cancelled"))
    play(m, "resp_2", second[1])
    third = silence(m, "resp_n3")
    assert third[0] == RequestResponse("r4", "Goodbye for now.")
    m.handle(ResponseFinished("resp_n3", "cancelled"))
    end = play(m, "resp_3", third[0])
    assert Hangup("the flow ended the call") in end


def test_speaking_starts_the_ladder_again_and_the_last_step_repeats():
    text = IVR.replace("    - say: Goodbye for now.\n      hangup: true\n", "")
    m = started(machine(text))
    settle(m, m.handle(CallerSilent()))
    m.handle(CallerStartedSpeaking())
    m.handle(CallerSaid("Hello?"))
    again = m.handle(CallerSilent())
    assert again[0] == RequestResponse("r3", "Are you still there?")
    settle(m, again)
    settle(m, m.handle(CallerSilent()))
    assert m.handle(CallerSilent())[0] == AddNote("Ask again in simpler words.")


def test_a_silence_line_still_queued_is_dropped_when_the_caller_speaks():
    for speaks in (False, True):
        m = started(machine())
        m.handle(ResponseStarted("resp_busy"))  # a response runs: the step's line must queue
        assert asks(m.handle(CallerSilent())) == []
        if speaks:
            m.handle(CallerStartedSpeaking())  # "are you still there?" is moot now
        after = asks(m.handle(ResponseFinished("resp_busy", "completed")))
        expected = [] if speaks else ["Are you still there?"]
        assert [a.say for a in after] == expected, speaks


def test_silence_while_a_tool_runs_is_not_counted_but_the_nudge_is_cancelled():
    m = started(machine())
    tool_turn(m, "resp_1", ("c1", "cards", "{}"))
    tool_turn(m, "resp_2", ("c2", "lookup", '{"id": "7"}'))
    assert m.handle(CallerSilent()) == []
    assert m.handle(ResponseStarted("resp_nudge")) == [CancelResponse()]


def test_a_state_with_silence_off_leaves_the_servers_nudge_alone():
    text = IVR.replace(
        "silence:\n  after: 6\n  steps:\n    - say: Are you still there?\n"
        "    - instructions: Ask again in simpler words.\n    - say: Goodbye for now.\n"
        "      hangup: true\n",
        "silence: off\n",
    )
    m = started(machine(text))
    assert m.handle(CallerSilent()) == []
    assert m.handle(ResponseStarted("resp_nudge")) == []


# -- transfers ---------------------------------------------------------------------------
def test_a_transfer_that_does_not_take_tries_the_next_target_then_the_fallback():
    m = started(machine())
    (line,) = asks(m.handle(KeypadPressed("0")))
    out = play(m, "resp_t", line)
    # Wavix preset: digits without the plus, at the region's gateway
    assert Refer("sip:15551230000@us.wavix.net") in out
    assert StartTimer(TRANSFER_TIMER, 12.0) in out
    # 12 s later the call is still here: the REFER vanished
    retry = m.handle(TimerFired(TRANSFER_TIMER))
    assert asks(retry) == [RequestResponse("r3", "Trying the next line.")]
    out = play(m, "resp_r", asks(retry)[0])
    assert Refer("sip:desk@pbx.example") in out
    # the second REFER is refused outright
    fallback = m.handle(ReferFailed("sip:desk@pbx.example", "500"))
    assert CancelTimer(TRANSFER_TIMER) in fallback
    assert asks(fallback)[0].say == "Nobody is free."
    assert not m.departing and m.state == "menu"


def test_without_a_fallback_the_caller_hears_transfer_failed_and_the_call_goes_on():
    text = IVR.replace("    fallback: {say: Nobody is free., goto: menu}\n", "").replace(
        'transfer: ["+15551230000", "sip:desk@pbx.example"]', 'transfer: "+15551230000"'
    )
    m = started(machine(text))
    (line,) = asks(m.handle(KeypadPressed("0")))
    play(m, "resp_t", line)
    out = m.handle(TimerFired(TRANSFER_TIMER))
    assert asks(out) == [RequestResponse("r3", "No luck, sorry.")]
    assert not m.departing


def test_a_stale_refer_failure_is_ignored():
    m = started(machine())
    (line,) = asks(m.handle(KeypadPressed("0")))
    play(m, "resp_t", line)
    assert m.handle(ReferFailed("sip:someone@else", "500")) == []


# -- limits ------------------------------------------------------------------------------
def test_time_limit_warns_then_cuts_short_says_goodbye_and_hangs_up():
    m = machine()
    opened = m.handle(SessionStarted())
    timers = {a.name: a.seconds for a in opened if isinstance(a, StartTimer)}
    assert timers == {TIME_UP_TIMER: 600, TIME_WARNING_TIMER: 480, REQUEST_TIMER: 5.0}
    settle(m, opened)
    warn = m.handle(TimerFired(TIME_WARNING_TIMER))
    assert "wrap up" in asks(warn)[0].say
    settle(m, warn)
    m.handle(ResponseStarted("resp_talk"))  # the agent is mid-sentence at the limit
    up = m.handle(TimerFired(TIME_UP_TIMER))
    assert up == [CancelResponse()]
    assert m.departing
    (bye,) = asks(m.handle(ResponseFinished("resp_talk", "cancelled")))
    assert "time limit" in bye.say
    assert Hangup("the flow ended the call") in play(m, "resp_bye", bye)


def test_tool_call_cap_refuses_the_call_over_it_and_runs_the_default_fallback():
    m = started(machine())
    for n in range(3):
        settle(m, tool_turn(m, f"resp_{n}", (f"c{n}", "balance", "{}")))
    over = tool_turn(m, "resp_9", ("c9", "balance", "{}"))
    (output,) = [a for a in over if isinstance(a, SendToolOutput)]
    assert json.loads(output.output)["error"] == "limit_reached"
    (bye,) = asks(over)  # the fallback's line, and no response for the model to go on
    assert "systems aren't responding" in bye.say
    assert m.departing
    assert Hangup("the flow ended the call") in play(m, "resp_bye", bye)


def test_failures_in_a_row_run_the_fallback_and_a_success_resets_the_count():
    text = IVR.replace(
        "tool_failures: 2}",
        "tool_failures: 2, fallback: {say: Let me get someone., tool: operator}}",
    )
    m = started(machine(text))
    settle(m, tool_turn(m, "resp_1", ("c1", "nope", "{}")))
    settle(m, tool_turn(m, "resp_2", ("c2", "balance", "{}")))  # a success in between
    once = settle(m, tool_turn(m, "resp_3", ("c3", "nope", "{}")))
    assert not [a for a in asks(once) if a.say == "Let me get someone."]
    twice = settle(m, tool_turn(m, "resp_4", ("c4", "nope", "{}")))
    assert [a.say for a in asks(twice)] == ["Let me get someone.", "Connecting you."]
    # the step's tool (a transfer to the operator) follows its line
    assert any(isinstance(a, Refer) for a in twice)


# -- fillers -----------------------------------------------------------------------------
def lookup_running(m: CallMachine) -> RunHttpTool:
    settle(m, tool_turn(m, "resp_1", ("c1", "cards", "{}")))
    out = tool_turn(m, "resp_2", ("c2", "lookup", '{"id": "7"}'))
    (run,) = [a for a in out if isinstance(a, RunHttpTool)]
    assert StartTimer(filler_timer("c2"), 2.0) in out
    return run


def test_a_slow_tool_gets_its_filler_line():
    m = started(machine())
    lookup_running(m)
    out = m.handle(TimerFired(filler_timer("c2")))
    assert [a.say for a in asks(out)] == ["One moment please."]


def test_a_tool_that_answers_in_time_never_gets_its_filler():
    m = started(machine())
    lookup_running(m)
    out = m.handle(ToolFinished("c2", "lookup", '{"ok": true}', True))
    assert CancelTimer(filler_timer("c2")) in out
    assert m.handle(TimerFired(filler_timer("c2"))) == []


def test_a_queued_filler_is_dropped_when_the_answer_comes_first():
    m = started(machine())
    lookup_running(m)
    m.handle(ResponseStarted("resp_busy"))  # something is playing: the filler must queue
    assert asks(m.handle(TimerFired(filler_timer("c2")))) == []
    m.handle(ToolFinished("c2", "lookup", '{"ok": true}', True))
    after = m.handle(ResponseFinished("resp_busy", "completed"))
    assert [a.say for a in asks(after)] == [None]  # the model's answer, not the filler


# -- opening (a closed line, a caller rule) ------------------------------------------------
def test_an_opening_replaces_the_greeting_and_ends_the_call_once_heard():
    opening = Tool(description="closed", say="We are closed. Goodbye.", hangup=True)
    m = machine(opening=opening)
    out = m.handle(SessionStarted())
    assert [a.say for a in asks(out)] == ["We are closed. Goodbye."]
    assert m.departing
    assert Hangup("the flow ended the call") in play(m, "resp_o", asks(out)[0])


def test_an_opening_transfer_falls_back_to_its_step():
    opening = Tool(
        description="closed",
        transfer="+15559990000",
        fallback=Step(say="Sorry, goodbye.", hangup=True),
    )
    m = machine(opening=opening)
    out = m.handle(SessionStarted())
    assert Refer("sip:15559990000@us.wavix.net") in out
    again = m.handle(TimerFired(TRANSFER_TIMER))
    assert [a.say for a in asks(again)] == ["Sorry, goodbye."]
    assert m.departing
    assert Hangup("the flow ended the call") in play(m, "resp_s", asks(again)[0])


def test_a_tool_whose_service_fails_stops_there_and_keeps_the_state():
    text = IVR.replace(
        '    http: {url: "https://bank.example/accounts/{{ saved.account }}"}\n',
        '    http: {url: "https://bank.example/accounts/{{ saved.account }}"}\n    goto: menu\n',
    )
    m = started(machine(text, state="account"))
    run = next(
        a for key in "1234" for a in m.handle(KeypadPressed(key)) if isinstance(a, RunHttpTool)
    )
    failed = m.handle(ToolFinished(run.call_id, "check", '{"ok": false}', False))
    assert not any(isinstance(a, UpdateSession) for a in failed)
    assert m.state == "account"  # the caller can key the number again
    assert AddNote('The check tool answered: {"ok": false}') in failed


def test_the_time_limit_passing_during_a_transfer_that_fails_ends_the_call():
    m = started(machine())
    (line,) = asks(m.handle(KeypadPressed("0")))
    play(m, "resp_t", line)
    assert m.handle(TimerFired(TIME_UP_TIMER)) == []  # the transfer is left to finish
    out = m.handle(TimerFired(TRANSFER_TIMER))  # it did not take
    (bye,) = asks(out)
    assert "time limit" in bye.say  # not the next target, not the fallback
    assert not any(isinstance(a, Refer) for a in out)
    assert Hangup("the flow ended the call") in play(m, "resp_bye", bye)
