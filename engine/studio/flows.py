"""The studio's flows pages: the list of flow files, and each flow's page.

- ``GET /flows``: every flow file, its numbers, live or refused, its problems, last change.
- ``GET /flows/FILE``: its diagram, problems, scenarios and the file in an editor.
- ``POST /flows/FILE/lint`` (field ``text``): the problems of the text as typed (the real
  lint; nothing is written), the ``_problems.html`` fragment for htmx, else the whole page.
- ``POST /flows/FILE/scenarios``: its scenarios run now, ``_scenarios.html`` for htmx, else
  the whole page.

Both POSTs change nothing, so viewers may use them too; they still need the session's CSRF
token (``_csrf_refusal``), like every POST of the studio. Saving is ``saving.py``'s; test calls
are ``calls.py``'s: each adds its part to ``flow.html`` through an include it owns.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..flow.diagnostics import Diagnostic, Span
from ..flow.lint import read_file
from ..flow.registry import Snapshot
from ..flow.source import MAX_FILE_BYTES, SourceError, too_large
from .auth import csrf_ok
from .context import Studio
from .flow_check import Check, Checker, Diagram, diagram, version_of
from .flow_scenarios import Results, Scenarios
from .flow_status import FlowStatus, registry_file, statuses
from .forms import read_form
from .render import render, root_of
from .work import Bounded, Busy

__all__ = ["routes"]

LINT_TIMEOUT_S = 20.0
RUN_TIMEOUT_S = 60.0


def routes(studio: Studio) -> list[BaseRoute]:
    checker = Checker(studio.engine.environ, Bounded(2, LINT_TIMEOUT_S))
    scenarios = Scenarios(Bounded(2, LINT_TIMEOUT_S), Bounded(1, RUN_TIMEOUT_S))

    def found(request: Request) -> str:
        """The flow file the URL names, or 404: never a path outside the flows folder, nor a
        file that is not a flow."""
        name = request.path_params["file"]
        if studio.files.find(name) is None:
            raise HTTPException(404, "no such flow file")
        return str(name)

    async def flow_list(request: Request) -> Response:
        rows = statuses(studio)
        names: dict[str, str] = {}
        for row in rows:  # a file that answers nothing: its name as written now, if it has one
            if row.flow_name is None:
                try:
                    text, _ = _disk(row.file)
                except HTTPException:
                    continue  # removed since the folder was listed
                with contextlib.suppress(Busy):
                    names[row.name] = (await checker.check(row.file, text)).name or ""
        return render(request, "flows.html", rows=rows, names=names, url=lambda n: _url(request, n))

    async def flow_page(request: Request) -> Response:
        return await page(request, found(request))

    async def lint(request: Request) -> Response:
        name = found(request)
        refused = await _csrf_refusal(request)
        if refused is not None:
            return refused
        text = _typed((await read_form(request)).get("text", ""))
        if not request.headers.get("hx-request"):
            return await page(request, name, typed=text)
        _, problems = await checked(registry_file(studio, name), text)
        return render(
            request,
            "_problems.html",
            problems=_problems(problems),
            typed=True,
            line_count=_line_count(text),
        )

    async def run_scenarios(request: Request) -> Response:
        name = found(request)
        refused = await _csrf_refusal(request)
        if refused is not None:
            return refused
        try:
            results = await scenarios.run(registry_file(studio, name))
            busy = ""
        except Busy:
            results = None
            busy = (
                f"The scenarios did not finish within {RUN_TIMEOUT_S:g} seconds (or others were "
                "still running); try again in a moment."
            )
        if not request.headers.get("hx-request"):
            return await page(request, name, results=results, busy=busy, ran=True)
        return render(request, "_scenarios.html", results=results, busy=busy, ran=True)

    async def checked(file: str, text: str) -> tuple[Check | None, tuple[Diagnostic, ...]]:
        """The text's check and problems; a text over the size of a flow file is not checked
        (the engine would not read it)."""
        if len(text.encode()) > MAX_FILE_BYTES:
            return None, (too_large(file).diagnostic,)
        try:
            check = await checker.check(file, text, studio.engine.registry.snapshot)
        except Busy:
            late = Diagnostic.at(
                file,
                Span(1, 1, 1, 2),
                "not-checked",
                f"the check did not finish within {LINT_TIMEOUT_S:g} seconds: the server is busy",
                hint="try again in a moment",
            )
            return None, (late,)
        return check, check.problems

    async def page(
        request: Request,
        name: str,
        *,
        typed: str | None = None,
        results: Results | None = None,
        busy: str = "",
        ran: bool = False,
    ) -> Response:
        file = registry_file(studio, name)
        status = statuses(studio, [name])[0]
        disk, unreadable = _disk(file)
        text = disk if typed is None else typed
        answering = studio.engine.registry.snapshot
        if unreadable is not None and typed is None:
            check: Check | None = None
            problems: tuple[Diagnostic, ...] = (unreadable,)
        else:
            check, problems = await checked(file, text)
        shown, drawn_is = _drawing(check, answering, file)
        session = request.state.session
        return render(
            request,
            "flow.html",
            file=name,
            title=standing_name(status, check),
            url=_url(request, name),
            standing=status,
            version=version_of(disk),
            text=text,
            typed=typed is not None,
            problems=_problems(problems),
            gutter=_gutter(text, problems),
            diagram=shown,
            drawn_is=drawn_is,
            scenarios=await scenarios.listed(file),
            results=results,
            busy=busy,
            ran=ran,
            can_edit=session.user.can_edit,
            simulator=studio.engine.simulator is not None,
        )

    return [
        Route("/flows", flow_list, methods=["GET"]),
        Route("/flows/{file:path}/lint", lint, methods=["POST"]),
        Route("/flows/{file:path}/scenarios", run_scenarios, methods=["POST"]),
        # Last of the studio's routes (app.py): /flows/FILE/versions and the others are
        # saving's and calls'.
        Route("/flows/{file:path}", flow_page, methods=["GET"]),
    ]


def standing_name(status: FlowStatus, check: Check | None) -> str:
    """The flow's name: of the version answering, else as the text names it, else its file."""
    return status.flow_name or (check.name if check is not None else None) or status.name


async def _csrf_refusal(request: Request) -> Response | None:
    """None when the request carries its session's CSRF token (and comes from this site),
    else the page that says no. For POSTs that change nothing (``app.changes`` also asks for
    an editor)."""
    form = await read_form(request)
    if csrf_ok(request, request.state.session, form.get("csrf")):
        return None
    why = "This form is out of date (or came from another site). Reload the page and try again."
    return render(request, "refused.html", 403, why=why)


def _url(request: Request, name: str) -> str:
    return f"{root_of(request)}/flows/{quote(name)}"


def _typed(text: str) -> str:
    """A textarea's text as the file would hold it (browsers send lines ending in CR LF)."""
    return text.replace("\r\n", "\n")


def _disk(file: str) -> tuple[str, Diagnostic | None]:
    """The flow file's text now, and why it cannot be read as a flow (too large, not UTF-8).
    Gone since it was found: 404."""
    try:
        return read_file(Path(file)), None
    except SourceError as exc:
        return exc.text, exc.diagnostic
    except OSError:
        raise HTTPException(404, "no such flow file") from None


def _drawing(check: Check | None, answering: Snapshot, file: str) -> tuple[Diagram | None, str]:
    """The diagram to show, and what it is of: this text, or, when the text cannot be drawn,
    the version answering calls."""
    if check is not None and check.drawable is not None:
        return diagram(check.drawable), "text"
    live = answering.flows.get(file)
    if live is not None:
        return diagram(live.flow), "live"
    return None, "none"


def _problems(problems: tuple[Diagnostic, ...] | list[Diagnostic]) -> list[dict[str, Any]]:
    return [
        {
            "line": d.line,
            "col": d.col,
            "rule": d.rule,
            "severity": str(d.severity),
            "message": d.message,
            "hint": d.hint,
        }
        for d in problems
    ]


def _line_count(text: str) -> int:
    return text.count("\n") + 1


def _gutter(text: str, problems: tuple[Diagnostic, ...]) -> list[tuple[int, str, str]]:
    """Each line's number, the problems at it (for a title) and the worst one's severity."""
    at: dict[int, list[Diagnostic]] = {}
    count = _line_count(text)
    for d in problems:
        at.setdefault(min(max(d.line, 1), count), []).append(d)
    lines = []
    for n in range(1, count + 1):
        here = at.get(n, [])
        worst = "error" if any(d.is_error for d in here) else "warning" if here else ""
        lines.append((n, "\n".join(f"{d.rule}: {d.message}" for d in here), worst))
    return lines
