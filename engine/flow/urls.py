"""URL templates of `http` tools: the flow's literal text fixes the address, values are data.

Two rules keep every interpolated value (the model's `args`, the caller's name and number,
SIP headers, saved service answers, `vars`, `env`) from steering a request:

* ``fixed_origin``: the scheme and host (and port) must be written out in the template
  before its first ``{{``/``{%``, and end in ``/``, ``?`` or ``#``, so nothing rendered can
  reach them;
* ``url_value``: what each ``{{ … }}`` puts into the URL is percent-encoded as one path
  segment or query value (``/``, ``?``, ``&``, ``=``, ``#``, ``@`` and ``:`` included), so it
  can add no path segment, query key or fragment. ``None`` and ``False`` render as nothing,
  ``True`` as ``true`` (``query_value``: the same for `query:` values, which httpx encodes).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

__all__ = ["fixed_origin", "query_value", "url_value"]

_TAG = re.compile(r"\{[{%#]")
_ORIGIN = re.compile(r"^\s*(?P<origin>https?://[^/?#{}\s]+)[/?#]", re.IGNORECASE)


def fixed_origin(template: str) -> str | None:
    """``scheme://host[:port]`` as the template writes it before any template tag, or None
    when a tag could reach the scheme, host or port. A template without tags is its own."""
    tag = _TAG.search(template)
    literal = template if tag is None else template[: tag.start()]
    match = _ORIGIN.match(literal if tag is not None else literal + "/")
    return match.group("origin") if match else None


def query_value(value: Any) -> Any:
    """One interpolated value of a `query:` entry, which httpx then encodes: as it is, but
    ``None`` and ``False`` are nothing and ``True`` is ``true``, as in the URL."""
    if value is None or value is False:
        return ""
    return "true" if value is True else value


def url_value(value: Any) -> str:
    """One interpolated value as it goes into a URL: data, never structure."""
    value = query_value(value)
    text = quote(str(value), safe="")
    # `.` is never percent-encoded by `quote`, but a segment of dots is one URL clients and
    # servers resolve (`/orders/../cancel` is `/cancel`): encode it so it stays a value.
    return text.replace(".", "%2E") if text and not text.strip(".") else text
