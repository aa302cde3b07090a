"""Saving a flow from its page, and restoring an older version: both go through ``Saver``
(``saves.py``): the lint gate, the conflict check, the atomic write, the version kept.

``POST /flows/FILE/save`` (``text``, ``base_version``, ``csrf``; ``replace``: save over the
version named, after a conflict) and ``POST /flows/FILE/versions/VERSION/restore``
(``base_version``, ``csrf``). With htmx the answer is the fragment ``_saved.html`` for
``#save-result`` (always 200: htmx swaps only those); a plain form post gets a whole page
(flows.py's ``flow_page``) with the result, and the text as typed in the editor unless it was
saved: nothing typed is lost.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import version_pages
from .context import Studio
from .forms import read_form
from .guards import changes
from .render import render
from .saves import SaveOutcome, Saver

__all__ = ["routes"]


async def answer(studio: Studio, request: Request, outcome: SaveOutcome) -> Response:
    """The result: for htmx, the fragment for ``#save-result``; for a plain form post, the
    flow's whole page with the result in it and, unless it was saved, the text as typed
    (and the version it started from, so a conflict stays one until it is looked at)."""
    if request.headers.get("hx-request"):
        return render(request, "_saved.html", 200, save=outcome, file=outcome.file, htmx=True)
    done = outcome.status in ("saved", "unchanged")
    if studio.flow_page is not None:
        kept = {} if done else {"base_version": outcome.base_version}
        return await studio.flow_page(
            request,
            outcome.file,
            typed=None if done else outcome.text,
            status_code=outcome.http_status,
            save=outcome,
            htmx=False,
            **kept,
        )
    # Not reached while flows.py is in the app (it sets flow_page): the result alone.
    return render(
        request, "_saved.html", outcome.http_status, save=outcome, file=outcome.file, htmx=False
    )


def routes(studio: Studio) -> list[BaseRoute]:
    saver = Saver(studio)
    pages = version_pages.VersionPages(studio, saver)

    async def save(request: Request) -> Response:
        name = request.path_params["file"]
        path = await asyncio.to_thread(studio.files.find, name)
        if path is None:
            return version_pages.not_found(request, f"There is no flow file named {name}.")
        form = await read_form(request)
        base = form.get("replace") or form.get("base_version", "")
        user = request.state.session.user.name
        outcome = await saver.save(name, path, form.get("text", ""), base, user)
        return await answer(studio, request, outcome)

    async def restore(request: Request) -> Response:
        name = request.path_params["file"]
        version = request.path_params["version"]
        path = await asyncio.to_thread(studio.files.find, name)
        if path is None:
            return version_pages.not_found(request, f"There is no flow file named {name}.")
        text = await pages.text_of(name, path, version)
        if text is None:
            return version_pages.not_found(
                request, f"No version {version} of {name} is kept, so it cannot be restored."
            )
        form = await read_form(request)
        user = request.state.session.user.name
        outcome = await saver.save(
            name, path, text, form.get("base_version", ""), user, how="restored"
        )
        return await answer(studio, request, outcome)

    return [
        Route("/flows/{file:path}/save", changes(save), methods=["POST"]),
        Route("/flows/{file:path}/versions/{version}/restore", changes(restore), methods=["POST"]),
        *pages.routes(),
    ]
