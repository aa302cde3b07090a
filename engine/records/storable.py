"""What a database can keep: text without NULs or lone surrogates (PostgreSQL refuses both,
and a caller's SIP header or the model's words can hold either), JSON of anything."""

from __future__ import annotations

import json
import re
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any

__all__ = ["Serialized", "json_serializer", "plain", "storable_text"]

_SURROGATE = re.compile(r"[\ud800-\udfff]")
# A NUL as json.dumps writes it (\u0000), unless its backslash is itself escaped.
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _storable(text: str) -> str:
    # Scanning with a regular expression cost more than the rest of a record's write; the
    # checks below are done in C and find nothing almost always.
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # half of a surrogate pair
        text = _SURROGATE.sub("\ufffd", text)
    return text


def storable_text(value: object, length: int) -> str | None:
    """``value`` as text a column of ``length`` characters keeps (U+FFFD for what it
    cannot; cut at ``length``: the whole value is in the record's JSON)."""
    if value is None:
        return None
    return _storable(str(value))[:length]


class Serialized(str):
    """JSON already made by ``json_serializer`` (the writer makes it a few records at a
    time, letting calls run in between), which the database driver takes as it is."""

    __slots__ = ()


def json_serializer(value: Any) -> str:
    """JSON for the ``record`` column: anything that is not JSON is written as its ``str``;
    what PostgreSQL cannot store becomes U+FFFD."""
    if type(value) is Serialized:
        return value
    text = json.dumps(value, ensure_ascii=False, default=str)
    if "\\u0000" in text:
        text = _JSON_NUL.sub(r"\1\\ufffd", text)
    return _storable(text)


_FIELDS: dict[type, tuple[str, ...]] = {}


def plain(value: Any) -> Any:
    """What ``CallRecord.to_dict()`` gives (dataclasses as dicts, times as ISO 8601), without
    ``dataclasses.asdict``'s deep copies: the writer does this for every record on the
    engine's event loop, and asdict was 70% of a write's time (340 µs of a 2 KB record)."""
    kind = type(value)
    if kind is dict:
        return {key: plain(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [plain(item) for item in value]
    if value is None or isinstance(value, str | int | float):  # a StrEnum stays itself
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    names = _FIELDS.get(kind)
    if names is None:
        if not is_dataclass(value) or isinstance(value, type):
            return plain(dict(value)) if isinstance(value, dict) else value
        names = _FIELDS[kind] = tuple(f.name for f in fields(value))
    return {name: plain(getattr(value, name)) for name in names}
