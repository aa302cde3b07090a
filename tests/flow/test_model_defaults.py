"""The defaults a flow gets without writing them: the silence ladder (and `silence: off`), the
transcription model, and how long a transfer may ring, by carrier."""

from __future__ import annotations

import textwrap

import pytest

from engine.flow.lint import lint_text
from engine.flow.model import (
    DEFAULT_SILENCE_AFTER,
    DEFAULT_TRANSFER_WAIT,
    SILENCE_OFF,
    TRANSFER_WAITS,
    Flow,
    Silence,
    Step,
)
from engine.flow.source import load_source

BASE = """\
name: Defaults
numbers: ["+18005550100"]
instructions: Help the caller.
"""


def flow_of(extra: str = "") -> Flow:
    text = BASE + textwrap.dedent(extra)
    result = lint_text("defaults.yaml", text, env={})
    assert result.flow is not None, result.diagnostics
    return result.flow


def test_a_flow_without_silence_gets_the_default_ladder_in_its_own_lines():
    flow = flow_of(
        """\
        lines:
          still_there: ¿Sigue ahí?
          goodbye_silent: No oigo nada, así que voy a colgar. Adiós.
        """
    )
    ladder = flow.silence_of(None)
    assert ladder == Silence(
        after=DEFAULT_SILENCE_AFTER,
        steps=[
            Step(say="¿Sigue ahí?"),
            Step(say="No oigo nada, así que voy a colgar. Adiós.", hangup=True),
        ],
    )
    assert ladder.after == 10
    assert flow.written_silences() == []  # nothing written in the file


def test_the_default_lines_are_english():
    ladder = flow_of().silence_of(None)
    assert ladder is not None
    assert [step.say for step in ladder.steps] == [
        "Are you still there?",
        "I haven't heard anything, so I'll end the call now. Goodbye.",
    ]
    assert [step.hangup for step in ladder.steps] == [False, True]


def test_silence_off_is_the_word_off_and_switches_the_ladder_off():
    doc = load_source("defaults.yaml", BASE + "silence: off\n")
    assert doc.data["silence"] == SILENCE_OFF == "off"  # YAML 1.2: text, not false
    flow = flow_of("silence: off\n")
    assert flow.silence_of(None) is None


STATES = """\
silence: {silence}
states:
  menu:
    instructions: Ask what the caller needs.
  dictation:
    instructions: Take down the message.
    silence: {dictation}
"""


def test_a_states_off_wins_over_the_flows_ladder_and_its_ladder_over_the_flows_off():
    ladder = "{after: 6, steps: [{say: Hello?, hangup: true}]}"
    flow = flow_of(STATES.format(silence=ladder, dictation="off"))
    assert flow.silence_of("menu") is not None and flow.silence_of("menu").after == 6
    assert flow.silence_of("dictation") is None

    flow = flow_of(STATES.format(silence="off", dictation=ladder))
    assert flow.silence_of("menu") is None
    assert flow.silence_of("dictation").steps == [Step(say="Hello?", hangup=True)]
    assert [state for state, _ in flow.written_silences()] == ["dictation"]


def test_a_state_off_under_the_default_ladder():
    flow = flow_of(STATES.replace("silence: {silence}\n", "").format(dictation="off"))
    assert flow.silence_of("menu") == flow.default_silence
    assert flow.silence_of("dictation") is None


@pytest.mark.parametrize("written", ["false", "no", "Off", "of"])
def test_other_words_for_off_are_refused_with_a_hint(written):
    result = lint_text("defaults.yaml", BASE + f"silence: {written}\n", env={})
    assert result.flow is None
    (problem,) = result.diagnostics
    assert problem.rule == "schema"
    assert "`silence` must be a mapping" in problem.message and "`off`" in problem.message
    assert problem.hint is not None and "off" in problem.hint


def test_a_mistake_inside_a_ladder_is_still_shown_where_it_is():
    result = lint_text(
        "defaults.yaml", BASE + "silence:\n  after: 3\n  steps: [{say: Hello?}]\n", env={}
    )
    (problem,) = result.diagnostics
    assert problem.message == "`silence.after` must be at least 5, but it is 3"
    assert problem.line == 5


@pytest.mark.parametrize(
    ("trunk", "wait"),
    [
        ("", 45.0),
        ("trunk: {carrier: twilio, domain: acme.pstn.twilio.com}\n", 60.0),
        ("trunk: {carrier: telnyx}\n", 45.0),
        ("trunk: {carrier: bandwidth}\n", 45.0),
        ("trunk: {carrier: wavix, region: us}\n", 45.0),
        ("trunk: {carrier: twilio, domain: acme.pstn.twilio.com, transfer_wait: 90}\n", 90.0),
        ("trunk: {transfer_wait: 20}\n", 20.0),
    ],
)
def test_transfer_wait_is_long_enough_for_a_phone_to_ring_and_set_by_the_carrier(trunk, wait):
    assert flow_of(trunk).trunk.transfer_wait == wait


def test_every_carrier_has_a_transfer_wait_within_the_allowed_range():
    assert set(TRANSFER_WAITS) == {None, "bandwidth", "wavix", "twilio", "telnyx", "custom"}
    assert TRANSFER_WAITS[None] == DEFAULT_TRANSFER_WAIT == 45.0
    # Twilio waits up to 32 s for our BYE after the target answers: ring time on top.
    assert TRANSFER_WAITS["twilio"] >= 32 + 25
    assert all(0 < wait <= 120 for wait in TRANSFER_WAITS.values())


def test_a_wrong_carrier_is_still_the_carriers_error_not_a_crash():
    result = lint_text("defaults.yaml", BASE + "trunk: {carrier: [twilio]}\n", env={})
    assert result.flow is None
    assert [d.rule for d in result.diagnostics] == ["schema"]


def test_transcription_model_is_optional():
    assert flow_of().transcription.model is None
    flow = flow_of("transcription: {model: gpt-live-transcribe}\n")
    assert flow.transcription.model == "gpt-live-transcribe"
    bad = lint_text("defaults.yaml", BASE + "transcription: {model: 4}\n", env={})
    assert bad.flow is None
    assert bad.diagnostics[0].message.startswith("`transcription.model` must be text")
