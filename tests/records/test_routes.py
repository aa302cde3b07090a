"""``GET /calls`` and ``GET /calls/{call_id}`` on a running engine: off (404) without a
token, 401 without the right one, JSON with it: filters, pages, one whole record (even one
still waiting to be written), clear 400s, and 503 while the database does not answer."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from pathlib import Path

import httpx
from records_kit import T0, make_record, settings_for

from engine.openai import OpenAIConfig
from engine.records import CallOutcome
from engine.records.settings import database_url
from engine.runner import running_engine
from engine.server import Engine, EngineSettings

TOKEN = "admin-token-0123456789abcdef"
CONFIG = OpenAIConfig(
    api_key="sk-test-routes", webhook_secret="whsec_cm91dGVz", base_url="http://127.0.0.1:9/v1"
)


@contextlib.asynccontextmanager
async def engine_with(tmp_path: Path, records):
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    engine = Engine(EngineSettings(flows_dir=str(flows), openai=CONFIG, records=records))
    async with (
        running_engine(engine) as url,
        httpx.AsyncClient(base_url=url, trust_env=False) as http,
    ):
        yield engine, http


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_a_token_the_routes_are_off(tmp_path, sqlite_url):
    async def main():
        async with engine_with(tmp_path, settings_for(sqlite_url)) as (_, http):
            unknown = await http.get("/no-such-path")
            for path in ("/calls", "/calls/rtc_1"):
                answer = await http.get(path, headers=auth())
                assert (answer.status_code, answer.text) == (404, unknown.text)

    asyncio.run(main())


def test_a_missing_or_wrong_token_is_401(tmp_path, sqlite_url):
    async def main():
        async with engine_with(tmp_path, settings_for(sqlite_url, admin_token=TOKEN)) as (_, http):
            for headers in (
                {},
                auth("wrong-token-0123456789abcdef"),
                auth(TOKEN[:-1]),
                {"Authorization": f"Basic {TOKEN}"},
                {"Authorization": TOKEN},
            ):
                for path in ("/calls", "/calls/rtc_1"):
                    answer = await http.get(path, headers=headers)
                    assert answer.status_code == 401, (headers, path)
                    assert answer.headers["www-authenticate"].startswith("Bearer")
                    assert TOKEN not in answer.text

    asyncio.run(main())


def test_calls_as_json_with_filters_and_pages(tmp_path, sqlite_url):
    records = [
        make_record(f"rtc_{i}", at=T0 + timedelta(minutes=i), outcome=outcome)
        for i, outcome in enumerate([CallOutcome.HANDLED, CallOutcome.ABANDONED] * 3)
    ]

    async def main():
        async with engine_with(tmp_path, settings_for(sqlite_url, admin_token=TOKEN)) as (
            engine,
            http,
        ):
            await engine.records.store.upsert(records, "test-replica")
            everything = (await http.get("/calls", headers=auth())).json()
            assert [c["call_id"] for c in everything["calls"]] == [
                f"rtc_{i}" for i in range(5, -1, -1)
            ]
            assert everything["next"] is None
            first = everything["calls"][0]
            assert first == {
                "call_id": "rtc_5",
                "received_at": "2026-11-24T15:05:00+00:00",
                "ended_at": "2026-11-24T15:05:10+00:00",
                "duration_s": 10.0,
                "flow_name": "acme-support",
                "flow_file": "flows/acme-support.yaml",
                "from_number": "+14155550100",
                "to_number": "+18005551212",
                "outcome": "abandoned",
                "ended_how": "transferred",
                "replica": "test-replica",
            }

            params = {"outcome": "abandoned", "limit": "2", "since": "2026-11-24T15:00"}
            page = (await http.get("/calls", params=params, headers=auth())).json()
            assert [c["call_id"] for c in page["calls"]] == ["rtc_5", "rtc_3"]
            params["before"] = page["next"]
            rest = (await http.get("/calls", params=params, headers=auth())).json()
            assert [c["call_id"] for c in rest["calls"]] == ["rtc_1"] and rest["next"] is None

            one = await http.get("/calls/rtc_3", headers=auth())
            assert one.status_code == 200
            assert one.json() == {**records[3].to_dict(), "replica": "test-replica"}
            missing = await http.get("/calls/rtc_nope", headers=auth())
            assert (missing.status_code, missing.json()) == (
                404,
                {"error": "no record of that call"},
            )

    asyncio.run(main())


def test_a_record_still_waiting_to_be_written_is_served(tmp_path, sqlite_url):
    async def main():
        settings = settings_for(sqlite_url, admin_token=TOKEN, flush_interval_s=3600)
        async with engine_with(tmp_path, settings) as (engine, http):
            engine.records.sink.put(make_record("rtc_fresh"))
            answer = await http.get("/calls/rtc_fresh", headers=auth())
            assert answer.status_code == 200 and answer.json()["call_id"] == "rtc_fresh"

    asyncio.run(main())


def test_a_filter_that_cannot_be_read_is_400_saying_why(tmp_path, sqlite_url):
    async def main():
        async with engine_with(tmp_path, settings_for(sqlite_url, admin_token=TOKEN)) as (_, http):
            cases = {
                "outcome=lost": "outcome 'lost' is not one of: handled, transferred, abandoned, rejected, failed",
                "since=yesterday": "since 'yesterday' is not a time",
                "limit=0": "limit must be a whole number from 1 to 500",
                "before=xyz": "before must be the `next` value of an earlier page",
                "colour=red": "unknown parameter 'colour'",
            }
            for query, said in cases.items():
                answer = await http.get(f"/calls?{query}", headers=auth())
                assert answer.status_code == 400, query
                assert said in answer.json()["error"], (query, answer.json())

    asyncio.run(main())


def test_a_database_that_does_not_answer_is_503(tmp_path):
    gone = database_url(f"sqlite:///{tmp_path / 'no-such-folder' / 'records.db'}")

    async def main():
        async with engine_with(tmp_path, settings_for(gone, admin_token=TOKEN)) as (_, http):
            for path in ("/calls", "/calls/rtc_1"):
                answer = await http.get(path, headers=auth())
                assert answer.status_code == 503, path
                assert "not answering" in answer.json()["error"]

    asyncio.run(main())
