"""The studio in a real browser (issue #11, item 6): what a person does, step by step, and
what they see at each step. Headless Chromium (Playwright's sync API) against ``engine
studio`` run as a child process over a copy of the repository's flows (conftest.py).

Every test also checks, at its end, that the page asked no host but the studio for anything
(the studio works offline, with no CDN) and logged no console error (the ``page`` fixture).
Each test stands on its own: it signs in, and reads the flow's version from the page.
With ``ENGINE_STUDIO_SCREENSHOTS=DIR`` the tests also save screenshots of each page
(``bench/studio_screenshots.py``; they are in docs/studio.md).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from studio_browser import Shots, Studio, sign_in

from engine.studio.flow_check import version_of

expect = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install -e '.[test]')"
).expect

FLOW = "acme-support.yaml"
SCENARIOS = Path(__file__).resolve().parents[3] / "flows" / "acme-support.test.yaml"
MISTAKE_AT = "start: triage"  # one Backspace here names a state that does not exist
LIVE = re.compile(r"(?<!not )\blive\b")
CALL_TIMEOUT_MS = 30_000
DRAFT = """\
name: Front desk (a draft)
numbers: ["+15550100777"]
instructions: Greet the caller and help them.
greeting: Hello!
start: main
states:
  main:
    tools: [goodbye]
"""  # `goodbye` is not defined: an error  # a test call: ringing, greeting, a line said, record written


def open_flow(page: Any, studio: Studio) -> None:
    """From the flows list, the flow's page (through its link, as a person would)."""
    row = page.locator(f'[data-testid="flows"] tr[data-flow="{FLOW}"]')
    row.get_by_role("link").first.click()
    page.wait_for_url(re.compile(re.escape(f"/studio/flows/{FLOW}") + "$"))
    expect(page.get_by_test_id("editor")).to_be_visible()


def caret_at(page: Any, offset: int) -> None:
    """Click into the editor and put the caret at ``offset`` of its text."""
    editor = page.get_by_test_id("editor")
    editor.click()
    editor.evaluate("(area, at) => area.setSelectionRange(at, at)", offset)


def editor_text(page: Any) -> str:
    return str(page.get_by_test_id("editor").input_value())


def on_disk(studio: Studio) -> str:
    return (studio.flows / FLOW).read_text(encoding="utf-8")


def see_live(where: Any) -> None:
    """The page says the flow is live (and not "not live")."""
    expect(where).to_contain_text(LIVE)


def save_and_see_live(page: Any) -> None:
    """Press Save; the page says Saved, then live."""
    page.get_by_test_id("save").click()
    result = page.get_by_test_id("save-result")
    expect(result).to_contain_text("Saved")
    see_live(result)


def test_sign_in_then_the_flows_list(page: Any, studio: Studio, shot: Shots) -> None:
    page.goto(studio.url("/flows"))
    page.wait_for_url(re.compile(r"/studio/sign-in"))  # no session: sent to sign in
    shot(page, "sign-in")
    form = page.get_by_test_id("sign-in")
    form.locator("input[name=token]").fill("not-the-token")
    page.watch.allow(r"status of 401")  # the browser logs the refused sign-in's answer
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("sign-in-error")).to_be_visible()

    sign_in(page, studio)
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("admin")
    flows = page.get_by_test_id("flows")
    for path in sorted(studio.flows.glob("*.yaml")):
        if not path.name.endswith(".test.yaml"):
            expect(flows.locator(f'tr[data-flow="{path.name}"]')).to_have_count(1)
    row = flows.locator(f'tr[data-flow="{FLOW}"]')
    expect(row.get_by_test_id("status")).to_have_text("live")

    # A file with an error, put in the folder by hand: listed as refused (it answers nothing).
    (studio.flows / "front-desk-draft.yaml").write_text(DRAFT, encoding="utf-8")
    status = flows.locator('tr[data-flow="front-desk-draft.yaml"]').get_by_test_id("status")
    deadline = time.monotonic() + 10  # the engine reads a changed folder within its poll
    while time.monotonic() < deadline:
        page.reload()  # as a person would, until the engine has read the file
        if status.count() and status.inner_text().strip() in ("live", "refused"):
            break
    expect(status).to_have_text("refused")
    shot(page, "flows")


def test_break_the_flow_see_the_problem_at_its_line_fix_it_save_and_see_it_live(
    page: Any, studio: Studio, shot: Shots
) -> None:
    sign_in(page, studio)
    open_flow(page, studio)
    diagram = page.get_by_test_id("diagram")
    expect(diagram.locator("svg").first).to_be_visible()  # Mermaid drew the graph
    expect(page.get_by_test_id("no-problems")).to_be_visible()

    # Break it: one Backspace makes `start: triag`, a state that does not exist.
    text = editor_text(page)
    at = text.index(MISTAKE_AT) + len(MISTAKE_AT)
    line = text[:at].count("\n") + 1
    caret_at(page, at)
    page.keyboard.press("Backspace")
    problem = page.locator(f'#problems li.problem.error[data-line="{line}"]')
    expect(problem).to_contain_text('"triag"')
    expect(problem).to_have_attribute("data-rule", "unknown-state")
    expect(problem).to_contain_text(f"line {line}")
    marker = page.get_by_test_id("gutter").locator(f'span[data-line="{line}"]')
    expect(marker).to_have_class(re.compile(r"\bhas-problem\b"))
    expect(page.get_by_test_id("no-problems")).to_have_count(0)
    assert on_disk(studio) == text  # linting as you type writes nothing
    if shot.on:
        # The diagram's lower part, the problem and its line in the editor, in one view.
        marker.evaluate(
            "m => window.scrollTo(0, m.getBoundingClientRect().bottom + scrollY - innerHeight + 60)"
        )
        shot(page, "flow-problem")
        page.set_viewport_size({"width": 768, "height": 1024})  # a tablet, upright
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "flow-tablet")
        page.set_viewport_size({"width": 1280, "height": 800})

    # Fix it, and add a line of our own so the save makes a new version.
    page.keyboard.type("e")
    expect(page.get_by_test_id("no-problems")).to_be_visible()
    expect(marker).not_to_have_class(re.compile(r"\bhas-problem\b"))
    page.keyboard.press("Enter")
    page.keyboard.type("# saved by the studio's browser test")
    expect(page.get_by_test_id("no-problems")).to_be_visible()

    save_and_see_live(page)
    assert "\n# saved by the studio's browser test\n" in on_disk(studio)
    page.get_by_role("link", name="Flows").first.click()
    row = page.locator(f'[data-testid="flows"] tr[data-flow="{FLOW}"]')
    expect(row.get_by_test_id("status")).to_have_text("live")


def test_run_the_scenarios_and_see_them_pass(page: Any, studio: Studio, shot: Shots) -> None:
    wanted = [s["name"] for s in yaml.safe_load(SCENARIOS.read_text())["scenarios"]]
    sign_in(page, studio)
    open_flow(page, studio)
    page.get_by_test_id("run-scenarios").click()
    results = page.get_by_test_id("scenario-results")
    expect(results.locator("li[data-scenario]")).to_have_count(len(wanted), timeout=30_000)
    for name in wanted:
        expect(results.locator(f'li[data-scenario="{name}"]')).to_have_attribute(
            "data-result", "pass"
        )
    expect(results).to_contain_text("PASS")
    if shot.on:  # the button and the results under it
        page.get_by_test_id("run-scenarios").evaluate(
            "b => window.scrollTo(0, b.getBoundingClientRect().top + scrollY - 20)"
        )
        shot(page, "scenarios")


def test_a_test_call_through_the_simulator_is_found_in_calls_with_its_transcript(
    page: Any, studio: Studio, shot: Shots
) -> None:
    sign_in(page, studio)
    open_flow(page, studio)
    form = page.get_by_test_id("test-call")
    form.locator("textarea[name=lines]").fill("I have a question about my bill.")
    form.get_by_test_id("place-test-call").click()
    record = page.get_by_test_id("test-call-record")
    expect(record).to_be_visible(timeout=CALL_TIMEOUT_MS)
    href = str(record.get_attribute("href"))
    call_id = unquote(urlsplit(href).path.rsplit("/", 1)[-1])

    record.click()
    page.wait_for_url(re.compile(re.escape(f"/studio/calls/{call_id}") + "$"))
    expect(page.get_by_test_id("timeline").locator("li").first).to_be_visible()
    transcript = page.get_by_test_id("transcript")
    expect(transcript).to_be_visible()
    expect(transcript).to_contain_text("Acme")  # the greeting: acme-support's or after hours'
    expect(transcript).to_contain_text("I have a question about my bill.")
    expect(page.get_by_test_id("flow-version")).to_have_attribute(
        "href", re.compile(r"/studio/flows/[^/]+\.yaml/versions/[0-9a-f]{12}$")
    )
    shot(page, "call", full_page=True)

    page.get_by_role("navigation").get_by_role("link", name="Calls").click()
    row = page.get_by_test_id("calls").locator(f'tr[data-call-id="{call_id}"]')
    expect(row).to_be_visible()
    shot(page, "calls")

    page.get_by_role("navigation").get_by_role("link", name="Overview").click()
    chart = page.get_by_test_id("chart")
    expect(chart.locator("svg").first).to_be_visible()  # drawn by the server: no script
    expect(page.get_by_test_id("busy-tools")).to_have_count(1)
    shot(page, "overview", full_page=True)


def test_versions_compare_and_restore_an_older_one(page: Any, studio: Studio, shot: Shots) -> None:
    sign_in(page, studio)
    open_flow(page, studio)
    before = editor_text(page)
    assert before == on_disk(studio)
    old = str(page.locator("#editor-form input[name=base_version]").input_value())
    caret_at(page, len(before))
    page.keyboard.type("# a line to take back\n")
    save_and_see_live(page)
    assert on_disk(studio).endswith("# a line to take back\n")
    new = version_of(on_disk(studio))  # as the registry names it
    assert new != old

    page.get_by_test_id("versions-link").click()
    versions = page.get_by_test_id("versions")
    expect(versions.locator(f'tr[data-version="{new}"]')).to_be_visible()
    expect(versions.locator(f'tr[data-version="{old}"]')).to_be_visible()
    shot(page, "versions")

    versions.locator(f'a[href*="diff?a={old}&b={new}"]').click()
    added = page.get_by_test_id("diff").locator('[data-change="+"]')
    expect(added).to_have_count(1)
    expect(added).to_contain_text("# a line to take back")
    shot(page, "diff")

    page.go_back()
    page.get_by_test_id("versions").locator(f'tr[data-version="{old}"] a[href$="/{old}"]').click()
    expect(page.get_by_test_id("version-text")).to_contain_text(MISTAKE_AT)
    page.get_by_test_id("restore").click()
    expect(page.locator("main")).to_contain_text("Saved")
    see_live(page.locator("main"))
    assert on_disk(studio) == before

    page.goto(studio.url(f"/flows/{FLOW}"))  # opened afresh, the flow shows the old text
    expect(page.get_by_test_id("editor")).to_have_value(before)


def test_a_viewer_reads_the_flow_but_cannot_save(page: Any, studio: Studio) -> None:
    sign_in(page, studio, user=studio.viewer)
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("viewer")
    open_flow(page, studio)
    expect(page.get_by_test_id("editor")).to_have_attribute("readonly", re.compile(r".*"))
    expect(page.get_by_test_id("save")).to_have_count(0)
    expect(page.get_by_test_id("diagram").locator("svg").first).to_be_visible()

    # Even a hand-made request with the session's own CSRF token is refused.
    text = on_disk(studio)
    csrf = page.locator('meta[name="csrf"]').get_attribute("content")
    base_version = page.locator("#editor-form input[name=base_version]").input_value()
    answer = page.request.post(
        studio.url(f"/flows/{FLOW}/save"),
        form={"text": text + "# a viewer's line\n", "base_version": base_version, "csrf": csrf},
        max_redirects=0,
    )
    assert answer.status == 403
    assert on_disk(studio) == text


def test_the_editor_and_save_are_reached_with_the_keyboard(page: Any, studio: Studio) -> None:
    page.goto(studio.url("/sign-in"))
    page.locator("input[name=token]").focus()  # autofocus, as the page has it
    page.keyboard.type(studio.token)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/studio/flows$"))
    page.goto(studio.url(f"/flows/{FLOW}"))

    reached = []
    for _ in range(80):
        page.keyboard.press("Tab")
        testid = page.evaluate("document.activeElement.getAttribute('data-testid')")
        reached.append(testid)
        if testid == "save":
            break
    assert "editor" in reached, f"Tab never reached the editor: {reached}"
    assert reached[-1] == "save", f"Tab never reached Save: {reached}"
    assert reached.index("editor") < len(reached) - 1

    # Typing in the editor, then Tab: the focus leaves it (Tab is not trapped in the text).
    page.get_by_test_id("editor").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") != "editor"


def test_without_javascript_every_page_shows_its_content(new_page: Any, studio: Studio) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, studio)  # a plain form
    expect(page.get_by_test_id("flows").locator(f'tr[data-flow="{FLOW}"]')).to_be_visible()
    open_flow(page, studio)
    diagram = page.get_by_test_id("diagram")
    expect(diagram.locator("pre.mermaid")).to_contain_text("flowchart")  # the source, readable
    expect(diagram.locator("svg")).to_have_count(0)
    expect(page.get_by_test_id("editor")).to_have_value(on_disk(studio))
    expect(page.get_by_test_id("no-problems")).to_be_visible()

    page.get_by_test_id("run-scenarios").click()  # a plain POST, answered with the whole page
    results = page.get_by_test_id("scenario-results").locator("li[data-scenario]")
    expect(results.first).to_be_visible(timeout=30_000)
    expect(results.and_(page.locator('[data-result="fail"]'))).to_have_count(0)

    page.goto(studio.url("/calls"))
    expect(page.get_by_test_id("calls").or_(page.get_by_test_id("no-calls"))).to_be_visible()
    page.goto(studio.url("/overview"))
    expect(page.get_by_test_id("chart")).to_be_visible()
    expect(page.get_by_test_id("busy-tools")).to_have_count(1)


def test_two_people_save_the_same_flow_the_second_is_told_and_loses_nothing(
    new_page: Any, studio: Studio
) -> None:
    first, second = new_page(), new_page()
    for person in (first, second):
        sign_in(person, studio)
        open_flow(person, studio)
    text = editor_text(first)

    caret_at(first, len(text))
    first.keyboard.type("# the first person's line\n")
    save_and_see_live(first)

    caret_at(second, len(text))
    second.keyboard.type("# the second person's line\n")
    second.get_by_test_id("save").click()
    expect(second.get_by_test_id("save-conflict")).to_be_visible()
    expect(second.get_by_test_id("editor")).to_have_value(text + "# the second person's line\n")
    assert on_disk(studio) == text + "# the first person's line\n"
