"""Everything one simulated call knows, declared in one place.

``CallState`` is the call's state; the parts of the call (sideband, responses, client
events, call control, caller) each receive it with the simulator's ``Environment`` and
act on it. ``SimCall`` (engine/simulator/call.py) shows tests the public fields. The
few operations every part needs on the state itself (notify waiters, warn, spawn a
task, append a conversation item) are its methods.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from engine.simulator.connection import SidebandConnection
from engine.simulator.faults import Faults
from engine.simulator.model import ModelTurn, ScriptedModel
from engine.simulator.records import Recorded, RestRequest, Waiters

__all__ = ["CallState", "Phase", "SimResponse"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# pending → accepted → ended, or pending → ended (rejected, unanswered, the caller gave up).
Phase = Literal["pending", "accepted", "ended"]


@dataclass
class SimResponse:
    """One response the simulated model is generating (or whose audio is still playing)."""

    id: str
    params: dict[str, Any]
    turn: ModelTurn
    in_conversation: bool
    modalities: list[str]
    trigger: str = "response.create"
    on_created: list[Callable[[], None]] = field(default_factory=list)
    output: list[dict[str, Any]] = field(default_factory=list)
    current: dict[str, Any] | None = None  # the item being generated
    partial: str = ""  # its transcript / arguments so far
    output_index: int = 0
    audio_started: bool = False
    generated: bool = False  # response.done has been sent
    spoken_chars: int = 0
    task: asyncio.Task[None] | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)
    untagged: bool = False  # Faults.untagged_responses: the client's metadata is lost

    @property
    def audio(self) -> bool:
        return "audio" in self.modalities


@dataclass
class CallState:
    """One call as OpenAI sees it."""

    # --- identity: what the webhook announced
    call_id: str
    conversation_id: str
    sip_headers: list[dict[str, str]] = field(default_factory=list)
    media_security: str | None = None

    # --- lifecycle, as call control changed it
    phase: Phase = "pending"
    end_reason: str | None = None
    ended_at: float | None = None
    accepted_at: float | None = None
    accept_body: dict[str, Any] | None = None
    # The effective Realtime session (set on accept, changed by session.update).
    session: dict[str, Any] | None = None
    reject_status: int | None = None
    refer_targets: list[str] = field(default_factory=list)
    # Until when the target of the last 200 refer rings, and that target.
    refer_ringing: tuple[float, str] | None = None
    # The caller gives up at this timer if the call is still pending.
    ring_timer: asyncio.TimerHandle | None = None

    # --- records, for tests to assert on
    requests: list[RestRequest] = field(default_factory=list)
    client_events: list[Recorded] = field(default_factory=list)
    server_events: list[Recorded] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    # Headers of each sideband handshake (authorization redacted).
    sideband_handshakes: list[dict[str, str]] = field(default_factory=list)

    # --- what a test sets up
    faults: Faults = field(default_factory=Faults)
    model: ScriptedModel = field(default_factory=ScriptedModel)
    # Caller transcripts arrive after the response they triggered has started (the real
    # ordering is not guaranteed; this is the order that breaks naive code).
    transcript_after_response: bool = True

    # --- the conversation
    items: list[str] = field(default_factory=list)  # item ids in conversation order
    item_bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    tool_calls: dict[str, str] = field(default_factory=dict)  # call_id -> item status
    tool_outputs: set[str] = field(default_factory=set)  # call_ids answered by the client

    # --- responses and what the caller hears
    active: SimResponse | None = None  # the in-conversation response being generated
    # Responses whose audio is still in the output buffer, in order (usually zero or one).
    audio_queue: list[SimResponse] = field(default_factory=list)
    # Response ids whose audio the caller heard to the end (output_audio_buffer.stopped)
    # and whose audio was cut (output_audio_buffer.cleared: clear or barge-in), in order.
    played_out: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    nudge_pending: bool = False  # timeout_triggered sent, the nudge not created yet
    audio_produced: bool = False  # the voice can no longer change
    audio_ms: int = 0  # the input audio clock of audio_*_ms fields

    # --- plumbing
    connections: list[SidebandConnection] = field(default_factory=list)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    waiters: Waiters = field(default_factory=Waiters)

    @property
    def ended(self) -> bool:
        return self.phase == "ended"

    @property
    def connected(self) -> bool:
        return any(not c.dropped for c in self.connections)

    @property
    def idle(self) -> bool:
        """No response generating, no audio playing, no nudge about to be created."""
        return self.active is None and not self.audio_queue and not self.nudge_pending

    def changed(self) -> None:
        """Re-check every wait on this call; call after each change."""
        self.waiters.notify()

    async def wait_until(
        self, predicate: Callable[[], T | None], timeout: float | None, what: str
    ) -> T:
        return await self.waiters.wait(predicate, timeout, what, self.describe)

    def describe(self) -> str:
        recent = ", ".join(r.type for r in self.server_events[-4:]) or "none"
        got = ", ".join(r.type for r in self.client_events[-4:]) or "none"
        return (
            f"call {self.call_id} state={self.phase}, last client events: {got}; "
            f"last server events: {recent}"
        )

    def warn(self, message: str) -> None:
        log.debug("sim call %s: %s", self.call_id, message)
        self.warnings.append(message)
        self.changed()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as one of this call's tasks (cancelled when the call ends)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def append_item(self, item: dict[str, Any]) -> str | None:
        """Put an item at the end of the conversation; returns the id of the one before it
        (the ``previous_item_id`` of the events that announce it)."""
        previous = self.items[-1] if self.items else None
        self.items.append(item["id"])
        self.item_bodies[item["id"]] = item
        return previous
