"""What a call is answered with by default: an idle timeout from the (default) silence ladder
and a transcription model from the flow or the engine's setting; and the default ladder run
by the call machine, so a call whose caller has gone ends."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

from engine.call.actions import (
    Hangup,
    IdleTimeout,
    RequestResponse,
    UpdateSession,
)
from engine.call.answer import Answer, decide
from engine.call.events import (
    AudioStarted,
    AudioStopped,
    CallerSilent,
    ResponseFinished,
    ResponseStarted,
    SessionStarted,
)
from engine.call.machine import CallMachine
from engine.call.session import SessionSpec, idle_for, session_for
from engine.flow.lint import lint_text
from engine.flow.model import DEFAULT_TRANSCRIPTION_MODEL, Flow
from engine.flow.registry import Registry
from engine.openai.protocol import accept_body, client_events

BASE = """\
name: Defaults
numbers: ["+18005550100"]
instructions: Help the caller.
greeting: Hello.
"""


def flow_of(extra: str = "") -> Flow:
    result = lint_text("defaults.yaml", BASE + textwrap.dedent(extra), env={})
    assert result.flow is not None, result.diagnostics
    return result.flow


def input_audio(flow: Flow, **kwargs) -> dict:
    return accept_body(session_for(flow, {}, **kwargs))["audio"].get("input", {})


# -- the accept body -----------------------------------------------------------------------
def test_every_flow_is_answered_with_an_idle_timeout_from_the_default_ladder():
    assert idle_for(flow_of(), None) == IdleTimeout(10000)
    assert input_audio(flow_of())["turn_detection"] == {
        "type": "server_vad",
        "idle_timeout_ms": 10000,
    }


def test_a_written_ladder_sets_its_own_idle_timeout():
    flow = flow_of("silence: {after: 7, steps: [{say: Hello?, hangup: true}]}\n")
    assert input_audio(flow)["turn_detection"]["idle_timeout_ms"] == 7000


def test_silence_off_leaves_turn_detection_alone():
    flow = flow_of("silence: off\n")
    assert idle_for(flow, None) is None
    assert "turn_detection" not in input_audio(flow)


def test_a_state_switched_off_clears_the_idle_timeout_when_the_call_moves_there():
    flow = flow_of(
        """\
        states:
          menu:
            instructions: Ask what the caller needs.
            tools: [dictate]
          dictation:
            instructions: Take down the message.
            silence: off
        tools:
          dictate:
            description: Take a message.
            goto: dictation
        """
    )
    assert idle_for(flow, "menu") == IdleTimeout(10000)
    assert idle_for(flow, "dictation") == IdleTimeout(None)
    update = UpdateSession("x", (), idle_for(flow, "dictation"))
    (event,) = client_events(update)
    assert event["session"]["audio"]["input"]["turn_detection"] == {
        "type": "server_vad",
        "idle_timeout_ms": None,
    }


def test_the_transcription_model_comes_from_the_flow_else_the_engines_setting():
    assert DEFAULT_TRANSCRIPTION_MODEL == "gpt-transcribe"
    assert input_audio(flow_of())["transcription"] == {"model": "gpt-transcribe"}
    setting = {"transcription_model": "gpt-live-transcribe"}
    assert input_audio(flow_of(), **setting)["transcription"] == {"model": "gpt-live-transcribe"}
    named = flow_of("transcription: {model: gpt-realtime-whisper}\n")
    assert input_audio(named, **setting)["transcription"] == {"model": "gpt-realtime-whisper"}


def test_a_session_without_transcription_sends_none():
    spec = SessionSpec("gpt-realtime-2.1", "marin", "x", (), transcription=None)
    assert "input" not in accept_body(spec)["audio"]


def _decide(tmp_path, flow_text: str, **kwargs):
    (tmp_path / "a.yaml").write_text(flow_text, encoding="utf-8")
    registry = Registry(str(tmp_path), env={})
    registry.reload()
    return decide(
        call_id="rtc_1",
        sip_headers=[("To", "<sip:+18005550100@sip.example>"), ("From", "<sip:+14155550100@x>")],
        snapshot=registry.snapshot,
        env={},
        now=datetime(2026, 3, 3, 15, 0, tzinfo=UTC),
        **kwargs,
    )


def test_decide_passes_the_engines_transcription_model_to_every_answer(tmp_path):
    answer = _decide(tmp_path, BASE, transcription_model="gpt-live-transcribe")
    assert isinstance(answer, Answer)
    assert answer.session.transcription == "gpt-live-transcribe"
    assert answer.session.idle == IdleTimeout(10000)
    # An answer that only says a line (a caller rule) transcribes with the same model.
    rule = BASE + 'callers:\n  - numbers: ["+14155550100"]\n    say: We are closed.\n'
    opening = _decide(tmp_path, rule, transcription_model="gpt-live-transcribe")
    assert isinstance(opening, Answer) and opening.opening is not None
    assert opening.session.transcription == "gpt-live-transcribe"
    assert _decide(tmp_path, BASE).session.transcription == "gpt-transcribe"


# -- the default ladder, run by the call machine ------------------------------------------
def _asks(actions: list) -> list[RequestResponse]:
    return [a for a in actions if isinstance(a, RequestResponse)]


def _play(m: CallMachine, rid: str, ask: RequestResponse) -> list:
    out = m.handle(ResponseStarted(rid, ask.request))
    out += m.handle(AudioStarted(rid))
    out += m.handle(ResponseFinished(rid, "completed"))
    return out + m.handle(AudioStopped(rid))


def test_a_caller_who_has_gone_is_asked_once_then_let_go_in_the_flows_language():
    flow = flow_of(
        """\
        lines:
          still_there: ¿Sigue ahí?
          goodbye_silent: No oigo nada. Adiós.
        """
    )
    m = CallMachine(flow, {"caller": {"number": "+14155550100"}})
    (greeting,) = _asks(m.handle(SessionStarted()))
    _play(m, "resp_g", greeting)

    first = _asks(m.handle(CallerSilent()))
    assert [a.say for a in first] == ["¿Sigue ahí?"]
    assert not any(isinstance(a, Hangup) for a in _play(m, "resp_1", first[0]))

    second = _asks(m.handle(CallerSilent()))
    assert [a.say for a in second] == ["No oigo nada. Adiós."]
    end = _play(m, "resp_2", second[0])
    assert any(isinstance(a, Hangup) for a in end)


def test_with_silence_off_a_silence_does_nothing():
    m = CallMachine(flow_of("silence: off\n"), {"caller": {"number": "+14155550100"}})
    (greeting,) = _asks(m.handle(SessionStarted()))
    _play(m, "resp_g", greeting)
    assert m.handle(CallerSilent()) == []
