"""The studio's flows pages through real HTTP: an engine on loopback (uvicorn, port 0) over a
copy of the example flows, the simulator as OpenAI (tests/studio/conftest.py: studio_server),
signed in with the admin token (a viewer from a users file).

The list shows each flow live or refused with its problems; a flow's page shows its problems
at their lines (in the list and in the editor's gutter), the same diagram as `engine graph`,
its scenarios, which run PASS or FAIL with `engine test`'s words; lint as you type answers
for the text sent and writes nothing; and no URL reaches a file that is not a flow file of
the folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from studio_kit import REPO_FLOWS, StudioServer, csrf_of, signed_in

from engine.flow.source import MAX_FILE_BYTES
from engine.studio.passwords import hash_password

from helpers import engine_cli, run, wait_for

BROKEN_LINE = 21  # receptionist.yaml: `    hangup: true`, made `hangup: sometimes`
VIEWER, VIEWER_PASSWORD = "desk", "desk-password-22"


@contextlib.asynccontextmanager
async def signed_in_studio(
    studio_server: Callable[..., contextlib.AbstractAsyncContextManager[StudioServer]],
    **options: Any,
) -> AsyncIterator[tuple[StudioServer, httpx.AsyncClient, str]]:
    """The studio on loopback (``tests/studio/conftest.py``), a client signed in with the
    admin token (its base URL the studio's), and the session's CSRF token."""
    async with studio_server(**options) as s, s.client(base_url=s.base, timeout=30) as client:
        yield s, client, await signed_in(client, s.base, s.token)


def htmx(csrf: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf}


def row_of(page: str, file: str) -> str:
    found = re.search(rf'<tr data-flow="{re.escape(file)}">(.*?)</tr>', page, re.S)
    assert found, f"no row for {file}"
    return found.group(1)


def status_of(fragment: str) -> tuple[str, str]:
    found = re.search(r'data-testid="status" data-status="([^"]+)"[^>]*>([^<]*)<', fragment)
    assert found, "no status"
    return found.group(1), found.group(2)


def problems_in(fragment: str) -> list[dict[str, Any]]:
    return [
        {"severity": m.group(1), "line": int(m.group(2)), "rule": m.group(3), "text": m.group(4)}
        for m in re.finditer(
            r'<li class="problem (\w+)" data-line="(\d+)" data-col="\d+" data-rule="([\w-]+)"'
            r"[^>]*>(.*?)</li>",
            fragment,
            re.S,
        )
    ]


def mermaid_of(page: str) -> str:
    found = re.search(r'<pre class="mermaid"[^>]*>(.*?)</pre>', page, re.S)
    assert found, "no diagram"
    return html.unescape(found.group(1))


def broken(text: str) -> str:
    assert "    hangup: true" in text
    return text.replace("    hangup: true", "    hangup: sometimes")


async def refused_by_registry(server: StudioServer, name: str) -> None:
    file = str(server.flows / name)
    await wait_for(
        lambda: any(d.is_error for d in server.engine.registry.problems.get(file, [])),
        timeout=10,
    )


# -- the list --------------------------------------------------------------------------------


def test_the_list_shows_every_flow_live_with_its_numbers_and_a_link(studio_server):
    async def main():
        async with signed_in_studio(studio_server) as (s, client, _):
            page = await client.get("/flows")
            assert page.status_code == 200
            assert 'data-testid="flows"' in page.text
            names = sorted(p.name for p in s.flows.glob("*.yaml") if ".test." not in p.name)
            assert len(names) == 6
            for name in names:
                row = row_of(page.text, name)
                assert status_of(row) == ("live", "live"), name
                assert f'href="/studio/flows/{name}"' in row
                assert 'data-errors="0"' in row
                assert "<time datetime=" in row
            assert "+14155550123" in row_of(page.text, "receptionist.yaml")
            assert "Example Dental receptionist" in row_of(page.text, "receptionist.yaml")
            s.assert_no_secrets(page.text)

    run(main(), timeout=60)


def test_a_broken_new_file_is_refused_and_its_problem_shown_at_its_line(studio_server):
    async def main():
        async with signed_in_studio(studio_server) as (s, client, _):
            text = broken((s.flows / "receptionist.yaml").read_text())
            text = text.replace('"+14155550123"', '"+14155550999"')
            (s.flows / "second-desk.yaml").write_text(text)
            await refused_by_registry(s, "second-desk.yaml")

            listed = await client.get("/flows")
            row = row_of(listed.text, "second-desk.yaml")
            assert status_of(row) == ("refused", "refused")
            assert 'data-errors="1"' in row
            # Nothing of it answers, yet the list names it as its text does.
            assert "Example Dental receptionist" in row

            page = await client.get("/flows/second-desk.yaml")
            assert page.status_code == 200
            assert status_of(page.text)[0] == "refused"
            [problem] = problems_in(page.text)
            assert (problem["severity"], problem["line"], problem["rule"]) == (
                "error",
                BROKEN_LINE,
                "schema",
            )
            assert f"line {BROKEN_LINE}, col 13" in problem["text"]
            assert "write true or false" in problem["text"]  # the hint
            gutter = re.search(r'data-testid="gutter"(.*?)</div>', page.text, re.S)
            assert gutter
            marked = re.findall(r'<span data-line="(\d+)" class="has-problem error"', gutter[1])
            assert marked == [str(BROKEN_LINE)]
            assert 'data-testid="diagram-note"' in page.text
            assert '<pre class="mermaid"' not in page.text  # nothing of it can be drawn

    run(main(), timeout=60)


def test_a_live_flow_broken_on_disk_is_live_with_problems_and_its_good_version_drawn(
    studio_server,
):
    async def main():
        async with signed_in_studio(studio_server) as (s, client, _):
            live = mermaid_of((await client.get("/flows/receptionist.yaml")).text)
            path = s.flows / "receptionist.yaml"
            path.write_text(broken(path.read_text()))
            await refused_by_registry(s, "receptionist.yaml")

            row = row_of((await client.get("/flows")).text, "receptionist.yaml")
            assert status_of(row) == ("live-old", "live, with problems")
            page = await client.get("/flows/receptionist.yaml")
            assert status_of(page.text) == ("live-old", "live, with problems")
            assert [p["line"] for p in problems_in(page.text)] == [BROKEN_LINE]
            assert "the version answering calls now" in page.text
            assert mermaid_of(page.text) == live

    run(main(), timeout=60)


# -- the diagram -----------------------------------------------------------------------------


def test_the_diagram_is_what_engine_graph_prints(studio_server):
    async def main():
        async with signed_in_studio(studio_server) as (s, client, _):
            for path in sorted(s.flows.glob("*.yaml")):
                if path.name.endswith(".test.yaml"):
                    continue
                page = await client.get(f"/flows/{path.name}")
                code, printed, _ = engine_cli("graph", str(path))
                assert code == 0
                assert mermaid_of(page.text) == printed, path.name
                s.assert_no_secrets(page.text)
                assert 'data-testid="diagram"' in page.text

    run(main(), timeout=60)


# -- lint as you type ------------------------------------------------------------------------


def test_lint_answers_for_the_text_sent_and_writes_nothing(studio_server):
    async def main():
        async with signed_in_studio(studio_server) as (s, client, csrf):
            path = s.flows / "receptionist.yaml"
            before = (path.read_bytes(), path.stat().st_mtime_ns)
            good = path.read_text()

            answer = await client.post(
                "/flows/receptionist.yaml/lint", data={"text": broken(good)}, headers=htmx(csrf)
            )
            assert answer.status_code == 200
            assert "<html" not in answer.text  # the fragment alone
            [problem] = problems_in(answer.text)
            assert (problem["line"], problem["rule"]) == (BROKEN_LINE, "schema")
            assert "as typed, not saved" in answer.text

            # A browser sends the textarea's lines ending in CR LF: the same lines.
            crlf = broken(good).replace("\n", "\r\n")
            answer = await client.post(
                "/flows/receptionist.yaml/lint", data={"text": crlf}, headers=htmx(csrf)
            )
            assert [p["line"] for p in problems_in(answer.text)] == [BROKEN_LINE]

            answer = await client.post(
                "/flows/receptionist.yaml/lint", data={"text": good}, headers=htmx(csrf)
            )
            assert 'data-testid="no-problems"' in answer.text
            assert "No problems." in answer.text
            assert (path.read_bytes(), path.stat().st_mtime_ns) == before
            assert sorted(p.name for p in s.flows.iterdir()) == sorted(
                p.name for p in REPO_FLOWS.iterdir()
            )

    run(main(), timeout=60)


def test_lint_without_javascript_shows_the_whole_page_with_the_text_as_typed(studio_server):
    async def main():
        async with signed_in_studio(studio_server) as (s, client, csrf):
            text = broken((s.flows / "receptionist.yaml").read_text())
            page = await client.post(
                "/flows/receptionist.yaml/lint", data={"text": text, "csrf": csrf}
            )
            assert page.status_code == 200
            assert "<html" in page.text
            assert "hangup: sometimes" in page.text  # the editor keeps what was typed
            assert [p["line"] for p in problems_in(page.text)] == [BROKEN_LINE]
            assert status_of(page.text)[0] == "live"  # nothing was saved

    run(main(), timeout=60)


def test_lint_also_finds_what_the_folder_adds(studio_server):
    """A hand-off to a flow not beside it, a number another flow answers: as `engine lint
    FOLDER` and the registry would say."""

    async def main():
        async with signed_in_studio(studio_server) as (s, client, csrf):
            text = (s.flows / "acme-support.yaml").read_text()
            assert "when_closed: {flow: after-hours}" in text
            text = text.replace("{flow: after-hours}", "{flow: after-hourz}")
            text = text.replace('"+442071234567"', '"+14155550123"')  # the receptionist's
            answer = await client.post(
                "/flows/acme-support.yaml/lint", data={"text": text}, headers=htmx(csrf)
            )
            rules = {p["rule"]: p for p in problems_in(answer.text)}
            assert "did you mean" in rules["handoff-flow"]["text"]
            assert "receptionist.yaml" in rules["duplicate-number"]["text"]
            s.assert_no_secrets(answer.text)

    run(main(), timeout=60)


def test_a_text_larger_than_a_flow_file_may_be_is_not_linted(studio_server):
    async def main():
        async with signed_in_studio(studio_server) as (s, client, csrf):
            text = (s.flows / "receptionist.yaml").read_text() + "#" * (MAX_FILE_BYTES + 1)
            answer = await client.post(
                "/flows/receptionist.yaml/lint", data={"text": text}, headers=htmx(csrf)
            )
            assert [p["rule"] for p in problems_in(answer.text)] == ["yaml-too-large"]

    run(main(), timeout=60)


def test_lint_needs_the_sessions_csrf_token(studio_server):
    async def main():
        async with signed_in_studio(studio_server) as (s, client, _):
            text = (s.flows / "receptionist.yaml").read_text()
            for headers in ({"HX-Request": "true"}, htmx("not-the-token")):
                answer = await client.post(
                    "/flows/receptionist.yaml/lint", data={"text": text}, headers=headers
                )
                assert answer.status_code == 403

    run(main(), timeout=60)


# -- scenarios -------------------------------------------------------------------------------


def test_the_scenarios_of_acme_support_pass(studio_server):
    async def main():
        async with signed_in_studio(studio_server) as (s, client, csrf):
            page = await client.get("/flows/acme-support.yaml")
            listed = re.findall(r'data-scenario-name="([^"]+)"', page.text)
            assert len(listed) == 21
            assert 'data-testid="run-scenarios"' in page.text

            answer = await client.post("/flows/acme-support.yaml/scenarios", headers=htmx(csrf))
            assert answer.status_code == 200
            results = re.findall(r'<li data-scenario="([^"]+)" data-result="(\w+)"', answer.text)
            assert [html.unescape(name) for name, _ in results] == [
                html.unescape(n) for n in listed
            ]
            assert {result for _, result in results} == {"pass"}
            assert "21 scenarios: 21 passed, 0 failed" in answer.text
            s.assert_no_secrets(answer.text)

    run(main(), timeout=90)


def test_a_broken_scenario_fails_with_what_was_expected_and_what_happened(studio_server):
    async def main():
        async with signed_in_studio(studio_server) as (s, client, csrf):
            scenarios = s.flows / "catch-all.test.yaml"
            text = scenarios.read_text()
            wrong = text.replace(
                "      hangup: true\n      transfer: false",
                "      hangup: false\n      transfer: false",
            )
            assert wrong != text
            scenarios.write_text(wrong)

            # Without JavaScript: the whole page, with the results in it.
            page = await client.post("/flows/catch-all.yaml/scenarios", data={"csrf": csrf})
            assert page.status_code == 200
            results = dict(
                re.findall(r'<li data-scenario="([^"]+)" data-result="(\w+)"', page.text)
            )
            name = "The caller is told and the call ends"
            assert results.pop(name) == "fail"
            assert set(results.values()) == {"pass"}
            failure = re.search(
                rf'data-scenario="{name}" data-result="fail">(.*?)</li>', page.text, re.S
            )
            assert failure
            told = html.unescape(failure.group(1))
            assert "expected " in told and "happened: " in told
            _, cli, _ = await asyncio.to_thread(engine_cli, "test", str(scenarios))
            told_by_cli = cli[cli.index(f"FAIL {scenarios}") :].split("\n")[1:4]
            for line in told_by_cli:  # the same words as `engine test`
                assert line.strip() in told

    run(main(), timeout=90)


def test_a_viewer_reads_the_editor_and_may_run_the_scenarios(studio_server, tmp_path):
    async def main():
        users = tmp_path / "studio-users"
        users.write_text(f"{VIEWER}:viewer:{hash_password(VIEWER_PASSWORD)}\n")
        async with (
            studio_server(users_file=users) as s,
            s.client(base_url=s.base, timeout=30) as client,
        ):
            csrf = await signed_in(client, s.base, name=VIEWER, password=VIEWER_PASSWORD)
            page = await client.get("/flows/catch-all.yaml")
            assert page.status_code == 200
            assert f"{VIEWER} (viewer)" in page.text
            editor = re.search(r'<textarea id="editor"[^>]*>', page.text)
            assert editor and "readonly" in editor.group(0) and "hx-post" not in editor.group(0)
            assert 'data-testid="save"' not in page.text
            assert csrf_of(page.text) == csrf
            answer = await client.post("/flows/catch-all.yaml/scenarios", headers=htmx(csrf))
            assert answer.status_code == 200 and 'data-result="pass"' in answer.text
            refused = await client.post(
                "/flows/catch-all.yaml/scenarios", headers={"HX-Request": "true"}
            )
            assert refused.status_code == 403

    run(main(), timeout=60)


# -- what is not a flow ----------------------------------------------------------------------


def test_nothing_but_the_folders_flow_files_is_found(studio_server, tmp_path):
    async def main():
        async with signed_in_studio(studio_server) as (s, client, csrf):
            (tmp_path / "outside.yaml").write_text((s.flows / "catch-all.yaml").read_text())
            (s.flows / "linked.yaml").symlink_to(tmp_path / "outside.yaml")
            (s.flows / "notes.txt").write_text("not a flow")
            for name in (
                "..%2Foutside.yaml",
                "%2E%2E/outside.yaml",
                "sub/..%2F..%2Foutside.yaml",
                "%2Fetc%2Fpasswd",
                "/etc/passwd",
                f"{tmp_path / 'outside.yaml'}",
                "catch-all.test.yaml",
                "notes.txt",
                "linked.yaml",
                "no-such.yaml",
                "",
            ):
                for method, path in (
                    ("GET", f"/flows/{name}"),
                    ("POST", f"/flows/{name}/lint"),
                    ("POST", f"/flows/{name}/scenarios"),
                ):
                    answer = await client.request(
                        method, s.base + path, data={"text": "x"}, headers=htmx(csrf)
                    )
                    assert answer.status_code == 404, (method, path, answer.status_code)

    run(main(), timeout=60)
