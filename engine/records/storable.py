"""What a database can keep: text without NULs or lone surrogates (PostgreSQL refuses both,
and a caller's SIP header or the model's words can hold either), JSON of anything."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["json_serializer", "storable_text"]

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
# A NUL as json.dumps writes it (\u0000), unless its backslash is itself escaped.
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def storable_text(value: object, length: int) -> str | None:
    """``value`` as text a column of ``length`` characters keeps (U+FFFD for what it
    cannot; cut at ``length``: the whole value is in the record's JSON)."""
    if value is None:
        return None
    return _UNSTORABLE.sub("\ufffd", str(value))[:length]


def json_serializer(value: Any) -> str:
    """JSON for the ``record`` column: anything that is not JSON is written as its ``str``;
    what PostgreSQL cannot store becomes U+FFFD."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    text = _JSON_NUL.sub(r"\1\\ufffd", text)
    return _UNSTORABLE.sub("\ufffd", text)
