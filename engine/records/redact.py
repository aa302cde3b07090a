"""What a record must not show, and the masking of it.

Three kinds of value stay out of every record, whatever part of it would show them:

* the flow's secrets (``engine.call.masking``: the `env` values its requests read and
  credential headers), as ``[secret]``, as everywhere else;
* what the flow marks private (`records.sensitive`): a tool argument or a field of a
  service's answer with one of those names, as ``[masked]``;
* and the values of those wherever else they turn up (the agent reading a card number
  back, a service echoing it, a transfer target built from it), with the digits a caller
  keyed into a `collect`, as ``[masked]`` too.

A value shorter than ``MIN_MASKED_CHARS`` is masked only where it is known to be (its named
field, the key presses); masking "12" in every text would garble the record, not protect it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..call.masking import Secrets

__all__ = ["MASKED", "MIN_MASKED_CHARS", "Redactor", "parse_json"]

MASKED = "[masked]"
MIN_MASKED_CHARS = 4


class Redactor:
    """Masks the flow's secrets, the fields it names private and their values."""

    def __init__(self, secrets: Secrets, names: Iterable[str]) -> None:
        self._secrets = secrets
        self._names = frozenset(n.lower() for n in names)
        self._values: set[str] = set()
        self._ordered: list[str] = []

    def private(self, key: str) -> bool:
        return key.lower() in self._names

    def add_values(self, values: Iterable[Any]) -> None:
        """Values to mask wherever they appear (digits keyed in, a private field's value)."""
        for value in values:
            text = _scalar_text(value)
            if text is not None and len(text) >= MIN_MASKED_CHARS:
                self._values.add(text)
        # Longest first: a card number is masked whole before a part of it.
        self._ordered = sorted(self._values, key=len, reverse=True)

    def learn(self, data: Any) -> None:
        """Take the values of private fields in ``data`` (JSON-like) as values to mask."""
        self.add_values(_private_values(data, self._names))

    def text(self, text: str) -> str:
        text = self._secrets.mask(text)
        for value in self._ordered:
            if value in text:
                text = text.replace(value, MASKED)
        return text

    def data(self, value: Any) -> Any:
        """JSON-like data with private fields and every value to mask masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                self.text(str(k)): MASKED if self.private(str(k)) else self.data(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        if _scalar_text(value) in self._values:
            return MASKED  # a number the caller keyed in, echoed back as a number
        return value


def parse_json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        return str(value).strip()
    return None


def _private_values(data: Any, names: frozenset[str]) -> Iterable[Any]:
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        item, private = stack.pop()
        if isinstance(item, Mapping):
            stack.extend((v, private or str(k).lower() in names) for k, v in item.items())
        elif isinstance(item, list | tuple):
            stack.extend((v, private) for v in item)
        elif private:
            yield item
