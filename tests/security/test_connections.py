"""Connections with deadlines (issue #12, item 5), against the real uvicorn server.

Thousands of connections sending a byte now and then were never closed; at the descriptor
limit real webhooks timed out and asyncio logged every failed accept() with a traceback.
Here a bounded number of slow loopback connections meet the engine as ``engine serve`` runs
it: headers and bodies have deadlines, idle connections close, connections over the cap are
refused at once, and running out of descriptors is logged once, not in a storm.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from engine.connections import ConnectionLimits
from engine.runner import running_engine
from engine.server import Engine, EngineSettings
from engine.simulator import Simulator

from helpers import wait_for

FLOW = """\
name: Line
numbers: ["+18005551212"]
instructions: You are a helpful agent.
"""
LIMITS = ConnectionLimits(max_connections=20, header_timeout_s=0.3, keep_alive_s=0.3)


async def _open(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


RESET = b"(reset)"


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection. A connection refused
    while the bytes we sent are still unread is reset by the kernel: ``RESET``."""
    try:
        return await asyncio.wait_for(reader.read(), 20)
    except ConnectionResetError:
        return RESET


def _refused(answer: bytes) -> bool:
    return answer.startswith(b"HTTP/1.1 503") or answer == RESET


def _engine(tmp_path: Path, sim: Simulator) -> Engine:
    folder = tmp_path / "flows"
    folder.mkdir(exist_ok=True)
    (folder / "line.yaml").write_text(FLOW, encoding="utf-8")
    settings = EngineSettings(flows_dir=str(folder), openai=sim.config(), body_timeout_s=0.3)
    return Engine(settings, environ={})


def test_slow_connections_are_closed_and_webhooks_still_answered(tmp_path: Path) -> None:
    async def main() -> None:
        async with Simulator() as sim:
            engine = _engine(tmp_path, sim)
            async with running_engine(engine, limits=LIMITS) as url:
                slow = [await _open(url) for _ in range(2 * LIMITS.max_connections)]
                for _, writer in slow:  # a request that never finishes its headers
                    writer.write(b"POST /webhooks/openai HTTP/1.1\r\nHo")
                    await writer.drain()
                answers = await asyncio.gather(*(_until_closed(r) for r, _ in slow))
                refused = [a for a in answers if _refused(a)]
                dropped = [a for a in answers if a == b""]
                # Over the cap: refused at once; the rest: closed at the header deadline.
                assert len(refused) >= LIMITS.max_connections, answers
                assert len(refused) + len(dropped) == len(slow)
                for _, writer in slow:
                    writer.close()
                placed = await sim.place_call(url + "/webhooks/openai")
                assert placed.status == 200
                await placed.call.wait_connected()
                await placed.call.hang_up()
                await wait_for(lambda: not engine.calls, 5, "the call to end")

    asyncio.run(asyncio.wait_for(main(), 60))


def test_a_body_that_does_not_arrive_in_time_is_answered_408(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            Simulator() as sim,
            running_engine(_engine(tmp_path, sim), limits=LIMITS) as url,
        ):
            reader, writer = await _open(url)
            writer.write(
                b"POST /webhooks/openai HTTP/1.1\r\nHost: x\r\n"
                b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":'
            )
            await writer.drain()
            answer = await _until_closed(reader)
            writer.close()
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert b"did not arrive in time" in answer

    asyncio.run(asyncio.wait_for(main(), 60))


def test_an_idle_keep_alive_connection_is_closed(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            Simulator() as sim,
            running_engine(_engine(tmp_path, sim), limits=LIMITS) as url,
        ):
            reader, writer = await _open(url)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            answer = await _until_closed(reader)  # kept alive, then closed when idle
            writer.close()
            assert answer.startswith(b"HTTP/1.1 200"), answer

    asyncio.run(asyncio.wait_for(main(), 60))


# A server run as `engine serve` runs it, in a process with few file descriptors.
CHILD = textwrap.dedent(
    """\
    import asyncio, logging, resource, socket, sys
    from engine.connections import ConnectionLimits, serve_config
    from engine.logs import RateLimitedErrors, setup_logging
    import uvicorn

    max_connections, storm = int(sys.argv[1]), sys.argv[2] == "storm"
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    setup_logging("text")
    quiet = next(f for f in logging.getLogger("asyncio").filters
                 if isinstance(f, RateLimitedErrors))

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        limits = ConnectionLimits(max_connections, header_timeout_s=2 if not storm else 60)
        server = uvicorn.Server(serve_config(app, limits, log_config=None))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        print(sock.getsockname()[1], flush=True)
        if storm:  # until a storm has happened (the filter counts what it left out)
            while quiet.total_suppressed < 100:
                await asyncio.sleep(0.01)
            print("suppressed", quiet.total_suppressed, flush=True)
        else:
            await asyncio.to_thread(sys.stdin.readline)  # the test says when it is done
        server.should_exit = server.force_exit = True
        await task

    asyncio.run(main())
    """
)


def _start_child(max_connections: int, mode: str) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(max_connections), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, int(child.stdout.readline())


def test_running_out_of_descriptors_is_logged_once_not_in_a_storm() -> None:
    # No cap worth the name: the child runs out of descriptors (64) with 100 connections.
    child, port = _start_child(10_000, "storm")

    async def connect() -> list[asyncio.StreamWriter]:
        opened = []
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except ConnectionError:
                continue  # the child, out of descriptors, reset it: what the test provokes
            opened.append(writer)
        return opened

    async def main() -> str:
        opened = await connect()
        try:
            out, err = await asyncio.to_thread(child.communicate, timeout=30)
        finally:
            for writer in opened:
                writer.close()
        return out + err

    output = asyncio.run(main())
    assert child.returncode == 0, output
    lines = [line for line in output.splitlines() if "out of system resource" in line]
    assert len(lines) == 1, output[-3000:]
    assert "Too many open files" in lines[0]
    assert "Traceback" not in output
    suppressed = int(output.split("suppressed ", 1)[1].split()[0])
    assert suppressed >= 100


def test_with_the_default_cap_the_descriptors_never_run_out() -> None:
    # The default cap (half of 64) leaves room: extra connections are refused, nothing fails.
    from engine.connections import default_max_connections

    assert default_max_connections() >= 8
    child, port = _start_child(32, "serve")

    async def main() -> tuple[int, list[bytes]]:
        opened = []
        for _ in range(100):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHo")
            opened.append((reader, writer))
        answers = await asyncio.gather(*(_until_closed(r) for r, _ in opened))
        for _, writer in opened:
            writer.close()
        async with httpx.AsyncClient() as http:
            status = (await http.get(f"http://127.0.0.1:{port}/", timeout=10)).status_code
        return status, answers

    try:
        status, answers = asyncio.run(main())
    finally:
        _, err = child.communicate("done\n", timeout=30)
    assert status == 200
    # Each ended: refused over the cap, or closed at its header deadline (freeing a place).
    assert all(_refused(a) or a == b"" for a in answers), answers
    assert any(_refused(a) for a in answers)
    assert "out of system resource" not in err, err[-3000:]
