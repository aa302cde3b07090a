"""Tool runners: the `http` step of a flow tool, whose answer goes back to the model.

The model chooses a tool's `args`, a caller can talk the model into choosing anything, and
the caller's name, SIP headers and what a service answered earlier are theirs to write too,
so the runner treats every interpolated value as data, never structure:

* The scheme, host and port are the flow's literal text (``engine.flow.urls.fixed_origin``):
  a URL whose template could reach them is refused before sending. Every ``{{ … }}`` in the
  URL, whatever it reads (`args`, `caller`, `call.sip_headers`, `saved`, `vars`, `env`), is
  percent-encoded (`/`, `?`, `&`, `=`, `#`, `@`, `:` included), so it fills one path segment
  or query value and adds no segment, query key or fragment. `None` and `False` render as
  nothing, `True` as `true`. Query values, headers and the JSON body are encoded by httpx; a
  rendered header value must be one line of ASCII text, or nothing is sent.
* Redirects are followed (at most ``max_redirects``) only while scheme, host and port stay the
  same, so a header such as `Authorization` never reaches another host.
* Every run is bounded by the tool's timeout (httpx's per-phase timeouts and an overall
  deadline against a server that drips bytes), and at most ``max_response_bytes`` are read.
* What goes back to the model is cut to what helps: a refusal (4xx) gives its status and a
  short reason, never the body (a service may echo the request's headers); and the flow's own
  secrets (the values of the `env` variables the request reads, and of credential headers)
  are masked in everything the model or a later template sees.
* Runs queue for one of ``max_in_flight`` slots of the runner's own client (see
  ``engine.bounded_http``): a slow service fills the tools' pool, never call control's, and
  a run whose deadline passed is not cancelled inside httpx (that can wedge the pool): the
  model hears "timeout" at the deadline while the request ends on httpx's timeouts.

Whatever happens, `run` returns a `ToolResult` whose `output` is JSON telling the model what
happened in words it can act on (apologise, offer a transfer; the words are in
``engine.call.wording``); it never raises for a failure of the outside service. No output or
error code contains header values: they may hold secrets.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx

from engine import __version__
from engine.bounded_http import BoundedHttp, NoSlot, Shards
from engine.flow.model import HttpRequest
from engine.flow.templates import TemplateError, has_template, render
from engine.flow.urls import fixed_origin

from . import wording
from .masking import Secrets, credential_values, env_names, env_values, request_texts
from .tool_runner import ToolResult
from .wording import Told

__all__ = ["USER_AGENT", "HttpToolRunner", "ToolResult"]

USER_AGENT = f"callflow-engine/{__version__}"
# How much of a 4xx answer the model sees: its short reason ("order not found"), not the
# body, which may echo the request (and its Authorization header) or hold a stack trace.
REASON_CHARS = 200
# The keys a JSON error body gives its reason under (RFC 9457's `title`/`detail` included).
_REASON_KEYS = ("message", "detail", "error_description", "error", "reason", "title")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[A-Za-z0-9._:-]+")


class _Failure(Exception):
    """Ends a run: what the model is told (its code is also the log's), and any extra output
    fields."""

    def __init__(self, told: Told, *, status: int | None = None, **extra: Any) -> None:
        super().__init__(told.error)
        self.told = told
        self.status = status
        self.extra = extra


class HttpToolRunner:
    """Runs the `http` step of tools over a connection-pooled `httpx.AsyncClient` (or several,
    ``Shards``), the tools' own (not call control's), with at most ``max_in_flight`` requests
    at once (no more than the clients' ``max_connections`` together)."""

    def __init__(
        self,
        client: httpx.AsyncClient | Shards,
        *,
        max_response_bytes: int = 16_384,
        max_redirects: int = 3,
        max_in_flight: int = 100,
    ) -> None:
        self._http = BoundedHttp(client, max_in_flight)
        self._max_response_bytes = max_response_bytes
        self._max_redirects = max_redirects

    @property
    def http(self) -> BoundedHttp:
        """The bounded client (slots in use, the pool's connections)."""
        return self._http

    async def run(
        self, tool_name: str, request: HttpRequest, context: Mapping[str, Any]
    ) -> ToolResult:
        """Render ``request`` with the call's template ``context``, send it, tell the model."""
        started = time.perf_counter()
        env = context.get("env")
        names = env_names(request_texts(request))
        secrets = Secrets(env_values(env, names))
        try:
            result = await self._run(tool_name, request, context, secrets, started)
        except _Failure as failure:
            result = _failed(failure, started)
        if not secrets:
            return result
        output = _dumps(secrets.mask(json.loads(result.output)))
        return replace(result, output=output, saved=secrets.mask(result.saved))

    async def _run(
        self,
        tool_name: str,
        request: HttpRequest,
        context: Mapping[str, Any],
        secrets: Secrets,
        started: float,
    ) -> ToolResult:
        service = wording.service_of(tool_name)
        try:
            prepared = self._prepare(tool_name, request, context)
            secrets.add(credential_values(prepared.headers.items()))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + request.timeout

            async def exchange(client: httpx.AsyncClient) -> tuple[int, dict[str, Any], Any]:
                return await self._exchange(client, service, prepared, request, deadline)

            status, payload, saved = await self._http.run(
                exchange,
                wait_s=request.timeout,
                deadline_at=deadline,  # the wait for a slot counts against the timeout
            )
        except NoSlot:
            raise _Failure(wording.busy(service)) from None
        except (TimeoutError, httpx.TimeoutException):
            raise _Failure(wording.timeout(service, request.timeout)) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            raise _bad_url(tool_name) from None
        except httpx.ConnectError:
            raise _Failure(wording.unreachable(service)) from None
        except httpx.HTTPError:  # the connection broke, the answer was not valid HTTP, …
            raise _Failure(wording.connection_broke(service)) from None
        return ToolResult(
            output=_dumps(payload),
            ok=True,
            status=status,
            saved=saved,
            error=None,
            elapsed_ms=_elapsed(started),
        )

    def _prepare(
        self, tool_name: str, spec: HttpRequest, context: Mapping[str, Any]
    ) -> httpx.Request:
        not_prepared = _Failure(wording.not_prepared(tool_name))
        if has_template(spec.url) and fixed_origin(spec.url) is None:
            raise _bad_url(tool_name)  # a value could decide the host: lint's `url-host`
        try:
            url_text = render(spec.url, context, into="url").strip()
            headers = {name: render(value, context) for name, value in spec.headers.items()}
            # httpx encodes them; None and False are empty, as in the URL.
            query = {
                name: render(value, context, into="query") for name, value in spec.query.items()
            }
            body = None
            if spec.method in _BODY_METHODS and spec.body is not None:
                body = _render_body(spec.body, context)
        except TemplateError:
            # The template's own error may quote values (env!) — it is for the linter, not here.
            raise not_prepared from None
        url = _checked_url(url_text, tool_name)
        if any(_unsafe_header(name, value) for name, value in headers.items()):
            raise _Failure(wording.not_prepared(tool_name, "bad_header"))
        if query:
            # Merged by hand: httpx's `params=` would replace a query written in the URL.
            url = url.copy_merge_params(query)
        if not any(name.lower() == "user-agent" for name in headers):
            headers["User-Agent"] = USER_AGENT
        try:
            return _request(spec.method, url, headers=headers, json=body, timeout=spec.timeout)
        except (TypeError, ValueError):  # a body value JSON cannot hold
            raise not_prepared from None

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        service: str,
        request: httpx.Request,
        spec: HttpRequest,
        deadline: float,
    ) -> tuple[int, dict[str, Any], Any]:
        origin = _origin(request.url)
        redirects = 0
        while True:
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECT_STATUSES and location:
                    request = self._redirect(service, request, response, location, origin, spec)
                    if redirects == self._max_redirects:
                        raise _Failure(
                            wording.too_many_redirects(service), status=response.status_code
                        )
                    redirects += 1
                    continue
                content, truncated = await _read_capped(
                    response, self._max_response_bytes, deadline
                )
            finally:
                await response.aclose()
            return _read_response(service, response, content, truncated, self._max_response_bytes)

    def _redirect(
        self,
        service: str,
        request: httpx.Request,
        response: httpx.Response,
        location: str,
        origin: tuple[str, str, int | None],
        spec: HttpRequest,
    ) -> httpx.Request:
        status = response.status_code
        try:
            url = request.url.join(location)
        except httpx.InvalidURL:
            raise _Failure(wording.bad_redirect(service), status=status) from None
        if _origin(url) != origin:
            raise _Failure(wording.redirect_other_host(service), status=status)
        # As browsers and httpx do: 303 always becomes GET, and 301/302 turn a POST into GET.
        method = request.method
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method = "GET"
        headers = httpx.Headers(request.headers)
        headers.pop("host", None)
        content: bytes | None = None
        if method == request.method and method in _BODY_METHODS:
            content = request.content
        else:
            for name in ("content-length", "content-type", "transfer-encoding"):
                headers.pop(name, None)
        return _request(method, url, headers=headers, content=content, timeout=spec.timeout)


def _request(method: str, url: httpx.URL, *, timeout: float, **kwargs: Any) -> httpx.Request:
    # Built here rather than with `client.build_request`, which would add the shared client's
    # cookie jar: a cookie one caller's call received must not ride along on another's.
    return httpx.Request(
        method, url, extensions={"timeout": httpx.Timeout(timeout).as_dict()}, **kwargs
    )


def _render_body(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, Mapping):
        return {key: _render_body(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_render_body(item, context) for item in value]
    return value


def _checked_url(text: str, tool_name: str) -> httpx.URL:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        raise _bad_url(tool_name) from None
    # The host as sent (IDNA-encoded): letters, digits, dots, dashes; `:` for IPv6. A `%` here
    # is an `args` value that reached the host, which the flow linter's `url-host` forbids.
    if url.scheme not in ("http", "https") or not _HOST.fullmatch(url.raw_host.decode("ascii")):
        raise _bad_url(tool_name)
    return url


def _bad_url(tool_name: str) -> _Failure:
    return _Failure(wording.bad_url(tool_name))


def _unsafe_header(name: str, value: str) -> bool:
    # A rendered value must not start a new header line; HTTP/1.1 header values are ASCII
    # (httpx would raise on anything else), and a name must be an HTTP token.
    if not _HEADER_NAME.fullmatch(name) or not value.isascii():
        return True
    return any((c < " " and c != "\t") or c == "\x7f" for c in value)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


async def _read_capped(response: httpx.Response, cap: int, deadline: float) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the (decoded) body, and whether there was more. Stops at
    ``deadline`` (loop time) between chunks: a server that drips bytes, each within the read
    timeout, frees its slot soon after the run's deadline without being cancelled."""
    buffer = bytearray()
    loop = asyncio.get_running_loop()
    async for chunk in response.aiter_bytes():
        if loop.time() > deadline:
            raise httpx.ReadTimeout("the tool's deadline passed while reading")
        room = cap - len(buffer)
        if len(chunk) > room:
            buffer += chunk[:room]
            return bytes(buffer), True
        buffer += chunk
    return bytes(buffer), False


def _read_response(
    service: str, response: httpx.Response, content: bytes, truncated: bool, cap: int
) -> tuple[int, dict[str, Any], Any]:
    """A service's HTTP response as (status, the tool's output, the value to save); a refusal
    or a failure raises ``_Failure``."""
    status = response.status_code
    text = _decode(content, response.charset_encoding, final=not truncated)
    content_type = response.headers.get("content-type", "").lower()
    is_json, data = _parse_json(text, content_type) if not truncated else (False, None)
    if 200 <= status < 300:
        if is_json:
            return status, {"ok": True, "status": status, "data": data}, data
        payload: dict[str, Any] = {"ok": True, "status": status, "text": text}
        if truncated:
            payload["text"] = f"{text}\n{wording.cut_short(cap)}"
            payload["truncated"] = True
        return status, payload, text
    phrase = f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".rstrip()
    if 400 <= status < 500:
        reason = _reason(data if is_json else text, content_type)
        raise _Failure(
            wording.refused(service, phrase),
            status=status,
            **({"reason": reason} if reason else {}),
        )
    if status >= 500:
        raise _Failure(wording.server_error(service, phrase), status=status)
    raise _Failure(wording.unexpected_status(service, phrase), status=status)


def _reason(body: Any, content_type: str) -> str | None:
    """A refusal's short reason: a JSON body's `message`/`detail`/`error`…, or the first line
    of a plain-text body; never the whole body, which may echo the request's headers."""
    text = None
    if isinstance(body, Mapping):
        text = next((body[k] for k in _REASON_KEYS if isinstance(body.get(k), str)), None)
        if text is None and isinstance(body.get("error"), Mapping):
            inner = body["error"]
            text = next((inner[k] for k in _REASON_KEYS if isinstance(inner.get(k), str)), None)
    elif isinstance(body, str) and content_type.startswith("text/plain"):
        text = next((line for line in body.splitlines() if line.strip()), None)
    if not text:
        return None
    # One line of printable text: no control characters, no layout.
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1].rstrip() + "…"


def _decode(content: bytes, charset: str | None, *, final: bool) -> str:
    encoding = "utf-8"
    if charset:
        with contextlib.suppress(LookupError):
            info = codecs.lookup(charset)
            # `charset=base64` names a codec, but not one that makes text.
            if getattr(info, "_is_text_encoding", True):
                encoding = info.name
    # Not final when cut short: a character split at the cap is dropped, not garbled.
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(content, final)


def _parse_json(text: str, content_type: str) -> tuple[bool, Any]:
    """JSON when the content type says so, or when the text is a JSON object or array."""
    stripped = text.strip()
    if "json" not in content_type and not stripped.startswith(("{", "[")):
        return False, None
    try:
        return True, json.loads(stripped, parse_constant=_reject_constant)
    except ValueError:
        return False, None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN/Infinity would make our output invalid JSON


def _failed(failure: _Failure, started: float) -> ToolResult:
    return ToolResult(
        output=wording.failure_output(failure.told, status=failure.status, **failure.extra),
        ok=False,
        status=failure.status,
        saved=None,
        error=failure.told.error,
        elapsed_ms=_elapsed(started),
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
