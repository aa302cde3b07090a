"""How many failed sign-ins the studio takes before it stops listening for a while.

Failures are counted per key (``addr:`` the client's address, ``name:`` the user name tried):
after ``failures`` failures within ``window_s`` under one key, sign-ins under it are refused
until the oldest of them is ``window_s`` old. Successes are not counted. Everything is in
memory, per process: each key keeps at most ``failures`` times and at most ``max_keys`` keys
are kept (the least recently failed are forgotten first), so someone trying a new name or
address each time cannot grow it without bound.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

__all__ = ["MAX_KEYS", "SignInLimiter"]

MAX_KEYS = 10_000


class SignInLimiter:
    def __init__(
        self,
        failures: int = 5,
        window_s: float = 300.0,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.window_s = window_s
        self.max_keys = max_keys
        self.clock = clock
        self._failed: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failed)

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds until a sign-in under all of ``keys`` is heard again; None: now."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            times = self._failed.get(key)
            if times is not None and len(times) >= self.failures:
                wait = max(wait, times[0] + self.window_s - now)
        return math.ceil(wait) if wait > 0 else None

    def failed(self, keys: Iterable[str]) -> float:
        """One more failed sign-in under each of ``keys``. A sign-in is counted as failed
        from when it is tried (so that many tried at once are all counted) until it
        ``succeeded``; returns its time, for that."""
        now = self.clock()
        for key in keys:
            times = self._failed.pop(key, None)
            if times is None:
                times = deque(maxlen=self.failures)
            while times and times[0] + self.window_s <= now:
                times.popleft()
            times.append(now)
            self._failed[key] = times  # now the most recent
        while len(self._failed) > self.max_keys:
            self._failed.popitem(last=False)
        return now

    def succeeded(self, keys: Iterable[str], at: float) -> None:
        """The sign-in tried at ``at`` succeeded: it is not counted."""
        for key in keys:
            times = self._failed.get(key)
            if times is not None and at in times:
                times.remove(at)
