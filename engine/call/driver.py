"""Binds one ``CallMachine`` to one live call: its sideband socket, REST call control and tools.

The driver holds no decisions. It turns what arrives (server events, finished tools, fired
timers) into machine events through one queue, so the machine sees them one at a time in the
order they happened, and carries out the actions that come back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .actions import Action, CancelTimer, Hangup, Refer, RunHttpTool, StartTimer
from .events import CallEnded, CallEvent, ReferFailed, SessionStarted, TimerFired, ToolFinished
from .machine import CallMachine
from .masking import flow_secrets, masked_action
from .platform import CallPlatform

__all__ = ["CallDriver", "ToolRunner"]

log = logging.getLogger("engine.call")


class ToolRunner(Protocol):
    async def run(self, tool_name: str, request: Any, context: Any) -> Any: ...


@dataclass
class CallDriver:
    call_id: str
    machine: CallMachine
    platform: CallPlatform
    tools: ToolRunner
    on_latency: Callable[[str, float], None] | None = None  # (action kind, seconds)

    def __post_init__(self) -> None:
        self._lock = asyncio.Lock()
        self._ended = asyncio.Event()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._log = logging.LoggerAdapter(log, {"call_id": self.call_id})
        # The flow's secrets never reach the model, whatever a template or a service put
        # in a note, a tool output, a line or the instructions.
        self._secrets = flow_secrets(self.machine.flow, self.machine.context.get("env") or {})

    def note(self, what: str) -> None:
        self._log.info(what)

    async def run(self) -> None:
        """Drive the call until it ends. Never raises for anything the call does."""
        reader = asyncio.create_task(self._read())
        try:
            await self._feed(SessionStarted(), time.perf_counter())
            await self._ended.wait()
        finally:
            reader.cancel()
            for handle in self._timers.values():
                handle.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(reader, *self._tasks, return_exceptions=True)

    async def _feed(self, event: CallEvent, received: float) -> None:
        """Hand one event to the machine and carry out its actions, one event at a time.

        Events are handled where they arrive (no queue to hop through): the lock keeps
        them in order, and an uncontended lock costs no pass of the event loop.
        """
        async with self._lock:
            if self._ended.is_set():
                return
            for action in self.machine.handle(event):
                await self._do(action, received)
            if isinstance(event, CallEnded):
                self._ended.set()

    async def _read(self) -> None:
        reason = "the call's connection closed"
        try:
            async for event in self.platform.events():
                await self._feed(event, time.perf_counter())
        except Exception as exc:  # a broken socket is the end of the call, whatever broke
            reason = f"the call's connection failed: {type(exc).__name__}"
        await self._feed(CallEnded(reason), time.perf_counter())

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
            self._spawn(self._rest("hangup", self.platform.hangup()))
        else:
            await self.platform.send(masked_action(action, self._secrets))

    def _measure(self, kind: str, received: float) -> None:
        if self.on_latency is not None:
            self.on_latency(kind, time.perf_counter() - received)

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        self._spawn(self._feed(TimerFired(name), time.perf_counter()))

    def _cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    async def _run_tool(self, action: RunHttpTool) -> None:
        try:
            result = await self.tools.run(action.tool, action.request, action.context)
            event = ToolFinished(
                action.call_id, action.tool, result.output, result.ok, result.saved
            )
            self.note(
                f"tool {action.tool}: {'ok' if result.ok else 'failed'}"
                + (f" ({result.error})" if getattr(result, "error", None) else "")
            )
        except Exception as exc:  # the runner should not raise; if it does, the model is told
            self._log.exception("tool %s raised", action.tool)
            output = (
                '{"ok": false, "error": "internal", "message": "The tool failed. Apologise '
                'and offer another way to help."}'
            )
            event = ToolFinished(action.call_id, action.tool, output, False)
            del exc
        await self._feed(event, time.perf_counter())

    async def _refer(self, target: str) -> None:
        try:
            await self.platform.refer(target)
        except Exception as exc:
            self._log.error("transfer failed: %s", exc)
            await self._feed(ReferFailed(target, str(exc)), time.perf_counter())

    async def _rest(self, what: str, request: Any) -> None:
        try:
            await request
        except Exception as exc:
            # The REST error types carry no secrets; the call id is in the log context.
            self._log.error("%s failed: %s", what, exc)
