"""The simulator: OpenAI's REST call control and sideband WebSocket on one loopback port.

``http://127.0.0.1:PORT/v1`` is the base URL to give the engine; the engine derives
``ws://127.0.0.1:PORT/v1/realtime?call_id=…`` from it exactly as it would derive
``wss://api.openai.com/v1/realtime`` from the real one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from http import HTTPStatus
from typing import Any

import httpx
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse
from websockets.server import ServerProtocol

from engine.openai.config import OpenAIConfig
from engine.simulator.call import Responder, SimCall
from engine.simulator.carriers import sip_headers_for
from engine.simulator.connection import SidebandConnection
from engine.simulator.faults import Faults, RestFault
from engine.simulator.http import HttpRequest, HttpResponse, HttpServer, json_response
from engine.simulator.ids import IdFactory
from engine.simulator.model import ModelTurn, ResponseRequest
from engine.simulator.records import RestRequest, Waiters
from engine.simulator.strict import StrictValidator
from engine.simulator.timing import Timing
from engine.simulator.webhooks import (
    PlacedCall,
    WebhookSender,
    encode_body,
    incoming_call_event,
)

__all__ = ["Simulator", "Timing"]

log = logging.getLogger(__name__)

ACTIONS = ("accept", "reject", "refer", "hangup")


def _error_body(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _redact(key: str) -> str:
    return key[:3] + "*" * 3 + key[-4:] if len(key) > 8 else "***"


class Simulator:
    """A stand-in for OpenAI on 127.0.0.1. Use as ``async with Simulator() as sim:``.

    ``api_key``/``webhook_secret`` are what the engine must use (``sim.config()`` gives
    a matching ``OpenAIConfig``). ``seed`` makes ids repeatable. ``strict``: validate
    client events and accept bodies against the ``openai`` SDK's types when it is
    installed (``None``: when available; ``True``: require it).
    """

    def __init__(
        self,
        *,
        api_key: str = "sk-sim-0123456789abcdef",
        webhook_secret: str | None = None,
        seed: int | None = 0,
        timing: Timing | None = None,
        strict: bool | None = None,
        webhook_timeout_s: float = 5.0,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret or (
            "whsec_" + base64.b64encode(b"simulator-webhook-signing-key-01").decode()
        )
        self.ids = IdFactory(seed)
        self.timing = timing or Timing()
        self.faults = Faults()
        self.responder: Responder | None = None
        self.calls: dict[str, SimCall] = {}
        self.requests: list[RestRequest] = []
        self.warnings: list[str] = []
        self._strict = StrictValidator.create(strict)
        self._http = HttpServer(self._on_http, self._on_upgrade)
        self._client: httpx.AsyncClient | None = None
        self._webhook_timeout_s = webhook_timeout_s
        self._waiters = Waiters()
        self._started = False
        self._rest_in_flight = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> Simulator:
        await self._http.start("127.0.0.1", 0)
        self._started = True
        return self

    async def stop(self) -> None:
        for call in self.calls.values():
            call.control.stop()
        await self._http.stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._started = False

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (REST and WebSocket)."""
        return self._http.connections_accepted

    @property
    def strict(self) -> bool:
        return self._strict.enabled

    def config(self) -> OpenAIConfig:
        """An ``OpenAIConfig`` pointing the engine at this simulator."""
        return OpenAIConfig(
            api_key=self.api_key, webhook_secret=self.webhook_secret, base_url=self.base_url
        )

    def _webhook_client(self) -> httpx.AsyncClient:
        # Created on first use: building its TLS context costs ~0.1 s, which most tests
        # (those that never send a webhook) should not pay.
        assert self._started, "simulator not started"
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=False)
        return self._client

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def strict_client_event(self, event: dict[str, Any]) -> list[str]:
        return self._strict.client_event(event)

    def violations(self) -> list[str]:
        """Every strict-mode violation recorded on any call."""
        return [f"{c.call_id}: {v}" for c in self.calls.values() for v in c.violations]

    # ------------------------------------------------------------------ calls

    def new_call(
        self,
        *,
        sip_headers: list[dict[str, str]] | None = None,
        media_security: str | None = "srtp",
        call_id: str | None = None,
        ring_timeout_s: float | None = None,
    ) -> SimCall:
        """Create a pending call without sending a webhook (for adapter tests).
        ``ring_timeout_s``: the caller gives up if it is not accepted in time."""
        call_id = call_id or self.ids.rtc_call()
        env = _CallEnvironment(self, self._strict)
        call = SimCall(call_id, env, sip_headers=sip_headers, media_security=media_security)
        env.call = call
        self.calls[call_id] = call
        if ring_timeout_s is not None:
            call.control.ring_for(ring_timeout_s)
        self._waiters.notify()
        return call

    def call(self, call_id: str) -> SimCall:
        return self.calls[call_id]

    async def wait_for_call(self, *, timeout: float = 2.0, count: int = 1) -> SimCall:
        """The ``count``-th call created on this simulator."""
        return await self._waiters.wait(
            lambda: list(self.calls.values())[count - 1] if len(self.calls) >= count else None,
            timeout,
            f"call #{count}",
        )

    async def place_call(
        self,
        webhook_url: str,
        secret: str | None = None,
        *,
        to: str = "+18005551212",
        from_: str = "+14155550100",
        carrier: str = "twilio",
        caller_name: str | None = None,
        anonymous: bool = False,
        extra_headers: list[tuple[str, str]] | dict[str, str] | None = None,
        media_security: str | None = "srtp",
        attempts: int = 1,
        retry_delays_s: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4),
        ring_timeout_s: float | None = None,
    ) -> PlacedCall:
        """A phone rings: create a pending call and POST a signed
        ``realtime.call.incoming`` to ``webhook_url``. With ``attempts`` > 1, a non-2xx
        or missing answer is retried with the same ``webhook-id`` (bounded, unlike the
        real 72 hours). Returns once the deliveries are done."""
        headers = sip_headers_for(
            carrier,
            from_=from_,
            to=to,
            ids=self.ids,
            caller_name=caller_name,
            anonymous=anonymous,
        )
        extras = extra_headers.items() if isinstance(extra_headers, dict) else extra_headers
        headers += [{"name": k, "value": v} for k, v in (extras or [])]
        call = self.new_call(
            sip_headers=headers, media_security=media_security, ring_timeout_s=ring_timeout_s
        )
        event = incoming_call_event(
            event_id=self.ids.webhook_event(),
            call_id=call.call_id,
            sip_headers=headers,
            media_security=media_security,
            created_at=int(time.time()),
        )
        placed = PlacedCall(
            call=call,
            url=webhook_url,
            secret=secret or self.webhook_secret,
            webhook_id=self.ids.webhook_delivery(),
            event=event,
            body=encode_body(event),
            sender=WebhookSender(self._webhook_client(), self._webhook_timeout_s),
        )
        for attempt in range(max(1, attempts)):
            if attempt:
                delays = retry_delays_s or (0.1,)
                await asyncio.sleep(delays[min(attempt - 1, len(delays) - 1)])
            delivery = await placed.sender.post(
                placed.url,
                placed.body,
                secret=placed.secret,
                webhook_id=placed.webhook_id,
                timestamp=int(time.time()),
                variant="original" if attempt == 0 else "retry",
            )
            placed.deliveries.append(delivery)
            if delivery.status is not None and 200 <= delivery.status < 300:
                break
        return placed

    async def send_webhook(
        self,
        webhook_url: str,
        body: bytes,
        *,
        secret: str | None = None,
        sign: bool = True,
        webhook_id: str | None = None,
        timestamp: int | None = None,
    ) -> int | None:
        """POST arbitrary bytes as a webhook (e.g. malformed JSON, other event types),
        signed with the simulator's secret unless ``sign=False``. Returns the status."""
        sender = WebhookSender(self._webhook_client(), self._webhook_timeout_s)
        delivery = await sender.post(
            webhook_url,
            body,
            secret=(secret or self.webhook_secret) if sign else None,
            webhook_id=webhook_id or self.ids.webhook_delivery(),
            timestamp=int(time.time()) if timestamp is None else timestamp,
            variant="raw",
        )
        return delivery.status

    # ------------------------------------------------------------------ REST

    def _auth_error(self, request: HttpRequest) -> HttpResponse | None:
        auth = request.header("authorization")
        if not auth:
            return json_response(
                401,
                _error_body(
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                    "YOUR_KEY).",
                    "invalid_request_error",
                ),
            )
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.api_key:
            return json_response(
                401,
                _error_body(
                    f"Incorrect API key provided: {_redact(token.strip())}. You can find "
                    "your API key at https://platform.openai.com/account/api-keys.",
                    "invalid_request_error",
                    code="invalid_api_key",
                ),
            )
        return None

    async def _on_http(self, request: HttpRequest) -> HttpResponse:
        segments = request.path_segments()
        action = call_id = None
        if len(segments) == 5 and segments[:3] == ["v1", "realtime", "calls"]:
            call_id, action = segments[3], segments[4]
        try:
            body = request.json()
        except ValueError:
            body = None
        record = RestRequest(
            method=request.method,
            path=request.path,
            action=action if action in ACTIONS else None,
            call_id=call_id,
            body=body,
            raw_body=request.body,
            at=self.now(),
            headers={
                k.lower(): ("<redacted>" if k.lower() == "authorization" else v)
                for k, v in request.headers
            },
        )
        self.requests.append(record)
        call = self.calls.get(call_id) if call_id else None
        if call is not None:
            call.control.record_request(record)
        self._rest_in_flight += 1  # this one included, until it is answered
        try:
            response = await self._route(request, record, call)
        finally:
            self._rest_in_flight -= 1
        record.status = response.status
        response.headers.append(("x-request-id", self.ids.request()))
        if call is not None:
            call.control.request_replied(record)
        self._waiters.notify()
        return response

    async def _route(
        self, request: HttpRequest, record: RestRequest, call: SimCall | None
    ) -> HttpResponse:
        if request.method != "POST" or record.action is None:
            return json_response(
                404,
                _error_body(
                    f"Invalid URL ({request.method} {request.path})", "invalid_request_error"
                ),
            )
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        await self._rest_latency()
        action = record.action
        fault = None
        if call is not None:
            fault = call.faults.rest(action) or self.faults.rest(action)
        if fault is not None and fault.consume():
            if fault.took_effect:
                # Done now, answered late: the client times out, but the call changed.
                done = self._perform(request, record, call)
                if fault.hang_s:
                    await asyncio.sleep(fault.hang_s)
                return done if fault.status is None else self._fault_response(fault)
            if fault.hang_s:
                await asyncio.sleep(fault.hang_s)
            if fault.status is not None:
                return self._fault_response(fault)
        return self._perform(request, record, call)

    async def _rest_latency(self) -> None:
        """Wait as a loaded API does: longer the more REST requests are in flight."""
        delay = self.timing.rest_latency_s + (
            self.timing.rest_latency_per_inflight_s * self._rest_in_flight
        )
        if delay > 0:
            await asyncio.sleep(delay)

    def _perform(
        self, request: HttpRequest, record: RestRequest, call: SimCall | None
    ) -> HttpResponse:
        """The action itself, answered as the real API answers it."""
        if call is None or call.ended:
            # [inf] wording; the sideband's equivalent is reported as call_id_not_found.
            return json_response(
                404,
                _error_body(
                    f"Call with id '{record.call_id}' not found.",
                    "invalid_request_error",
                    code="call_id_not_found",
                ),
            )
        if request.body and record.body is None:
            return json_response(
                400,
                _error_body(
                    "We could not parse the JSON body of your request. (HINT: This likely "
                    "means you aren't using your HTTP library correctly. The OpenAI API "
                    "expects a JSON payload, but what was sent was not valid JSON.",
                    "invalid_request_error",
                ),
            )
        match record.action:
            case "accept":
                return self._rest_accept(call, record)
            case "reject":
                return self._rest_reject(call, record)
            case "refer":
                return self._rest_refer(call, record)
            case _:
                return self._rest_hangup(call)

    def _fault_response(self, fault: RestFault) -> HttpResponse:
        status = fault.status or 500
        if status >= 500:
            message = fault.message or "The server had an error while processing your request."
            return json_response(status, _error_body(message, "server_error"))
        message = fault.message or HTTPStatus(status).phrase
        return json_response(status, _error_body(message, "invalid_request_error"))

    def _bad_request(
        self, message: str, *, code: str | None = None, param: str | None = None
    ) -> HttpResponse:
        return json_response(400, _error_body(message, "invalid_request_error", code, param))

    def _rest_accept(self, call: SimCall, record: RestRequest) -> HttpResponse:
        body = record.body
        if call.state != "pending":
            # A second accept (e.g. a retry of one that timed out but took effect) meets
            # the accepted call. Wording as seen from the field and the load-test fake.
            return self._not_ringing(call)
        if not isinstance(body, dict):
            return self._bad_request("Missing required parameter: 'type'.", param="type")
        refused = call.control.accept(body)
        if refused is not None:
            return self._bad_request(refused.message, code=refused.code, param=refused.param)
        return HttpResponse(200)

    def _rest_reject(self, call: SimCall, record: RestRequest) -> HttpResponse:
        body = record.body if isinstance(record.body, dict) else {}
        if call.state != "pending":
            return self._not_ringing(call)  # [inf] the same answer as a second accept
        status = body.get("status_code", 603)
        if not isinstance(status, int) or isinstance(status, bool):
            return self._bad_request(
                "Invalid type for 'status_code': expected an integer.",
                code="invalid_type",
                param="status_code",
            )
        call.control.reject(status)
        return HttpResponse(200)

    def _rest_refer(self, call: SimCall, record: RestRequest) -> HttpResponse:
        body = record.body if isinstance(record.body, dict) else {}
        target = body.get("target_uri")
        if not isinstance(target, str) or not target:
            return self._bad_request(
                "Missing required parameter: 'target_uri'.",
                code="missing_required_parameter",
                param="target_uri",
            )
        if call.state != "accepted":
            # [inf] wording, after the load-test fake's; a ringing call cannot be referred.
            return self._bad_request("Call is not active (state: ringing).")
        call.control.refer(target)
        return HttpResponse(200)

    def _rest_hangup(self, call: SimCall) -> HttpResponse:
        # A call already ended never gets here: hanging it up again is a 404 ([inf], as
        # for every action on a finished call).
        call.control.hang_up()
        return HttpResponse(200)

    def _not_ringing(self, call: SimCall) -> HttpResponse:
        state = "ringing" if call.state == "pending" else call.state
        return self._bad_request(f"Call is not ringing (state: {state}).")

    # ------------------------------------------------------------------ sideband

    async def _on_upgrade(
        self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        protocol = ServerProtocol(max_size=16 * 1024 * 1024)
        protocol.receive_data(request.raw_head)
        events = protocol.events_received()
        if not events or not isinstance(events[0], WsRequest):
            writer.transport.abort()
            return
        ws_request = events[0]
        call_id = request.query.get("call_id", "")
        call = self.calls.get(call_id)
        refusal = self._refuse_sideband(request, call)
        if refusal is not None:
            status, payload = refusal
            body = _json_bytes(payload)
            response = WsResponse(
                status,
                HTTPStatus(status).phrase,
                Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))]),
                body,
            )
            protocol.send_response(response)
            for chunk in protocol.data_to_send():
                if chunk:
                    writer.write(chunk)
            await writer.drain()
            writer.close()
            return
        assert call is not None
        call.control.handshake(
            {
                k.lower(): ("<redacted>" if k.lower() == "authorization" else v)
                for k, v in request.headers
            }
        )
        protocol.send_response(protocol.accept(ws_request))
        conn = SidebandConnection(protocol, writer)
        conn.flush()
        if not call.control.connect(conn):
            # The caller hung up while it rang: the call is over.
            writer.close()  # after the 101 already written: the peer sees 1006
            return
        try:
            while not conn.dropped:
                data = await reader.read(65536)
                if not data:
                    protocol.receive_eof()
                else:
                    protocol.receive_data(data)
                for event in protocol.events_received():
                    if isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY):
                        call.control.receive(bytes(event.data).decode("utf-8", "replace"))
                conn.flush()
                if not data or protocol.close_expected() or protocol.state.name == "CLOSED":
                    break
        finally:
            call.control.disconnect(conn)
            conn.flush()

    def _refuse_sideband(
        self, request: HttpRequest, call: SimCall | None
    ) -> tuple[int, dict[str, Any]] | None:
        if request.path.rstrip("/") != "/v1/realtime":
            return 404, _error_body(f"Invalid URL (GET {request.path})", "invalid_request_error")
        auth = request.header("authorization") or ""
        if auth.partition(" ")[2].strip() != self.api_key:
            return 401, _error_body(
                "Incorrect API key provided.", "invalid_request_error", code="invalid_api_key"
            )
        if call is None or not call.control.takes_sideband():
            # Unknown, not yet accepted, or finished: 404 call_id_not_found. [obs]
            return 404, _error_body(
                "Call not found.", "invalid_request_error", code="call_id_not_found"
            )
        status = call.control.sideband_fault()
        if status is not None:
            kind = "server_error" if status >= 500 else "invalid_request_error"
            return status, _error_body(HTTPStatus(status).phrase, kind)
        return None


class _CallEnvironment:
    """One call's view of its simulator: the ``Environment`` its parts are given
    (engine/simulator/environment.py), read live from the simulator's settings."""

    def __init__(self, sim: Simulator, strict: StrictValidator) -> None:
        self._sim = sim
        self._strict = strict
        self.call: SimCall | None = None  # set once the call exists, for the responder

    @property
    def ids(self) -> IdFactory:
        return self._sim.ids

    @property
    def timing(self) -> Timing:
        return self._sim.timing

    @property
    def faults(self) -> Faults:
        return self._sim.faults

    @property
    def strict(self) -> StrictValidator:
        return self._strict

    def now(self) -> float:
        return self._sim.now()

    def respond(self, request: ResponseRequest) -> ModelTurn | None:
        responder = self._sim.responder
        if responder is None or self.call is None:
            return None
        return responder(self.call, request)


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload).encode()
