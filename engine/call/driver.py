"""Binds one ``CallMachine`` to one live call: its sideband socket, REST call control and tools.

The driver holds no decisions about the flow. It turns what arrives (server events, finished
tools, fired timers) into machine events, so the machine sees them one at a time in the order
they happened, and carries out the actions that come back.

It also keeps the call steered. The sideband is the only way to steer a call, and a call left
up without one talks into nothing and is billed: so when the connection cannot be opened or
drops while the call may still be up (we did not hang up, and no REFER is out: a close then
is the transfer taking the call), it is opened once more, and if that fails too the call is
hung up. A connection that the platform refuses because the call
is gone (``CallGone``) ends the call at once.

Beside it, an optional ``CallObserver`` (the call's recorder, ``engine.records``) is shown
each event with the actions the machine answered it with, once those are carried out (so
it never delays them): the one seam records are fed through. It must be cheap and must not
raise; if it does raise, it is dropped and the call goes on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from . import wording
from .actions import Action, CancelTimer, Hangup, Refer, RunHttpTool, StartTimer
from .events import (
    CallEnded,
    CallEvent,
    ReferFailed,
    SessionResumed,
    SessionStarted,
    TimerFired,
    ToolFinished,
)
from .machine import CallMachine
from .masking import flow_secrets, masked_action
from .platform import CallGone, CallPlatform, Platform
from .timers import TimerKey
from .tool_runner import ToolRunner

__all__ = ["RECONNECT_PAUSE_S", "CallDriver", "CallObserver"]

log = logging.getLogger("engine.call")

# A dropped or refused connection is tried once more after this pause (jittered by up to
# half again, so calls that dropped together do not come back together).
RECONNECT_PAUSE_S = 0.25


class CallObserver(Protocol):
    def saw(self, event: CallEvent, actions: list[Action]) -> None:
        """``event`` was handed to the machine, which answered with ``actions`` (about to be
        carried out). Called in the order events happen, on the event loop: no I/O."""


@dataclass
class CallDriver:
    call_id: str
    machine: CallMachine
    platform: Platform
    tools: ToolRunner
    on_latency: Callable[[str, float], None] | None = None  # (action kind, seconds)
    reconnects: int = 1  # how many times a lost connection is opened again
    observer: CallObserver | None = None

    def __post_init__(self) -> None:
        self._lock = asyncio.Lock()
        self._ended = asyncio.Event()
        self._timers: dict[TimerKey, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._link: CallPlatform | None = None  # the open connection, when there is one
        self._hung_up = False  # we asked the platform to end the call
        self._hangup_how = "hung_up"  # who asked: the flow, or (below) the engine
        self.how_it_ended: str | None = None
        self._log = logging.LoggerAdapter(log, {"call_id": self.call_id})
        # The flow's secrets never reach the model, whatever a template or a service put
        # in a note, a tool output, a line or the instructions.
        self._secrets = flow_secrets(self.machine.flow, self.machine.context.get("env"))

    @property
    def pending_timers(self) -> list[TimerKey]:
        """The timers set and neither fired nor cancelled yet, by name: a timer no longer
        here will never fire (what tests read to show a line will not come)."""
        return list(self._timers)

    def note(self, what: str) -> None:
        self._log.info(what)

    async def run(self) -> None:
        """Drive the call until it ends. Never raises for anything the call does."""
        try:
            await self._steer()
        finally:
            for handle in self._timers.values():
                handle.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def hang_up(self, reason: str) -> None:
        """End the call from outside the flow (the engine is shutting down), and wait
        until the platform has taken the hangup or the call is gone."""
        self._log.warning("hanging up: %s", reason)
        self._hung_up = True
        self._hangup_how = "engine_shutdown"
        await self._rest_hangup()

    async def _steer(self) -> None:
        opened_once = False
        tries = 1 + self.reconnects
        reason = "the call's connection closed"
        while tries > 0:
            tries -= 1
            try:
                async with self.platform.connect(self.call_id) as link:
                    self._link = link
                    first, opened_once = not opened_once, True
                    event = SessionStarted() if first else SessionResumed()
                    if not first:
                        self.note("connection to the call open again")
                    await self._feed(event, time.perf_counter())
                    reason = await self._read(link)
            except CallGone:
                await self._end(
                    "the call is gone"
                    if opened_once
                    else "the caller hung up before the call could be steered",
                    self._gone_how(),
                )
                return
            except Exception as exc:  # any failure to open is the same to the call
                reason = f"the call's connection could not be opened: {type(exc).__name__}"
                self._log.warning("%s", reason)
            finally:
                self._link = None
            if self._ended.is_set():
                return
            if self._hung_up:
                # The hangup we asked for took: the socket closed.
                await self._end(reason, self._hangup_how)
                return
            if self.machine.referred and opened_once:
                # The call left OpenAI for the transfer target: nothing left to steer.
                await self._end("transferred", "transferred")
                return
            if tries > 0:
                self._log.warning("%s; opening it again", reason)
                await asyncio.sleep(RECONNECT_PAUSE_S * (1 + random.random() / 2))
        # Nobody can steer the call: end it rather than leave it up, talking into nothing.
        self._log.error("%s; hanging up: a call nobody steers must not stay up", reason)
        self._hung_up = True
        await self._rest_hangup()
        await self._end(f"{reason}; hung up", "dead_session")

    def _gone_how(self) -> str:
        """How a call that is gone ended, from what we had done."""
        if self._hung_up:
            return self._hangup_how
        return "transferred" if self.machine.referred else "caller_hung_up"

    async def _end(self, reason: str, how: str) -> None:
        self.how_it_ended = reason
        await self._feed(CallEnded(reason, how), time.perf_counter())
        self._ended.set()

    async def _feed(self, event: CallEvent, received: float) -> None:
        """Hand one event to the machine and carry out its actions, one event at a time.

        Events are handled where they arrive (no queue to hop through): the lock keeps
        them in order, and an uncontended lock costs no pass of the event loop.
        """
        async with self._lock:
            if self._ended.is_set():
                return
            actions = self.machine.handle(event)
            try:
                for action in actions:
                    await self._do(action, received)
            finally:  # after the actions are out, never ahead of them; even if one failed
                if self.observer is not None:
                    self._observe(event, actions)
            if isinstance(event, CallEnded):
                self._ended.set()

    async def _read(self, link: CallPlatform) -> str:
        """Feed the connection's events until it ends; returns how it ended."""
        try:
            async for event in link.events():
                await self._feed(event, time.perf_counter())
        except Exception as exc:  # a broken socket ends this connection, whatever broke
            return f"the call's connection failed: {type(exc).__name__}"
        return "the call's connection closed"

    def _observe(self, event: CallEvent, actions: list[Action]) -> None:
        try:
            self.observer.saw(event, actions)  # type: ignore[union-attr]
        except Exception:  # a record is never worth a call: drop the observer, go on
            self._log.exception("the call's recorder failed; this call goes unrecorded")
            self.observer = None

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _do(self, action: Action, received: float) -> None:
        if isinstance(action, StartTimer):
            self._cancel_timer(action.name)
            loop = asyncio.get_running_loop()
            self._timers[action.name] = loop.call_later(action.seconds, self._fire, action.name)
        elif isinstance(action, CancelTimer):
            self._cancel_timer(action.name)
        elif isinstance(action, RunHttpTool):
            self.note(f"tool {action.tool}: calling its HTTP service")
            self._spawn(self._run_tool(action))
        elif isinstance(action, Refer):
            self._measure("refer", received)
            self.note(f"transfer: REFER to {action.target}")
            self._spawn(self._refer(action.target))
        elif isinstance(action, Hangup):
            self._measure("hangup", received)
            self.note(f"hangup: {action.reason}")
            self._hung_up = True
            self._spawn(self._rest_hangup())
        elif self._link is not None:
            await self._link.send(masked_action(action, self._secrets))
        else:
            # Between connections: the machine's wait for a response covers what is lost.
            self._log.debug("no connection; %s not sent", type(action).__name__)

    def _measure(self, kind: str, received: float) -> None:
        if self.on_latency is not None:
            self.on_latency(kind, time.perf_counter() - received)

    def _fire(self, name: TimerKey) -> None:
        self._timers.pop(name, None)
        self._spawn(self._feed(TimerFired(name), time.perf_counter()))

    def _cancel_timer(self, name: TimerKey) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    async def _run_tool(self, action: RunHttpTool) -> None:
        try:
            result = await self.tools.run(action.tool, action.request, action.context)
            event = ToolFinished(
                action.call_id,
                action.tool,
                result.output,
                result.ok,
                result.saved,
                status=getattr(result, "status", None),
                elapsed_ms=getattr(result, "elapsed_ms", None),
                error=getattr(result, "error", None),
            )
            self.note(
                f"tool {action.tool}: {'ok' if result.ok else 'failed'}"
                + (f" ({result.error})" if result.error else "")
            )
        except Exception:  # the runner should not raise; if it does, the model is told
            self._log.exception("tool %s raised", action.tool)
            output = wording.failure_output(wording.TOOL_RAISED)
            event = ToolFinished(action.call_id, action.tool, output, False, error="internal")
        await self._feed(event, time.perf_counter())

    async def _refer(self, target: str) -> None:
        try:
            await self.platform.refer(self.call_id, target)
        except TimeoutError as exc:
            self._log.warning("transfer: no answer to the REFER (%s); it may be ringing", exc)
            event = ReferFailed(target, str(exc), certain=False)
            await self._feed(event, time.perf_counter())
        except Exception as exc:
            self._log.error("transfer failed: %s", exc)
            await self._feed(ReferFailed(target, str(exc)), time.perf_counter())

    async def _rest_hangup(self) -> None:
        try:
            await self.platform.hangup(self.call_id)
        except Exception as exc:
            # The REST error types carry no secrets; the call id is in the log context.
            self._log.error("hangup failed: %s", exc)
