"""Whether OpenAI's call control answers: the state behind ``/readyz``.

Fed by every call-control request (a reply, or none) and by an occasional cheap probe when
no request has been made for a while, so ``/readyz`` reads a cached value and never waits
for the network. An engine that cannot reach call control cannot answer calls; failing its
readiness lets a load balancer send them to a replica that can.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Reachability"]


class Reachability:
    """Unreachable after ``failures`` outcomes in a row without a usable reply (no reply,
    a 5xx, or 401/403: a key that cannot act); reachable again at the first good one.
    Unknown (no outcome yet) counts as reachable: start-up does not wait for the network.
    """

    def __init__(self, failures: int = 3, clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1:
            raise ValueError("failures must be at least 1")
        self._failures = failures
        self._clock = clock
        self.failed_in_a_row = 0
        self.last_outcome_at: float | None = None
        self.last_problem: str | None = None

    @property
    def reachable(self) -> bool:
        return self.failed_in_a_row < self._failures

    def replied(self, status: int) -> None:
        if status >= 500 or status in (401, 403):
            self.no_reply(f"HTTP {status}")
            return
        self.failed_in_a_row = 0
        self.last_problem = None
        self.last_outcome_at = self._clock()

    def no_reply(self, problem: str) -> None:
        self.failed_in_a_row += 1
        self.last_problem = problem
        self.last_outcome_at = self._clock()

    def stale(self, after_s: float) -> bool:
        """True when nothing was learned in the last ``after_s`` seconds."""
        return self.last_outcome_at is None or self._clock() - self.last_outcome_at >= after_s
