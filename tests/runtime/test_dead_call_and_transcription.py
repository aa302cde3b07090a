"""The defaults through a real engine and the simulator on loopback: a flow that writes no
silence ladder still ends a call whose caller has gone; `silence: off` leaves the call to the
time limit; the transcription model comes from the flow, else ENGINE_TRANSCRIPTION_MODEL."""

from __future__ import annotations

import asyncio
import base64
import logging

import pytest

from engine.openai import ConfigError
from engine.server import EngineSettings

from helpers import said

NUMBER = "+18005550111"
FLOW = f"""\
name: Quiet line
numbers: ["{NUMBER}"]
instructions: You answer questions about the weather.
greeting: Hello, how can I help?
"""
SPANISH = """\
lines:
  still_there: ¿Sigue ahí?
  goodbye_silent: No oigo nada, así que voy a colgar. Adiós.
"""


def test_a_flow_without_a_ladder_hangs_up_on_a_caller_who_has_gone(rt):
    async def main() -> None:
        async with rt(flows={"quiet.yaml": FLOW + SPANISH}, simulator={"strict": True}) as h:
            placed = await h.place(NUMBER)
            call = placed.call
            audio_in = call.accept_body["audio"]["input"]
            assert audio_in["turn_detection"] == {"type": "server_vad", "idle_timeout_ms": 10000}
            assert audio_in["transcription"] == {"model": "gpt-transcribe"}
            await call.wait_for_client_event("response.create")
            await call.wait_idle()

            assert await call.stay_silent()
            await call.wait_until(lambda: "¿Sigue ahí?" in said(call), what="the first line")
            await call.wait_idle()
            assert call.requests_for("hangup") == []

            assert await call.stay_silent()
            await call.wait_for_request("hangup", timeout=3)
            assert said(call)[-1] == "No oigo nada, así que voy a colgar. Adiós."
            assert await call.wait_ended(timeout=3) == "hangup"
            assert call.violations == []
            assert h.sim.violations() == []

    asyncio.run(main())


def test_silence_off_sends_no_idle_timeout_and_a_silence_changes_nothing(rt):
    async def main() -> None:
        async with rt(flows={"quiet.yaml": FLOW + "silence: off\n"}) as h:
            call = await h.answered(NUMBER)
            assert "turn_detection" not in call.accept_body["audio"]["input"]
            before = call.client_event_types()
            assert not await call.stay_silent()  # the platform never reports a silence
            assert call.client_event_types() == before
            assert not call.ended

    asyncio.run(main())


def test_the_engines_transcription_model_and_the_flows_own(rt):
    named = FLOW.replace("Quiet line", "Named").replace(NUMBER, "+18005550112")
    named += "transcription:\n  model: gpt-realtime-whisper\n"

    async def main() -> None:
        flows = {"quiet.yaml": FLOW, "named.yaml": named}
        async with rt(
            flows=flows, simulator={"strict": True}, transcription_model="gpt-live-transcribe"
        ) as h:
            plain = await h.place(NUMBER)
            own = await h.place("+18005550112")
            for placed, model in ((plain, "gpt-live-transcribe"), (own, "gpt-realtime-whisper")):
                assert placed.status == 200
                body = placed.call.accept_body
                assert body["audio"]["input"]["transcription"] == {"model": model}
            assert h.sim.violations() == []

    asyncio.run(main())


SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
ENV = {"OPENAI_API_KEY": "sk-proj-abcdefghijklmnop", "OPENAI_WEBHOOK_SECRET": SECRET}


def test_engine_transcription_model_is_read_from_the_environment():
    assert EngineSettings.from_env("flows", ENV).transcription_model == "gpt-transcribe"
    env = {**ENV, "ENGINE_TRANSCRIPTION_MODEL": " gpt-live-transcribe "}
    assert EngineSettings.from_env("flows", env).transcription_model == "gpt-live-transcribe"
    blank = {**ENV, "ENGINE_TRANSCRIPTION_MODEL": ""}
    assert EngineSettings.from_env("flows", blank).transcription_model == "gpt-transcribe"


@pytest.mark.parametrize("value", ["gpt transcribe", "gpt-transcribe\x00"])
def test_a_malformed_engine_transcription_model_stops_start_up(value):
    with pytest.raises(ConfigError, match="ENGINE_TRANSCRIPTION_MODEL"):
        EngineSettings.from_env("flows", {**ENV, "ENGINE_TRANSCRIPTION_MODEL": value})


def test_a_deprecated_engine_transcription_model_is_warned_about(caplog):
    env = {**ENV, "ENGINE_TRANSCRIPTION_MODEL": "gpt-4o-mini-transcribe"}
    with caplog.at_level(logging.WARNING, logger="engine.server"):
        settings = EngineSettings.from_env("flows", env)
    assert settings.transcription_model == "gpt-4o-mini-transcribe"  # still used as asked
    assert "2027-02-26" in caplog.text and "gpt-4o-mini-transcribe" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="engine.server"):
        EngineSettings.from_env("flows", {**ENV, "ENGINE_TRANSCRIPTION_MODEL": "gpt-transcribe"})
    assert caplog.text == ""
