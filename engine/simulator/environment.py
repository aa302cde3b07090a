"""What the parts of a simulated call take from outside the call: the seam between a call
and its simulator.

A call's parts (engine/simulator/{sideband,response,client_events,control,caller}.py)
see the call's own ``CallState`` and this, nothing else. The ``Simulator`` provides it
(engine/simulator/server.py); everything here is shared by all of its calls and read
each time it is needed, so a change to ``sim.timing`` or ``sim.faults`` applies to calls
in progress, as it always has.
"""

from __future__ import annotations

from typing import Protocol

from engine.simulator.faults import Faults
from engine.simulator.ids import IdFactory
from engine.simulator.model import ModelTurn, ResponseRequest
from engine.simulator.strict import StrictValidator
from engine.simulator.timing import Timing

__all__ = ["Environment"]


class Environment(Protocol):
    """Ids, the clock, timing, the simulator-wide faults, the responder and strictness."""

    @property
    def ids(self) -> IdFactory:
        """Ids in the real API's shapes, from the simulator's seeded generator."""
        ...

    @property
    def timing(self) -> Timing: ...

    @property
    def faults(self) -> Faults:
        """The simulator-wide faults; a call's own setting wins (``Faults.applying``)."""
        ...

    @property
    def strict(self) -> StrictValidator:
        """Checks of client events and accept bodies against the ``openai`` SDK."""
        ...

    def now(self) -> float:
        """The clock every record is stamped with (the event loop's monotonic time)."""
        ...

    def respond(self, request: ResponseRequest) -> ModelTurn | None:
        """The simulator-wide responder's turn for this call's response, or None (no
        responder, or it has nothing to say)."""
        ...
