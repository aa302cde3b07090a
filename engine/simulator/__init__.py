"""A faithful stand-in for OpenAI's side of a SIP call, on loopback.

One server on ``127.0.0.1`` (ephemeral port) serves the REST call-control routes
(``/v1/realtime/calls/{call_id}/accept|reject|refer|hangup``) and the sideband WebSocket
(``/v1/realtime?call_id=…``), and a sender posts signed ``realtime.call.incoming``
webhooks. Everything is driven from Python on the same event loop as the code under
test, and everything is recorded so tests can assert on it without sleeping::

    async with Simulator() as sim:
        engine_config = sim.config()               # api key, secret, base_url → simulator
        placed = await sim.place_call("http://127.0.0.1:8000/openai/webhook",
                                      to="+18005551212", carrier="twilio")
        call = placed.call
        await call.wait_for_request("accept")
        await call.wait_connected()
        call.model.call_tool("lookup_order", {"order_id": "A1"}, preamble="Let me check.")
        await call.say("Where is my order?")     # VAD events, then the scripted response
        await call.wait_for_client_event("conversation.item.create")
        await call.press("1")                     # DTMF (mid-response too)
        await call.stay_silent()                  # idle_timeout_ms: timeout + the nudge
        await call.hang_up()                      # socket drops without a close frame

Faults: ``sim.faults`` / ``call.faults`` (a call's own setting wins). REST:
``RestFault(status=500)``, ``RestFault(hang_s=10)``, ``refer_vanishes`` = True, a count
or a set of target URIs,
``RestFault(hang_s=10, took_effect=True)`` for an action done at once but answered late,
``refer_ring_s`` for a transfer target that rings first. Repeats are answered as the real
API answers them (a second accept: 400 "Call is not ringing (state: accepted)."; any action
on an ended call: 404), and a refer while an earlier one still rings is recorded in
``call.warnings``. Sideband (the real platform's awkward behaviours):
``untagged_responses`` (True or a count: responses without the client's ``metadata``),
``response_create_errors`` / ``response_create_error_code`` (the next N
``response.create`` answered with an ``error`` pointing back at their ``event_id``),
``auto_response_after_tool_output`` (the server answers a function output itself, so
the client's ``response.create`` is refused as a second active response),
``caller_gone_on_accept`` (``"404"`` / ``"close"``: the caller hung up while it rang;
the sideband is refused or dropped and the call is over), ``sideband_status`` with
``sideband_status_times`` (handshakes refused with that status, every one or the next N).
``call.drop_sideband(code)`` drops the sideband (no close frame, or that close code)
while the call stays up; a new sideband to the same call id carries on.

What the caller hears: audio plays on after ``response.done`` for its spoken length
(``output_audio_buffer.stopped`` comes then); ``output_audio_buffer.clear`` or a barge-in
cuts it (``output_audio_buffer.cleared``, never ``stopped``). ``call.playing`` is the
response heard now, ``call.played_out`` / ``call.cleared`` how each one ended. Whether
the call is still up: ``call.state``, ``call.ended``, ``await call.wait_ended()``.

Speed: ``Timing`` (immediate by default, but for the server's idle nudge, which waits
``nudge_latency_s`` after its ``response.created`` before it speaks so a client can
cancel it; ``nudge_delay_s`` delays that ``response.created`` after the timeout;
``playback_per_char_s`` / ``min_playback_s`` make audio play on after ``response.done``;
``rest_latency_s`` / ``rest_latency_per_inflight_s`` slow REST down under load;
``response_done_delay_s`` holds ``response.done`` back after a response's function call
items, as when the model speaks on after calling a tool; ``ModelTurn(hold_done=True)`` holds
it until ``call.release()``).
Where the real API's behaviour is not documented, the module that simulates it says so
in a comment marked [inf]. ``call.server_event_violations()`` checks the events sent
against the ``openai`` SDK's models.

How it is built: ``Simulator`` (server.py) answers REST and sideband handshakes and
changes a call only through its public ``call.control``. A ``SimCall`` (call.py) is one
declared ``CallState`` (state.py) and the parts that act on it (sideband, responses,
client events, call control, caller), each given that state and an ``Environment``
(environment.py: ids, clock, timing, faults, responder, strictness). The modules import
one way (tests/simulator/test_sim_structure.py holds them to it).
"""

from engine.simulator.call import Responder, SimCall
from engine.simulator.carriers import CARRIERS, sip_headers_for
from engine.simulator.faults import Faults, RestFault
from engine.simulator.model import ModelTurn, ResponseRequest, ToolCall
from engine.simulator.records import Recorded, RestRequest
from engine.simulator.server import Simulator
from engine.simulator.timing import Timing
from engine.simulator.webhooks import USER_AGENT, Delivery, PlacedCall, sign_webhook

__all__ = [
    "CARRIERS",
    "USER_AGENT",
    "Delivery",
    "Faults",
    "ModelTurn",
    "PlacedCall",
    "Recorded",
    "Responder",
    "ResponseRequest",
    "RestFault",
    "RestRequest",
    "SimCall",
    "Simulator",
    "Timing",
    "ToolCall",
    "sign_webhook",
    "sip_headers_for",
]
