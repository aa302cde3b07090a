"""CallMachine under the real platform's awkward behaviours (issue #9), as pure transitions.

Each test names what the platform does and asserts what the caller would hear or not hear:
a request the server never starts, an error for one of ours, a response that comes back
without our metadata, the server answering a tool output by itself, audio that plays on
after ``response.done``, a nudge that comes late, a REFER that rings, the time limit, and a
connection that drops and comes back.
"""

from __future__ import annotations

import typing

from engine.call.actions import (
    CancelResponse,
    CancelTimer,
    Hangup,
    IdleTimeout,
    Refer,
    RequestResponse,
    SetIdleTimeout,
    StartTimer,
    StopAudio,
)
from engine.call.events import (
    AgentSaid,
    AudioStarted,
    AudioStopped,
    CallerSilent,
    CallerStartedSpeaking,
    CallEvent,
    KeypadPressed,
    PlatformError,
    ReferFailed,
    ResponseFinished,
    ResponseStarted,
    SessionResumed,
    TimerFired,
    ToolCallRequested,
)
from engine.call.machine import (
    _HANDLERS,
    HEARD_TIMER,
    REQUEST_TIMER,
    REQUEST_WAIT_S,
    TIME_UP_TIMER,
    TRANSFER_TIMER,
    CallMachine,
)

from helpers import asks, flow_of, heard, machine, play, started, tool_turn

ACTIVE = "conversation_already_has_active_response"
TARGET = "sip:15551230000@us.wavix.net"  # the first operator target, by the wavix preset


def test_every_event_type_has_a_handler():
    assert set(_HANDLERS) == set(typing.get_args(CallEvent))


# -- a request the server never starts -------------------------------------------------------
def test_a_request_that_never_starts_is_given_up_and_the_next_line_goes_out():
    m = started(machine())
    first = m.handle(KeypadPressed("1"))  # "Your balance is ten dollars."
    (line,) = asks(first)
    assert StartTimer(REQUEST_TIMER, REQUEST_WAIT_S) in first
    # A filler-like second line waits behind it...
    m._ask([], "And one more thing.")
    # ...the server never answers the first: the wait runs out, the queue moves on.
    moved = m.handle(TimerFired(REQUEST_TIMER))
    assert [a.say for a in asks(moved)] == ["And one more thing."]
    assert StartTimer(REQUEST_TIMER, REQUEST_WAIT_S) in moved
    # the lost one starting very late changes nothing for the queue
    assert heard(m.handle(ResponseStarted("resp_late", line.request))) == []


def test_a_departure_line_that_never_starts_still_ends_the_call():
    m = started(machine())
    (line,) = asks(m.handle(KeypadPressed("0")))  # operator: "Connecting you." then REFER
    assert line.say == "Connecting you."
    out = m.handle(TimerFired(REQUEST_TIMER))
    assert Refer(TARGET) in out or any(isinstance(a, Refer) for a in out)


def test_any_error_naming_our_request_frees_the_queue():
    m = started(machine())
    (line,) = asks(m.handle(KeypadPressed("1")))
    m._ask([], "Next line.")
    out = m.handle(PlatformError("server_error", "boom", line.request))
    assert CancelTimer(REQUEST_TIMER) in out
    assert [a.say for a in asks(out)] == ["Next line."]


def test_an_error_for_someone_elses_event_changes_nothing():
    m = started(machine())
    (line,) = asks(m.handle(KeypadPressed("1")))
    assert m.handle(PlatformError("invalid_value", "bad session.update", None)) == []
    assert heard(m.handle(ResponseStarted("resp_1", line.request))) == []


# -- the server answers a tool output by itself ----------------------------------------------
def test_a_free_reply_refused_for_the_servers_own_response_is_not_asked_again():
    m = started(machine())
    out = tool_turn(m, "resp_1", ("c1", "cards", "{}"))
    (reply,) = asks(out)
    assert reply.say is None
    m.handle(ResponseStarted("resp_auto"))  # the server answered the output by itself
    refused = m.handle(PlatformError(ACTIVE, "busy", reply.request))
    assert asks(refused) == []
    # and when the server's reply is done, nothing is asked: the agent speaks once
    assert asks(m.handle(ResponseFinished("resp_auto", "completed"))) == []


def test_a_free_reply_behind_a_response_we_are_cancelling_is_asked_again():
    m = started(machine())
    (first,) = asks(m.handle(CallerSilent()))  # "Are you still there?"
    play(m, "resp_1", first)
    out = m.handle(CallerSilent())  # the second step: a note and a free reply
    (reply,) = asks(out)
    assert reply.say is None
    assert m.handle(ResponseStarted("resp_nudge")) == [CancelResponse()]
    refused = m.handle(PlatformError(ACTIVE, "busy", reply.request))
    assert asks(refused) == []
    # the nudge held the slot only until our cancel took: the reply is asked again
    assert asks(m.handle(ResponseFinished("resp_nudge", "cancelled"))) == [reply]


# -- a response.created without our metadata ------------------------------------------------
def test_an_untagged_response_that_ends_while_ours_is_unanswered_was_ours():
    m = started(machine())
    (line,) = asks(m.handle(KeypadPressed("1")))
    m._ask([], "Next line.")
    m.handle(ResponseStarted("resp_untagged"))  # our line, its metadata lost
    out = m.handle(ResponseFinished("resp_untagged", "completed"))
    assert CancelTimer(REQUEST_TIMER) in out
    assert [a.say for a in asks(out)] == ["Next line."]  # no waiting out the timer
    del line


def test_an_untagged_departure_line_is_heard_before_the_refer():
    m = started(machine())
    (line,) = asks(m.handle(KeypadPressed("0")))
    m.handle(ResponseStarted("resp_untagged"))
    m.handle(AudioStarted("resp_untagged"))
    done = m.handle(ResponseFinished("resp_untagged", "completed"))
    assert not any(isinstance(a, Refer) for a in done)  # still playing
    out = m.handle(AudioStopped("resp_untagged"))
    assert Refer(TARGET) in out
    del line


# -- audio that plays on after response.done -------------------------------------------------
def test_a_key_clears_audio_still_playing_after_its_response_is_done():
    m = started(machine())
    m.handle(ResponseStarted("resp_talk"))
    m.handle(AudioStarted("resp_talk"))
    m.handle(ResponseFinished("resp_talk", "completed"))  # generated; still being heard
    out = m.handle(KeypadPressed("1"))
    assert out[0] == StopAudio()
    assert CancelResponse() not in out


def test_nothing_to_stop_when_nothing_plays():
    m = started(machine())
    out = m.handle(KeypadPressed("1"))
    assert asks(out)  # the key did its work
    assert StopAudio() not in out and CancelResponse() not in out


def test_the_first_digit_of_an_entry_clears_audio_still_playing():
    text = flow_of_collecting()
    m = started(CallMachine(text, {}))
    m.handle(ResponseStarted("resp_talk"))
    m.handle(AudioStarted("resp_talk"))
    m.handle(ResponseFinished("resp_talk", "completed"))
    assert m.handle(KeypadPressed("4"))[0] == StopAudio()


def test_the_time_limit_clears_audio_still_playing():
    m = started(machine())
    m.handle(ResponseStarted("resp_talk"))
    m.handle(AudioStarted("resp_talk"))
    m.handle(ResponseFinished("resp_talk", "completed"))
    out = m.handle(TimerFired(TIME_UP_TIMER))
    assert out[0] == StopAudio()
    assert "time limit" in asks(out)[0].say


def flow_of_collecting():
    return flow_of(
        """\
        name: Entry
        numbers: ["+18005550009"]
        instructions: Base.
        greeting: Hi.
        start: account
        states:
          account:
            collect: {save_as: account, digits: 4}
        """
    )


# -- the server's idle nudge -----------------------------------------------------------------
def test_a_nudge_that_comes_after_our_own_line_ended_is_still_cancelled():
    m = started(machine())
    (line,) = asks(m.handle(CallerSilent()))
    play(m, "resp_line", line)  # our "Are you still there?" runs and ends first
    assert m.handle(ResponseStarted("resp_nudge_late")) == [CancelResponse()]


def test_speech_before_the_nudge_lets_the_reply_to_it_through():
    m = started(machine())
    settle_line = asks(m.handle(CallerSilent()))
    play(m, "resp_line", settle_line[0])
    m.handle(CallerStartedSpeaking())
    assert m.handle(ResponseStarted("resp_reply")) == []


# -- transfers that ring ---------------------------------------------------------------------
def _referred(m: CallMachine) -> list:
    (line,) = asks(m.handle(KeypadPressed("0")))
    return play(m, "resp_line", line)


def test_a_refer_with_no_answer_is_not_followed_by_another_until_the_wait_is_over():
    m = started(machine())
    out = _referred(m)
    assert Refer(TARGET) in out
    assert StartTimer(TRANSFER_TIMER, 12) in out
    # the REST call timed out: the REFER may be ringing
    assert m.handle(ReferFailed(TARGET, "timeout", certain=False)) == []
    assert m.handle(CallerSilent()) == []  # nothing said over the hold
    later = m.handle(TimerFired(TRANSFER_TIMER))
    assert [a.say for a in asks(later)] == ["Trying the next line."]


def test_a_refused_refer_moves_to_the_next_target_at_once():
    m = started(machine())
    _referred(m)
    out = m.handle(ReferFailed(TARGET, "HTTP 500", certain=True))
    assert [a.say for a in asks(out)] == ["Trying the next line."]


# -- the time limit always ends the call -----------------------------------------------------
def test_the_time_limit_ends_a_call_whose_departure_line_is_stuck():
    m = started(machine())
    (line,) = asks(m.handle(KeypadPressed("0")))  # "Connecting you.", never started
    assert asks(m.handle(TimerFired(TIME_UP_TIMER))) == []  # one request at a time
    (bye,) = asks(m.handle(TimerFired(REQUEST_TIMER)))  # the lost line is given up
    assert "time limit" in bye.say
    out = play(m, "resp_bye", bye)
    assert Hangup("the flow ended the call") in out
    assert not any(isinstance(a, Refer) for a in out)  # the transfer is not made after all
    del line


def test_the_time_limit_leaves_a_ringing_refer_then_ends_the_call_if_it_does_not_take():
    m = started(machine())
    _referred(m)
    assert m.handle(TimerFired(TIME_UP_TIMER)) == []  # the REFER may be ringing
    out = m.handle(TimerFired(TRANSFER_TIMER))
    (bye,) = asks(out)
    assert "time limit" in bye.say
    assert Hangup("the flow ended the call") in play(m, "resp_bye", bye)


def test_the_time_limit_repeats_a_hangup_that_has_not_taken():
    m = started(machine())
    m.handle(ResponseStarted("resp_talk"))
    m.handle(TimerFired(TIME_UP_TIMER))
    (bye,) = asks(m.handle(ResponseFinished("resp_talk", "cancelled")))
    assert Hangup("the flow ended the call") in play(m, "resp_bye", bye)
    # the call is still here much later (the hangup did not take): hang up again
    assert m.handle(TimerFired(TIME_UP_TIMER)) == [Hangup("the call's time limit")]


# -- the connection drops and comes back -----------------------------------------------------
def test_a_resumed_session_forgets_what_the_old_connection_was_running():
    m = started(machine())
    m.handle(ResponseStarted("resp_talk"))
    m.handle(AudioStarted("resp_talk"))
    m._ask([], "Queued line.")
    out = m.handle(SessionResumed())
    assert [a.say for a in asks(out)] == ["Queued line."]
    assert StopAudio() not in m.handle(KeypadPressed("7"))  # nothing is playing now


def test_a_resumed_session_finishes_a_departure_whose_line_was_under_way():
    m = started(machine())
    (line,) = asks(m.handle(KeypadPressed("0")))
    m.handle(ResponseStarted("resp_line", line.request))
    out = m.handle(SessionResumed())
    assert Refer(TARGET) in out


def test_tool_calls_of_the_server_response_still_run_when_one_of_ours_was_lost():
    m = started(machine())
    asks(m.handle(KeypadPressed("1")))
    m.handle(TimerFired(REQUEST_TIMER))
    m.handle(ResponseStarted("resp_2"))
    m.handle(ToolCallRequested("resp_2", "c1", "cards", "{}"))
    out = m.handle(ResponseFinished("resp_2", "completed"))
    assert m.state == "cards"
    assert any(isinstance(a, RequestResponse) for a in out)


def test_the_hold_turns_the_silence_timeout_off_and_a_failed_transfer_turns_it_back_on():
    m = started(machine())
    out = _referred(m)
    assert SetIdleTimeout(IdleTimeout(None)) in out
    back = m.handle(ReferFailed(TARGET, "HTTP 500"))
    assert SetIdleTimeout(IdleTimeout(6000)) in back  # the flow's ladder is back for the caller


def test_the_cap_on_waiting_for_a_line_counts_audio_still_playing_ahead_of_it():
    m = started(machine())
    # The model says ten seconds of preamble and calls the transfer tool in one response.
    m.handle(ResponseStarted("resp_long"))
    m.handle(AgentSaid("resp_long", "x" * 120))
    m.handle(AudioStarted("resp_long"))
    m.handle(ToolCallRequested("resp_long", "c1", "operator", "{}"))
    (line,) = asks(m.handle(ResponseFinished("resp_long", "completed")))
    m.handle(ResponseStarted("resp_line", line.request))
    m.handle(AgentSaid("resp_line", "Connecting you."))
    out = m.handle(ResponseFinished("resp_line", "completed"))  # the preamble still plays
    (cap,) = [a for a in out if isinstance(a, StartTimer) and a.name == HEARD_TIMER]
    assert cap.seconds == (120 + len("Connecting you.")) / 12 + 2


def test_the_cap_on_waiting_for_a_line_is_thirty_seconds_at_most():
    m = started(machine())
    # A monologue of 100 s at 12 characters a second still plays when the line is done.
    m.handle(ResponseStarted("resp_long"))
    m.handle(AgentSaid("resp_long", "x" * 1200))
    m.handle(AudioStarted("resp_long"))
    m.handle(ToolCallRequested("resp_long", "c1", "operator", "{}"))
    (line,) = asks(m.handle(ResponseFinished("resp_long", "completed")))
    m.handle(ResponseStarted("resp_line", line.request))
    m.handle(AgentSaid("resp_line", "Connecting you."))
    out = m.handle(ResponseFinished("resp_line", "completed"))
    (cap,) = [a for a in out if isinstance(a, StartTimer) and a.name == HEARD_TIMER]
    assert cap.seconds == 30.0  # a platform that never reports the audio stopped
