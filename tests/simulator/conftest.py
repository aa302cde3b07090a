"""Shared by the simulator tests: a simulated call, accepted, with its sideband open."""

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from engine.openai import CallControl, open_sideband
from engine.simulator import Simulator


@contextlib.asynccontextmanager
async def live_call(session=None, **sim_kwargs):
    """An accepted call with an open sideband; yields (sim, call, sideband, received)."""
    async with Simulator(**sim_kwargs) as sim:
        call = sim.new_call()
        async with httpx.AsyncClient() as http:
            await CallControl(http, sim.config()).accept(
                call.call_id, session or {"type": "realtime"}
            )
        async with open_sideband(sim.config(), call.call_id) as sideband:
            received = []

            async def pump():
                async for event in sideband:
                    received.append(event)

            task = asyncio.create_task(pump())
            await call.wait_for_server_event("session.created")
            try:
                yield sim, call, sideband, received
            finally:
                task.cancel()


@pytest.fixture
def live() -> Callable[..., Any]:
    """``async with live(session, **simulator_settings) as (sim, call, sideband, received)``."""
    return live_call
