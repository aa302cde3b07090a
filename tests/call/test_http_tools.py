"""HttpToolRunner against real local servers (uvicorn + Starlette, raw asyncio sockets) and,
for pure request-shape checks, `httpx.MockTransport`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from engine import __version__
from engine.call.tools import HttpToolRunner, ToolResult
from engine.flow.model import HttpRequest

from helpers import refused_port, run, serving, wait_for

SECRET = "s3cr3t-token-value"
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def make_context(
    args: dict[str, Any] | None = None, vars: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "caller": {"number": "+15551230000", "name": "Ada"},
        "called": {"number": "+18005551212"},
        "call": {"id": "rtc_test", "sip_headers": {}, "contact_host": None, "state": "main"},
        "vars": vars or {},
        "env": {"TOKEN": SECRET},
        "now": None,
        "saved": {},
        "args": args or {},
    }


def spec(url: str, **fields: Any) -> HttpRequest:
    return HttpRequest.model_validate({"url": url, **fields})


def output(result: ToolResult) -> dict[str, Any]:
    return json.loads(result.output)


# --- servers ---------------------------------------------------------------------------------


def service_app(seen: list[dict[str, Any]], other: list[str]) -> Starlette:
    """A small outside service; every request is recorded as the server saw it."""

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        seen.append(
            {
                "method": request.method,
                "raw_path": request.scope["raw_path"],
                "query": request.query_params.multi_items(),
                "headers": request.headers,
                "body": body,
            }
        )
        path = request.url.path
        if path.startswith("/orders/") or path == "/search":
            return JSONResponse({"id": 7, "status": "shipped"})
        if path == "/echo":
            return JSONResponse({"json": json.loads(body), "type": request.headers["content-type"]})
        if path == "/text":
            return PlainTextResponse("Opening hours: 9 to 5")
        if path == "/missing":
            return JSONResponse({"detail": "order not found"}, status_code=404)
        if path == "/boom":
            return PlainTextResponse("Traceback: db password=hunter2", status_code=500)
        if path == "/big":
            return PlainTextResponse("x" * 100_000)
        if path == "/big.json":
            return JSONResponse({"items": ["y" * 100] * 1000})
        if path.startswith("/bytes/"):  # a text answer of exactly that many bytes
            return PlainTextResponse("x" * int(path.removeprefix("/bytes/")))
        if path.startswith("/hops/"):  # that many redirects on this host, then an answer
            left = int(path.removeprefix("/hops/"))
            if left:
                return RedirectResponse(f"/hops/{left - 1}", status_code=302)
            return JSONResponse({"arrived": True})
        if path == "/old":
            return RedirectResponse("/new", status_code=302)
        if path == "/new":
            return JSONResponse({"moved": True})
        if path == "/loop":
            return RedirectResponse("/loop", status_code=302)
        if path == "/away":
            return RedirectResponse(other[0], status_code=302)
        return PlainTextResponse("no such page", status_code=404)

    return Starlette(routes=[Route("/{rest:path}", endpoint, methods=ALL_METHODS)])


Responder = Callable[[asyncio.StreamWriter, asyncio.Event], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(respond: Responder) -> AsyncIterator[str]:
    """A hand-written HTTP responder for the misbehaving servers uvicorn would not play."""
    stop = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await respond(writer, stop)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        server.close()
        await server.wait_closed()


async def never_answer(writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
    await stop.wait()


async def drip(writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
    # A byte every 0.1 s: each read finishes well within httpx's read timeout, so only the
    # overall deadline can stop it (the whole body would take 100 s).
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(1000):
        if stop.is_set():
            return
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(0.1)


async def run_against(
    url_spec: HttpRequest,
    context: dict[str, Any],
    *,
    tool: str = "lookup_order",
    **runner_options: Any,
) -> ToolResult:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await HttpToolRunner(client, **runner_options).run(tool, url_spec, context)


# --- the URL: args cannot steer it -----------------------------------------------------------


def test_arg_in_path_is_one_percent_encoded_segment_at_the_right_server() -> None:
    async def scenario() -> tuple[ToolResult, list[dict[str, Any]], str]:
        seen: list[dict[str, Any]] = []
        async with serving(service_app(seen, [])) as base:
            result = await run_against(
                spec(base + "/orders/{{ args.order_id }}/status"),
                make_context({"order_id": "../admin?x=1#@evil.example"}),
            )
        return result, seen, base

    result, seen, base = asyncio.run(scenario())
    assert result.ok, result.output
    assert [r["raw_path"] for r in seen] == [b"/orders/..%2Fadmin%3Fx%3D1%23%40evil.example/status"]
    assert seen[0]["query"] == []
    assert seen[0]["headers"]["host"] == base.removeprefix("http://")


def test_arg_of_dots_cannot_climb_a_path_segment() -> None:
    async def scenario() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        async with serving(service_app(seen, [])) as base:
            for value in ("..", "."):
                result = await run_against(
                    spec(base + "/orders/{{ args.order_id }}/cancel"),
                    make_context({"order_id": value}),
                )
                assert result.ok, result.output
        return seen

    seen = asyncio.run(scenario())
    assert [r["raw_path"] for r in seen] == [b"/orders/%2E%2E/cancel", b"/orders/%2E/cancel"]


def test_numbers_and_booleans_from_args_keep_their_type_in_the_url() -> None:
    requests: list[httpx.Request] = []
    context = make_context({"n": 42, "express": False})
    url = "https://api.example/orders/{{ args.n + 1 }}{% if args.express %}/express{% endif %}"
    result = asyncio.run(run_mocked(spec(url), context, requests))
    assert result.ok
    assert requests[0].url.raw_path == b"/orders/43"


def test_query_values_are_encoded_by_httpx_and_merged_with_the_url_query() -> None:
    async def scenario() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        async with serving(service_app(seen, [])) as base:
            result = await run_against(
                spec(
                    base + "/search?fixed=1",
                    query={"q": "{{ args.q }}", "lang": "{{ vars.lang }}"},
                ),
                make_context({"q": "a&b=c d/é#x"}, {"lang": "en"}),
            )
            assert result.ok, result.output
        return seen

    (seen,) = asyncio.run(scenario())
    assert seen["query"] == [("fixed", "1"), ("q", "a&b=c d/é#x"), ("lang", "en")]
    assert seen["raw_path"] == b"/search"


@pytest.mark.parametrize(
    ("url", "vars"),
    [
        ("file:///etc/passwd", {}),
        ("ftp://files.example/orders", {}),
        ("javascript:alert(1)", {}),
        ("{{ vars.base }}/orders", {"base": "https://api.example"}),  # a value sets the host
        ("http:///orders", {}),
        ("https://exa mple.example/x", {}),
        ("https://{{ args.sub }}.example/x", {}),  # lint's url-host forbids it; checked anyway
    ],
)
def test_a_url_that_is_not_http_with_a_host_is_refused_without_a_request(
    url: str, vars: dict[str, Any]
) -> None:
    requests: list[httpx.Request] = []
    context = make_context({"sub": "evil.example#"}, vars)
    result = asyncio.run(run_mocked(spec(url), context, requests))
    assert requests == []
    assert (result.ok, result.error, result.status, result.saved) == (False, "bad_url", None, None)
    assert output(result) == {
        "ok": False,
        "error": "bad_url",
        "message": 'The "lookup_order" tool has an address that cannot be called, so nothing '
        "was sent. Apologise and offer to transfer the caller or try again later.",
    }


def test_none_false_and_true_are_written_the_same_in_the_path_and_the_query() -> None:
    requests: list[httpx.Request] = []
    context = make_context({"a": None, "b": False, "c": True})
    url = "https://api.example/x/{{ args.a }}/{{ args.b }}/{{ args.c }}?a={{ args.a }}"
    query = {"b": "{{ args.b }}", "c": "{{ args.c }}", "literal": "100%41"}
    result = asyncio.run(run_mocked(spec(url, query=query), context, requests))
    assert result.ok
    assert requests[0].url.raw_path == b"/x///true?a=&b=&c=true&literal=100%2541"


# --- headers and body ------------------------------------------------------------------------


def test_headers_render_from_env_and_a_user_agent_is_sent() -> None:
    async def scenario() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        async with serving(service_app(seen, [])) as base:
            headers = {"Authorization": "Bearer {{ env.TOKEN }}", "X-Caller": "{{ caller.number }}"}
            await run_against(spec(f"{base}/orders/1", headers=headers), make_context())
            await run_against(
                spec(f"{base}/orders/2", headers={"user-agent": "acme/2"}), make_context()
            )
        return seen

    first, second = asyncio.run(scenario())
    assert first["headers"]["authorization"] == f"Bearer {SECRET}"
    assert first["headers"]["x-caller"] == "+15551230000"
    assert first["headers"]["user-agent"] == f"callflow-engine/{__version__}"
    assert second["headers"].getlist("user-agent") == ["acme/2"]


def test_post_sends_the_rendered_json_body_with_args_as_plain_values() -> None:
    body = {
        "order": "{{ args.order_id }}",
        "items": [{"sku": "{{ vars.sku }}", "qty": 2}, "{{ caller.name }}"],
        "gift": False,
        "note": None,
    }

    async def scenario() -> tuple[ToolResult, list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []
        async with serving(service_app(seen, [])) as base:
            result = await run_against(
                spec(f"{base}/echo", method="POST", body=body),
                make_context({"order_id": "A/1 ?"}, {"sku": "SKU-9"}),
            )
        return result, seen

    result, seen = asyncio.run(scenario())
    expected = {"order": "A/1 ?", "items": [{"sku": "SKU-9", "qty": 2}, "Ada"], "gift": False}
    expected["note"] = None
    assert result.ok and result.status == 200
    assert output(result) == {
        "ok": True,
        "status": 200,
        "data": {"json": expected, "type": "application/json"},
    }
    assert result.saved == {"json": expected, "type": "application/json"}
    assert seen[0]["method"] == "POST"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_send_no_body_even_when_one_is_declared(method: str) -> None:
    requests: list[httpx.Request] = []
    request = spec("https://api.example/orders/1", method=method, body={"x": "{{ nope }}"})
    result = asyncio.run(run_mocked(request, make_context(), requests))
    assert result.ok, result.output
    assert requests[0].method == method
    assert requests[0].content == b""
    assert "content-type" not in requests[0].headers


def test_an_arg_cannot_add_a_header_line() -> None:
    requests: list[httpx.Request] = []
    request = spec("https://api.example/orders", headers={"X-Order": "{{ args.order_id }}"})
    context = make_context({"order_id": "1\r\nX-Admin: yes"})
    result = asyncio.run(run_mocked(request, context, requests))
    assert requests == []
    assert (result.ok, result.error) == (False, "bad_header")


def test_cookies_one_call_received_are_not_sent_on_the_next() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={}, headers={"set-cookie": "session=caller-a; Path=/"})

    async def scenario() -> list[httpx.Request]:
        requests: list[httpx.Request] = []

        def record(sent: httpx.Request) -> httpx.Response:
            requests.append(sent)
            return handler(sent)

        async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as client:
            runner = HttpToolRunner(client)  # one shared client, as in the server
            for _ in range(2):
                result = await runner.run("lookup_order", spec("https://api.example/o"), {})
                assert result.ok, result.output
        return requests

    first, second = asyncio.run(scenario())
    assert "cookie" not in first.headers
    assert "cookie" not in second.headers


# --- answers ---------------------------------------------------------------------------------


def test_json_answer_is_data_and_saved() -> None:
    async def scenario() -> ToolResult:
        async with serving(service_app([], [])) as base:
            return await run_against(spec(f"{base}/orders/7", save_as="order"), make_context())

    result = asyncio.run(scenario())
    assert output(result) == {"ok": True, "status": 200, "data": {"id": 7, "status": "shipped"}}
    assert (result.ok, result.status, result.error) == (True, 200, None)
    assert result.saved == {"id": 7, "status": "shipped"}
    assert result.elapsed_ms > 0


def test_text_answer_is_text_and_saved() -> None:
    async def scenario() -> ToolResult:
        async with serving(service_app([], [])) as base:
            return await run_against(spec(f"{base}/text"), make_context())

    result = asyncio.run(scenario())
    assert output(result) == {"ok": True, "status": 200, "text": "Opening hours: 9 to 5"}
    assert result.saved == "Opening hours: 9 to 5"


def test_json_is_recognised_without_a_json_content_type() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text='{"a": [1, 2]}', headers={"content-type": "text/plain"})

    result = asyncio.run(run_mocked(spec("https://api.example/x"), make_context(), [], handler))
    assert output(result) == {"ok": True, "status": 200, "data": {"a": [1, 2]}}


def test_404_tells_the_model_the_status_and_the_service_reason() -> None:
    async def scenario() -> ToolResult:
        async with serving(service_app([], [])) as base:
            headers = {"Authorization": "Bearer {{ env.TOKEN }}"}
            return await run_against(spec(f"{base}/missing", headers=headers), make_context())

    result = asyncio.run(scenario())
    assert (result.ok, result.status, result.error, result.saved) == (
        False,
        404,
        "client_error",
        None,
    )
    assert output(result) == {
        "ok": False,
        "error": "client_error",
        "status": 404,
        "message": 'The service of the "lookup_order" tool refused the request (HTTP 404 Not '
        "Found). If its reason explains why, tell the caller in plain words; otherwise "
        "apologise and offer to transfer the caller.",
        "reason": "order not found",
    }
    assert SECRET not in result.output


def test_a_4xx_reason_is_one_short_line() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="bad " * 2000 + "\nsecond line")

    result = asyncio.run(run_mocked(spec("https://api.example/x"), make_context(), [], handler))
    reason = output(result)["reason"]
    assert reason.endswith("…") and len(reason) == 200
    assert "second line" not in result.output


def test_500_tells_the_model_the_service_failed_without_its_body() -> None:
    async def scenario() -> ToolResult:
        async with serving(service_app([], [])) as base:
            return await run_against(spec(f"{base}/boom"), make_context())

    result = asyncio.run(scenario())
    assert (result.ok, result.status, result.error) == (False, 500, "server_error")
    assert output(result) == {
        "ok": False,
        "error": "server_error",
        "status": 500,
        "message": 'The service of the "lookup_order" tool failed (HTTP 500 Internal Server '
        "Error). Apologise and offer to transfer the caller or try again later.",
    }


def test_an_answer_over_the_cap_is_truncated_and_still_ok() -> None:
    async def scenario() -> tuple[ToolResult, ToolResult]:
        async with serving(service_app([], [])) as base:
            text = await run_against(spec(f"{base}/big"), make_context(), max_response_bytes=1024)
            data = await run_against(
                spec(f"{base}/big.json"), make_context(), max_response_bytes=1024
            )
        return text, data

    text, data = asyncio.run(scenario())
    for result in (text, data):
        shape = output(result)
        assert (result.ok, result.status, result.error) == (True, 200, None)
        assert shape["truncated"] is True
        assert shape["text"].endswith("\n[cut short: the answer was longer than 1024 bytes]")
        assert len(result.saved) == 1024
        assert set(shape) == {"ok", "status", "text", "truncated"}
    assert text.saved == "x" * 1024


def test_by_default_an_answer_of_16_kib_is_read_whole_and_one_byte_more_is_cut() -> None:
    async def scenario() -> tuple[ToolResult, ToolResult]:
        async with serving(service_app([], [])) as base:
            whole = await run_against(spec(f"{base}/bytes/16384"), make_context())
            over = await run_against(spec(f"{base}/bytes/16385"), make_context())
        return whole, over

    whole, over = asyncio.run(scenario())
    assert output(whole) == {"ok": True, "status": 200, "text": "x" * 16384}
    assert output(over)["truncated"] is True
    assert over.saved == "x" * 16384


# --- redirects -------------------------------------------------------------------------------


def test_a_redirect_on_the_same_host_is_followed() -> None:
    async def scenario() -> tuple[ToolResult, list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []
        async with serving(service_app(seen, [])) as base:
            return await run_against(spec(f"{base}/old"), make_context()), seen

    result, seen = asyncio.run(scenario())
    assert output(result) == {"ok": True, "status": 200, "data": {"moved": True}}
    assert [r["raw_path"] for r in seen] == [b"/old", b"/new"]


@pytest.mark.parametrize("target", ["other_port", "other_host", "other_scheme"])
def test_a_redirect_to_another_host_is_not_followed(target: str) -> None:
    async def scenario() -> tuple[ToolResult, list[dict[str, Any]], list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []
        stolen: list[dict[str, Any]] = []
        location: list[str] = []
        async with (
            serving(service_app(seen, location)) as base,
            serving(service_app(stolen, [])) as other,
        ):
            location.append(
                {
                    "other_port": f"{other}/orders/1",
                    "other_host": other.replace("127.0.0.1", "localhost") + "/orders/1",
                    "other_scheme": base.replace("http:", "https:") + "/orders/1",
                }[target]
            )
            headers = {"Authorization": "Bearer {{ env.TOKEN }}"}
            result = await run_against(spec(f"{base}/away", headers=headers), make_context())
        return result, seen, stolen

    result, seen, stolen = asyncio.run(scenario())
    assert stolen == []
    assert len(seen) == 1
    assert (result.ok, result.status, result.error) == (False, 302, "redirect_other_host")
    assert output(result) == {
        "ok": False,
        "error": "redirect_other_host",
        "status": 302,
        "message": 'The service of the "lookup_order" tool redirected to another host, which '
        "is not allowed, so the request was stopped. Apologise and offer to transfer the "
        "caller or try again later.",
    }


def test_redirects_stop_after_the_limit() -> None:
    async def scenario() -> tuple[ToolResult, list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []
        async with serving(service_app(seen, [])) as base:
            return await run_against(spec(f"{base}/loop"), make_context(), max_redirects=2), seen

    result, seen = asyncio.run(scenario())
    assert len(seen) == 3  # the request and two redirects
    assert (result.ok, result.error, result.status) == (False, "too_many_redirects", 302)


def test_by_default_three_redirects_are_followed_and_a_fourth_is_not() -> None:
    async def scenario() -> tuple[ToolResult, ToolResult, list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []
        async with serving(service_app(seen, [])) as base:
            three = await run_against(spec(f"{base}/hops/3"), make_context())
            four = await run_against(spec(f"{base}/hops/4"), make_context())
        return three, four, seen

    three, four, seen = asyncio.run(scenario())
    assert (three.ok, three.saved) == (True, {"arrived": True})
    assert (four.ok, four.error, four.status) == (False, "too_many_redirects", 302)
    assert len(seen) == 4 + 4  # each: the request and three redirects; the fourth not followed


@pytest.mark.parametrize(
    ("status", "method", "body"),
    [
        (303, "GET", b""),
        (302, "GET", b""),
        (307, "POST", b'{"a":"1"}'),
        (308, "POST", b'{"a":"1"}'),
    ],
)
def test_redirect_method_rules(status: int, method: str, body: bytes) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/start":
            return httpx.Response(status, headers={"location": "/next"})
        return httpx.Response(200, json={"ok": 1})

    requests: list[httpx.Request] = []
    request = spec(
        "https://api.example/start",
        method="POST",
        body={"a": "1"},
        headers={"Authorization": "Bearer {{ env.TOKEN }}"},
    )
    result = asyncio.run(run_mocked(request, make_context(), requests, handler))
    assert result.ok, result.output
    follow = requests[1]
    assert (str(follow.url), follow.method, follow.content) == (
        "https://api.example/next",
        method,
        body,
    )
    assert follow.headers["authorization"] == f"Bearer {SECRET}"  # same host: kept
    assert ("content-type" in follow.headers) == bool(body)


# --- the service does not answer -------------------------------------------------------------


def test_a_server_that_never_answers_times_out() -> None:
    async def scenario() -> ToolResult:
        async with raw_server(never_answer) as base:
            return await run_against(spec(f"{base}/orders/1", timeout=0.5), make_context())

    # The server would hold the request forever: returning at all shows the deadline works.
    result = run(scenario(), timeout=20)
    assert (result.ok, result.status, result.error, result.saved) == (False, None, "timeout", None)
    assert output(result) == {
        "ok": False,
        "error": "timeout",
        "message": 'The service of the "lookup_order" tool did not answer within 0.5 seconds. '
        "Apologise and offer to transfer the caller or try again later.",
    }


def test_a_server_that_drips_bytes_is_cut_off_at_the_tool_timeout() -> None:
    async def scenario() -> ToolResult:
        async with raw_server(drip) as base:
            return await run_against(spec(f"{base}/orders/1", timeout=0.6), make_context())

    # The whole body would take 100 s to drip: ending within the test's bound shows the
    # overall deadline.
    result = run(scenario(), timeout=20)
    assert (result.ok, result.error) == (False, "timeout")
    assert "0.6 seconds" in output(result)["message"]


def test_a_closed_port_is_a_connection_failure() -> None:
    with refused_port() as port:
        result = asyncio.run(
            run_against(spec(f"http://127.0.0.1:{port}/orders/1", timeout=2.0), make_context())
        )
    assert (result.ok, result.status, result.error) == (False, None, "connection")
    assert output(result) == {
        "ok": False,
        "error": "connection",
        "message": 'The service of the "lookup_order" tool could not be reached. Apologise and '
        "offer to transfer the caller or try again later.",
    }


# --- templates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"url": "https://api.example/orders/{{ args.missing }}"},
        {"url": "https://api.example/orders", "headers": {"X-Key": "{{ env.NOPE }}"}},
        {"url": "https://api.example/orders", "query": {"q": "{{ args.q | nosuchfilter }}"}},
        {"url": "https://api.example/orders", "method": "PUT", "body": {"a": ["{{ vars.x }}"]}},
    ],
)
def test_a_template_that_fails_sends_nothing_and_tells_no_details(fields: dict[str, Any]) -> None:
    requests: list[httpx.Request] = []
    request = HttpRequest.model_validate(fields)
    result = asyncio.run(run_mocked(request, make_context(), requests))
    assert requests == []
    assert (result.ok, result.error, result.status, result.saved) == (False, "template", None, None)
    assert output(result) == {
        "ok": False,
        "error": "template",
        "message": 'The "lookup_order" tool could not be prepared, so nothing was sent. '
        "Apologise and offer to transfer the caller or try again later.",
    }


# --- helpers using MockTransport -------------------------------------------------------------


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": 1})


async def run_mocked(
    request: HttpRequest,
    context: dict[str, Any],
    requests: list[httpx.Request],
    handler: Callable[[httpx.Request], httpx.Response] = _ok,
) -> ToolResult:
    def record(sent: httpx.Request) -> httpx.Response:
        requests.append(sent)
        return handler(sent)

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as client:
        return await HttpToolRunner(client).run("lookup_order", request, context)


# --- the runner's own pool under a burst --------------------------------------------------


def test_a_cancelled_burst_of_slow_tools_leaves_the_pool_empty_and_usable() -> None:
    """Twenty runs at once against a service slower than their timeout, on a pool of three,
    half of them cancelled by their call ending: none may stay stuck in httpcore's pool
    (encode/httpcore#1093), and the next run goes through."""

    async def slow(request: Request) -> Response:
        if request.path_params["order_id"] == "slow":
            await asyncio.sleep(0.5)
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/orders/{order_id}", slow)])

    async def scenario() -> None:
        async with serving(app) as base:
            limits = httpx.Limits(max_connections=3)
            async with httpx.AsyncClient(limits=limits) as client:
                runner = HttpToolRunner(client, max_in_flight=3)
                slow_spec = spec(f"{base}/orders/slow", timeout=0.2)
                runs = [
                    asyncio.create_task(runner.run("lookup_order", slow_spec, make_context()))
                    for _ in range(20)
                ]
                # every slot busy, the rest queued for one
                await wait_for(lambda: runner.http.in_flight == 3, 5, "three runs in flight")
                for task in runs[::2]:
                    task.cancel()
                results = await asyncio.gather(*runs, return_exceptions=True)
                finished = [r for r in results if isinstance(r, ToolResult)]
                assert finished and all(r.error in ("timeout", "busy") for r in finished)
                await wait_for(lambda: runner.http.in_flight == 0, 5, "the slots to be free")
                assert runner.http.pool_requests() == 0
                stuck = [
                    c for c in runner.http.pool_connections() if not (c.is_idle() or c.is_closed())
                ]
                assert stuck == []
                fast = await runner.run("lookup_order", spec(f"{base}/orders/7"), make_context())
                assert fast.ok, fast.output

    asyncio.run(scenario())
