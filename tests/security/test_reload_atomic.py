"""Reload reads only complete files (issue #12, item 4).

A flow rewritten in place goes through an empty file and a half-written one, and a half cut
at a line break is valid YAML that lints: calls were accepted with instructions cut
mid-file. The watcher now takes a changed file only when two looks in a row find it the
same; a file written by rename is complete whenever it is seen.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from engine.flow.registry import Registry
from engine.runner import running_engine
from engine.server import Engine, EngineSettings
from engine.simulator import Simulator

NUMBER = "+18005551212"


def flow_text(version: int, lines: int = 40) -> str:
    """A flow whose instructions end with a marker: a cut copy lacks the marker."""
    body = "".join(f"  Rule {n} of version {version}: keep answers short.\n" for n in range(lines))
    return (
        f"name: Rewritten v{version}\n"
        f'numbers: ["{NUMBER}"]\n'
        "instructions: |\n"
        f"{body}"
        f"  END OF VERSION {version}\n"
    )


def halves(text: str) -> tuple[str, str]:
    """Cut at a line break in the middle: the first half is a valid, lint-clean flow."""
    cut = text.index("\n", len(text) // 2) + 1
    return text[:cut], text[cut:]


def instructions(registry: Registry) -> str:
    return registry.snapshot.by_number[NUMBER].flow.instructions


def test_a_file_written_in_two_halves_is_taken_only_when_complete(tmp_path: Path) -> None:
    path = tmp_path / "flows" / "line.yaml"
    path.parent.mkdir()
    path.write_text(flow_text(1), encoding="utf-8")
    registry = Registry(path.parent)
    registry.reload()
    first, second = halves(flow_text(2))
    # The half on its own is a good flow: only its being unfinished keeps it out.
    half_only = tmp_path / "half" / "line.yaml"
    half_only.parent.mkdir()
    half_only.write_text(first, encoding="utf-8")
    assert Registry(half_only.parent).reload().loaded == [str(half_only)]

    with path.open("w", encoding="utf-8") as out:
        out.write(first)
        out.flush()
        report = registry.reload(settle=True)
        assert report.pending == [str(path)] and not report.loaded
        assert instructions(registry).endswith("END OF VERSION 1\n")
        out.write(second)
        out.flush()
        report = registry.reload(settle=True)  # changed since the last look: wait again
        assert report.pending == [str(path)] and not report.loaded
    report = registry.reload(settle=True)  # the same twice: complete
    assert report.loaded == [str(path)]
    assert instructions(registry).endswith("END OF VERSION 2\n")
    assert registry.reload(settle=True).unchanged == [str(path)]


def test_a_file_written_by_rename_is_taken_whole(tmp_path: Path) -> None:
    path = tmp_path / "line.yaml"
    path.write_text(flow_text(1), encoding="utf-8")
    registry = Registry(tmp_path)
    registry.reload()
    temporary = tmp_path / ".line.yaml.tmp"  # not a flow file: the watcher ignores it
    temporary.write_text(flow_text(2), encoding="utf-8")
    os.replace(temporary, path)
    while not registry.reload(settle=True).loaded:
        pass  # at most two looks: the renamed file never changes again
    assert instructions(registry).endswith("END OF VERSION 2\n")


def test_calls_during_in_place_rewrites_never_get_a_cut_flow(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    path = folder / "line.yaml"
    path.write_text(flow_text(0), encoding="utf-8")
    rewrites = 30

    async def rewrite() -> None:
        for version in range(1, rewrites + 1):
            first, second = halves(flow_text(version))
            with path.open("w", encoding="utf-8") as out:  # truncates: an empty file first
                await asyncio.sleep(0)
                out.write(first)
                out.flush()
                await asyncio.sleep(0)  # the watcher may look at the half now
                out.write(second)
            await asyncio.sleep(0.005)

    async def main() -> None:
        async with Simulator() as sim:
            settings = EngineSettings(
                flows_dir=str(folder), openai=sim.config(), reload_interval_s=0.002
            )
            engine = Engine(settings, environ={})
            async with running_engine(engine) as url:
                hook = url + "/webhooks/openai"
                writer = asyncio.create_task(rewrite())
                placed = []
                while not writer.done():
                    placed.append(await sim.place_call(hook, to=NUMBER))
                await writer
                final = f"END OF VERSION {rewrites}\n"
                while not instructions(engine.registry).endswith(final):
                    await asyncio.sleep(0.01)
                placed.append(await sim.place_call(hook, to=NUMBER))
                for call in placed:
                    assert call.status == 200
                    given = call.call.accept_body["instructions"]
                    assert given.rstrip().split("\n")[-1].startswith("END OF VERSION"), given
                assert placed[-1].call.accept_body["instructions"].endswith(final.strip())
                for call in placed:
                    await call.call.hang_up()
                while engine.calls:
                    await asyncio.sleep(0.01)

    asyncio.run(asyncio.wait_for(main(), 60))
