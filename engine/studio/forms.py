"""Form fields from a request body, without a multipart parser.

The studio's forms and htmx both send ``application/x-www-form-urlencoded``; a body over
``MAX_FORM_BYTES`` (a flow file is at most 1 MiB; its text, URL-encoded, up to three times
that) or of another type is refused. The fields are read once and kept on the request, so the
guard that checks the CSRF token and the page that reads the text see the same form.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request

__all__ = ["MAX_FORM_BYTES", "read_form"]

MAX_FORM_BYTES = 4 * 1024 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields (the last value of a field given twice)."""
    kept: dict[str, str] | None = getattr(request.state, "form", None)
    if kept is not None:
        return kept
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", ""):
        raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "the form is too large")
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise HTTPException(400, "the form is not UTF-8") from None
    request.state.form = fields
    return fields
