"""``DigitEntry``: the digits a caller keys in for a state's ``collect`` (a PIN, an account).

Pure bookkeeping: the machine feeds it keys and a timeout and acts on the verdict. Kept apart
from the machine so the rules of an entry (how many digits, which key finishes it, what counts
as too few) read in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..flow.model import Collect

__all__ = ["DIGITS", "DigitEntry", "Verdict"]

DIGITS = frozenset("0123456789")

Verdict = Literal["more", "complete", "too_few"]


@dataclass
class DigitEntry:
    collect: Collect
    keyed: list[str] = field(default_factory=list)

    @property
    def value(self) -> str:
        return "".join(self.keyed)

    @property
    def fewest(self) -> int:
        return self.collect.min_digits or self.collect.digits

    def takes(self, key: str) -> bool:
        """Whether this key belongs to the entry (a digit, or its finish key once started)."""
        if key in DIGITS:
            return True
        return bool(self.keyed) and key == self.collect.finish_key

    def press(self, key: str) -> Verdict:
        if key in DIGITS:
            self.keyed.append(key)
            return "complete" if len(self.keyed) >= self.collect.digits else "more"
        return self.stop()  # the finish key

    def stop(self) -> Verdict:
        """The caller finished (finish key) or stopped (timeout): enough digits, or not."""
        return "complete" if len(self.keyed) >= self.fewest else "too_few"
