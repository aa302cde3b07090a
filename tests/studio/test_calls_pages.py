"""The studio's calls pages through real HTTP, on a real engine with the simulator and
SQLite records (PostgreSQL too for the store's tool rows): the filters narrow the list, a
call's page tells its story and links to its flow version, the overview counts what was
written, a test call leaves a record with the caller's lines, and nothing a caller says can
become markup."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from records.records_kit import make_record, postgres_database
from sqlalchemy import func, inspect, select
from studio_kit import signed_in

from engine.records import CallOutcome, ToolCall, TranscriptLine
from engine.records.database import open_database
from engine.records.migrate import upgrade
from engine.records.overview import busy_tools, calls_per_day
from engine.records.schema import call_tools
from engine.records.settings import database_url
from engine.records.store import CallStore

from helpers import run

TODAY = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
YESTERDAY = TODAY - timedelta(days=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each test twice: on SQLite and on PostgreSQL (skipped, saying why, without one)."""
    if request.param == "sqlite":
        yield database_url(f"sqlite:///{tmp_path / 'records.db'}")
    else:
        with postgres_database() as url:
            yield url


def _tool(name: str, outcome: str, at: datetime, ms: float | None = 50.0) -> ToolCall:
    return ToolCall(name, at, {"q": 1}, outcome, '{"ok": true}', 200, ms)


def _records():
    """Six calls over two days, two flows, every outcome, a few tools."""
    return [
        make_record("rtc_a1", at=TODAY, flow="acme-support", outcome=CallOutcome.TRANSFERRED),
        make_record(
            "rtc_a2",
            at=TODAY + timedelta(minutes=5),
            flow="acme-support",
            outcome=CallOutcome.HANDLED,
            tools=[_tool("lookup_order", "ok", TODAY), _tool("lookup_order", "timeout", TODAY)],
        ),
        make_record(
            "rtc_a3",
            at=YESTERDAY,
            flow="acme-support",
            outcome=CallOutcome.ABANDONED,
            to_number="+442071234567",
        ),
        make_record(
            "rtc_b1",
            at=TODAY + timedelta(minutes=1),
            flow="bank-line",
            outcome=CallOutcome.HANDLED,
            to_number="+18005550120",
            from_number="+14155550111",
            tools=[_tool("balance", "failed", TODAY), _tool("balance", "ok", TODAY)],
        ),
        make_record(
            "rtc_b2",
            at=YESTERDAY + timedelta(hours=1),
            flow="bank-line",
            outcome=CallOutcome.FAILED,
            to_number="+18005550120",
            tools=[],
        ),
        make_record(
            "rtc_x",
            at=TODAY + timedelta(minutes=2),
            flow="acme-support",
            outcome=CallOutcome.HANDLED,
            tools=[],
            transcript=[
                TranscriptLine(TODAY, "caller", "<script>alert('x')</script>"),
                TranscriptLine(TODAY, "agent", 'Fine & "quoted" <b>bold</b>'),
            ],
            headers={"X-Evil": "<img src=x onerror=alert(1)>"},
        ),
    ]


async def _write(engine, records) -> None:
    store = engine.records.store
    await store.upsert(records, "studio-test")


def _ids(page: str) -> list[str]:
    return re.findall(r'data-call-id="([^"]+)"', page)


def test_the_calls_list_is_newest_first_and_each_filter_narrows_it(studio_server):
    async def main():
        async with studio_server() as s, s.client() as client:
            await signed_in(client, s.base, s.token)
            await _write(s.engine, _records())

            async def ids(**params: str) -> list[str]:
                page = await client.get(s.base + "/calls", params=params)
                assert page.status_code == 200, page.text[:500]
                return _ids(page.text)

            assert await ids() == ["rtc_a2", "rtc_x", "rtc_b1", "rtc_a1", "rtc_b2", "rtc_a3"]
            assert await ids(flow="bank-line") == ["rtc_b1", "rtc_b2"]
            assert await ids(flow="acme-support.yaml") == ["rtc_a2", "rtc_x", "rtc_a1", "rtc_a3"]
            assert await ids(number="+18005550120") == ["rtc_b1", "rtc_b2"]
            assert await ids(number="+14155550111") == ["rtc_b1"]  # the caller's number
            assert await ids(outcome="handled") == ["rtc_a2", "rtc_x", "rtc_b1"]
            assert await ids(day=YESTERDAY.strftime("%Y-%m-%d")) == ["rtc_b2", "rtc_a3"]
            assert await ids(day=TODAY.strftime("%Y-%m-%d"), flow="bank-line") == ["rtc_b1"]
            assert await ids(outcome="handled", flow="bank-line", number="+1") == []

            empty = await client.get(s.base + "/calls", params={"outcome": "failed", "flow": "x"})
            assert 'data-testid="no-calls"' in empty.text
            bad = await client.get(s.base + "/calls", params={"day": "yesterday"})
            assert bad.status_code == 400
            assert "is not a day" in html.unescape(bad.text)
            assert "data-call-id" not in bad.text

    run(main(), timeout=30)


def test_the_calls_list_pages_with_the_stores_cursor(studio_server):
    async def main():
        async with studio_server() as s, s.client() as client:
            await signed_in(client, s.base, s.token)
            many = [
                make_record(
                    f"rtc_p{i:03d}", at=TODAY - timedelta(minutes=i), outcome=CallOutcome.HANDLED
                )
                for i in range(60)
            ]
            await _write(s.engine, many)
            first = await client.get(s.base + "/calls", params={"outcome": "handled"})
            assert _ids(first.text) == [f"rtc_p{i:03d}" for i in range(50)]
            older = re.search(r'href="([^"]+)" rel="next"', first.text)
            assert older is not None
            link = html.unescape(older.group(1))
            assert "outcome=handled" in link  # the filters are kept
            second = await client.get(s.url + link)
            assert _ids(second.text) == [f"rtc_p{i:03d}" for i in range(50, 60)]
            assert 'rel="next"' not in second.text

    run(main(), timeout=30)


def test_a_calls_page_shows_its_timeline_transcript_and_flow_version(studio_server):
    async def main():
        async with studio_server() as s, s.client() as client:
            await signed_in(client, s.base, s.token)
            record = make_record(
                "rtc_story", at=TODAY, flow_file=str(s.flows / "acme-support.yaml")
            )
            await _write(s.engine, [record])
            page = await client.get(s.base + "/calls/rtc_story")
            assert page.status_code == 200
            text = page.text
            timeline = text[
                text.index('data-testid="timeline"') : text.index('data-testid="transcript"')
            ]
            items = re.findall(r'<li data-kind="([a-z]+)">', timeline)
            assert items == ["decision", "state", "said", "heard", "tool", "transfer"]
            assert "lookup_order  ok  HTTP 200  123 ms" in timeline
            assert "{&#34;status&#34;: &#34;shipped&#34;}" in timeline  # the answer
            assert "REFER to sip:+15551230000@sip.acme.example: took" in timeline
            transcript = text[text.index('data-testid="transcript"') :]
            assert "Thanks for calling Acme." in transcript
            assert "Where is my order?" in transcript
            link = re.search(r'<a data-testid="flow-version" href="([^"]+)"', text)
            assert link is not None
            assert link.group(1) == "/studio/flows/acme-support.yaml/versions/3f2a9c01d4e7"

            missing = await client.get(s.base + "/calls/rtc_nobody")
            assert missing.status_code == 404
            assert 'data-testid="no-such-call"' in missing.text

    run(main(), timeout=30)


def test_hostile_values_in_records_show_as_text(studio_server):
    async def main():
        async with studio_server() as s, s.client() as client:
            await signed_in(client, s.base, s.token)
            hostile = [r for r in _records() if r.call_id == "rtc_x"]
            evil_id = make_record('rtc_"><script>x</script>', at=TODAY, flow="<i>flow</i>")
            await _write(s.engine, [*hostile, evil_id])
            page = await client.get(s.base + "/calls/rtc_x")
            assert "<script>" not in page.text and "<b>bold</b>" not in page.text
            assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
            assert "<img src=x" not in page.text
            listing = await client.get(s.base + "/calls")
            assert "<script>" not in listing.text and "<i>flow</i>" not in listing.text
            assert "&lt;i&gt;flow&lt;/i&gt;" in listing.text
            overview = await client.get(s.base + "/overview")
            assert "<i>flow</i>" not in overview.text

    run(main(), timeout=30)


def test_the_overview_counts_what_was_written(studio_server):
    async def main():
        async with studio_server() as s, s.client() as client:
            await signed_in(client, s.base, s.token)
            await _write(s.engine, _records())
            page = await client.get(s.base + "/overview")
            assert page.status_code == 200
            text = page.text
            assert '<figure data-testid="chart"' in text and "<svg" in text
            assert '<title id="chart-title">' in text and '<desc id="chart-desc">' in text

            def cell(flow: str, day: datetime, outcome: str) -> int:
                row = re.search(
                    rf'<tr data-flow="{flow}" data-day="{day:%Y-%m-%d}">(.*?)</tr>', text, re.S
                )
                if row is None:
                    return 0
                found = re.search(rf'data-outcome="{outcome}">(\d+)<', row.group(1))
                assert found is not None
                return int(found.group(1))

            assert cell("acme-support", TODAY, "handled") == 2
            assert cell("acme-support", TODAY, "transferred") == 1
            assert cell("acme-support", TODAY, "all") == 3
            assert cell("acme-support", YESTERDAY, "abandoned") == 1
            assert cell("bank-line", TODAY, "handled") == 1
            assert cell("bank-line", YESTERDAY, "failed") == 1
            assert cell("bank-line", YESTERDAY, "all") == 1
            assert text.count("<rect ") == 5  # one per (flow, day, outcome) with calls

            tools = text[text.index('data-testid="busy-tools"') :]
            rows = re.findall(
                r'<tr data-tool="([^"]+)">.*?data-testid="uses">(\d+)<.*?data-testid="failures">(?:<span[^>]*>)?(\d+)',
                tools,
                re.S,
            )
            assert rows == [("lookup_order", "4", "1"), ("balance", "2", "1")]

            one_day = await client.get(s.base + "/overview", params={"days": "1"})
            assert 'data-day="' + f"{YESTERDAY:%Y-%m-%d}" + '"' not in one_day.text
            assert f'data-day="{TODAY:%Y-%m-%d}"' in one_day.text
            bad = await client.get(s.base + "/overview", params={"days": "0"})
            assert bad.status_code == 400

    run(main(), timeout=30)


def test_tool_rows_are_written_replaced_and_pruned_with_their_calls(db_url):
    async def main():
        database = open_database(db_url)
        try:
            await upgrade(database)
            store = CallStore(database)
            async with database.connect() as connection:  # the overview's covering indexes
                names = await connection.run_sync(
                    lambda c: {
                        i["name"]
                        for table in ("calls", "call_tools")
                        for i in inspect(c).get_indexes(table)
                    }
                )
            assert {"ix_calls_day", "ix_call_tools_day"} <= names

            async def tool_rows() -> list[tuple[str, int, str, str]]:
                statement = select(
                    call_tools.c.call_id, call_tools.c.seq, call_tools.c.tool, call_tools.c.outcome
                ).order_by(call_tools.c.call_id, call_tools.c.seq)
                async with database.connect() as connection:
                    return [tuple(r) for r in (await connection.execute(statement)).all()]

            records = _records()
            await store.upsert(records)
            assert await tool_rows() == [
                ("rtc_a1", 0, "lookup_order", "ok"),
                ("rtc_a2", 0, "lookup_order", "ok"),
                ("rtc_a2", 1, "lookup_order", "timeout"),
                ("rtc_a3", 0, "lookup_order", "ok"),
                ("rtc_b1", 0, "balance", "failed"),
                ("rtc_b1", 1, "balance", "ok"),
            ]
            # A call's later record replaces its tool rows (in the same transaction).
            later = make_record(
                "rtc_a2",
                at=TODAY + timedelta(minutes=5),
                outcome=CallOutcome.HANDLED,
                tools=[_tool("x", "refused", TODAY)],
            )
            await store.upsert([later])
            assert [r for r in await tool_rows() if r[0] == "rtc_a2"] == [
                ("rtc_a2", 0, "x", "refused")
            ]

            since, until = TODAY - timedelta(days=3), TODAY + timedelta(days=1)
            counts = await calls_per_day(database, since, until)
            per = {(c.flow_name, c.day, c.outcome): c.calls for c in counts}
            assert per[("acme-support", f"{TODAY:%Y-%m-%d}", "handled")] == 2
            assert per[("bank-line", f"{YESTERDAY:%Y-%m-%d}", "failed")] == 1
            busy = {t.tool: (t.uses, t.failures) for t in await busy_tools(database, since, until)}
            assert busy == {"lookup_order": (2, 0), "balance": (2, 1), "x": (1, 1)}

            # Pruning the calls before today takes their tool rows too.
            gone = await store.prune(TODAY.replace(hour=0))
            assert gone == 2  # rtc_a3, rtc_b2
            assert [r[0] for r in await tool_rows()] == ["rtc_a1", "rtc_a2", "rtc_b1", "rtc_b1"]
            async with database.connect() as connection:
                left = await connection.execute(select(func.count()).select_from(call_tools))
                assert left.scalar_one() == 4
        finally:
            await database.dispose()

    asyncio.run(main())


def test_a_test_call_leaves_a_record_with_the_callers_lines(studio_server):
    async def main():
        async with studio_server() as s, s.client() as client:
            csrf = await signed_in(client, s.base, s.token)
            lines = "I have a question about my bill.\n\nAnd one <b>more</b> thing."
            answer = await client.post(
                s.base + "/flows/acme-support.yaml/test-call",
                data={"csrf": csrf, "lines": lines},
            )
            assert answer.status_code == 200, answer.text[:800]
            link = re.search(r'<a data-testid="test-call-record" href="([^"]+)"', answer.text)
            assert link is not None
            page = await client.get(s.url + html.unescape(link.group(1)))
            assert page.status_code == 200
            transcript = page.text[page.text.index('data-testid="transcript"') :]
            assert "I have a question about my bill." in transcript
            assert "And one &lt;b&gt;more&lt;/b&gt; thing." in transcript
            assert "Thanks for calling Acme" in transcript  # the flow's greeting
            timeline = page.text[: page.text.index('data-testid="transcript"')]
            kinds = re.findall(r'<li data-kind="([a-z]+)">', timeline)
            assert kinds[0] == "decision" and kinds[-1] == "ended" and "state" in kinds
            assert re.search(
                r'data-testid="flow-version" href="/studio/flows/acme-support.yaml/versions/[0-9a-f]{12}"',
                page.text,
            )

            fragment = await client.post(
                s.base + "/flows/catch-all.yaml/test-call",
                data={"csrf": csrf, "lines": "hello"},
                headers={"HX-Request": "true"},
            )
            assert fragment.status_code == 409
            assert "<html" not in fragment.text  # a fragment for htmx
            assert (
                "catch-all" in fragment.text and 'data-testid="test-call-problem"' in fragment.text
            )

            refused = await client.post(
                s.base + "/flows/acme-support.yaml/test-call", data={"lines": "hi"}
            )
            assert refused.status_code == 403  # no CSRF token: nothing placed

    run(main(), timeout=60)


def test_no_test_call_without_the_simulator(studio_server):
    async def main():
        async with studio_server() as s, s.client() as client:
            csrf = await signed_in(client, s.base, s.token)
            s.engine.simulator = None  # engine serve: no simulator
            answer = await client.post(
                s.base + "/flows/acme-support.yaml/test-call", data={"csrf": csrf, "lines": "hi"}
            )
            assert answer.status_code == 409
            assert "engine studio only" in answer.text

    run(main(), timeout=30)
