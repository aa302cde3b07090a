"""Saving flows in the studio, and their versions: through real HTTP to a real engine (uvicorn
on a loopback port, the simulator as OpenAI), records in a SQLite file of the test's own (and
once in PostgreSQL).

The fixture here is local (the shared studio fixtures in tests/studio/conftest.py may replace
it): a session is a real signed cookie, opened for a named person, so two people can save.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import shutil
import stat
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL
from studio_kit import STUDIO_ENVIRON, assert_no_secrets, signed_in

from engine.records.settings import RecordsSettings, database_url
from engine.records.versions import FILE_ON_DISK
from engine.runner import running_engine
from engine.server import Engine, EngineSettings
from engine.simulator import Simulator
from engine.studio.flow_check import version_of
from engine.studio.passwords import hash_password
from engine.studio.settings import StudioSettings

from helpers import run, wait_for

REPO = Path(__file__).resolve().parents[2]
FLOW = "receptionist.yaml"
NUMBER = "+14155550123"
PASSWORD = "a-password-for-tests"


@dataclass
class Person:
    client: httpx.AsyncClient
    csrf: str

    async def save(
        self, text: str, base: str, *, htmx: bool = True, **extra: str
    ) -> httpx.Response:
        headers = {"HX-Request": "true"} if htmx else {}
        fields = {"text": text, "base_version": base, "csrf": self.csrf, **extra}
        return await self.client.post(f"/flows/{FLOW}/save", data=fields, headers=headers)


@dataclass
class Setup:
    url: str
    engine: Engine
    folder: Path
    sim: Simulator
    clients: list[httpx.AsyncClient]

    @property
    def path(self) -> Path:
        return self.folder / FLOW

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def live_version(self) -> str | None:
        for key, good in self.engine.registry.snapshot.flows.items():
            if key.endswith(FLOW):
                return good.version
        return None

    async def person(self, name: str) -> Person:
        """``name`` (alice, bob: editors; victor: a viewer) signed in with their password."""
        client = httpx.AsyncClient(base_url=self.url + "/studio", trust_env=False, timeout=10)
        self.clients.append(client)
        csrf = await signed_in(client, self.url + "/studio", name=name, password=PASSWORD)
        return Person(client, csrf)

    def assert_no_secrets(self, body: str) -> None:
        assert_no_secrets(body, self.engine.environ)


@contextlib.asynccontextmanager
async def studio(tmp_path: Path, records: URL | str | None = "sqlite") -> AsyncIterator[Setup]:
    """The engine with its studio on loopback over a folder holding ``receptionist.yaml``;
    records in a SQLite file (default), in the database ``records`` names, or none."""
    folder = tmp_path / "flows"
    folder.mkdir()
    shutil.copy(REPO / "flows" / FLOW, folder / FLOW)
    if records == "sqlite":
        records = database_url(f"sqlite:///{tmp_path / 'records.db'}")
    assert records is None or isinstance(records, URL)
    kept = RecordsSettings(url=records, replica="test") if records is not None else None
    users = tmp_path / "studio-users"
    users.write_text(
        "".join(
            f"{name}:{role}:{hash_password(PASSWORD, n=2**10)}\n"
            for name, role in (("alice", "editor"), ("bob", "editor"), ("victor", "viewer"))
        )
    )
    settings = StudioSettings(users_file=users)
    async with Simulator() as sim:
        engine = Engine(
            EngineSettings(
                flows_dir=str(folder), openai=sim.config(), records=kept, studio=settings
            ),
            environ=dict(STUDIO_ENVIRON),
        )
        engine.simulator = sim
        async with running_engine(engine) as url:
            setup = Setup(url, engine, folder, sim, [])
            try:
                yield setup
            finally:
                for client in setup.clients:
                    await client.aclose()
                for call in list(sim.calls.values()):
                    if not call.ended:
                        await call.hang_up()


def changed(text: str, greeting: str = "Hello from the studio!") -> str:
    return re.sub(r"^greeting: .*$", f"greeting: {greeting}", text, count=1, flags=re.M)


def editor_text(page: str) -> str:
    """The text in the page's editor, as the browser reads it (one newline after the tag is
    not part of it)."""
    found = re.search(r'<textarea[^>]*data-testid="editor"[^>]*>\n?(.*?)</textarea>', page, re.S)
    assert found, "no editor on the page"
    return html.unescape(found.group(1))


async def kept_versions(setup: Setup) -> list[tuple[str, str, str]]:
    store = setup.engine.records.versions
    assert store is not None
    return [(v.version, v.saved_by, v.how) for v in await store.history(FLOW)]


def test_a_good_save_writes_the_file_goes_live_and_is_kept(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as s:
            alice = await s.person("alice")
            before = s.text()
            base = version_of(before)
            assert s.live_version() == base
            mode = stat.S_IMODE(s.path.stat().st_mode)
            new = changed(before)
            # A browser's textarea sends CRLF line ends: the file keeps plain ones.
            r = await alice.save(new.replace("\n", "\r\n"), base)
            assert r.status_code == 200, r.text
            assert 'data-testid="saved"' in r.text and 'data-testid="live"' in r.text
            assert "Saved" in r.text and "live" in r.text
            assert s.text() == new
            assert stat.S_IMODE(s.path.stat().st_mode) == mode
            assert s.live_version() == version_of(new)
            # The editor's base_version moves on to the saved version (htmx out-of-band swap).
            assert f'value="{version_of(new)}" hx-swap-oob=' in r.text
            # No temporary file is left beside it.
            assert sorted(p.name for p in s.folder.iterdir()) == [FLOW]
            versions = await wait_for(lambda: kept_versions(s), what="the versions kept")
            assert (version_of(new), "alice", "saved") in versions
            # The version the engine loaded at start is kept too, and the save's own version
            # is not also filed as "loaded" by the reload that took it.
            await wait_for(
                lambda: _has(s, (base, FILE_ON_DISK, "loaded")), what="the loaded version kept"
            )
            assert [v for v in await kept_versions(s) if v[0] == version_of(new)] == [
                (version_of(new), "alice", "saved")
            ]

    run(main(), timeout=30)


async def _has(setup: Setup, row: tuple[str, str, str]) -> bool:
    return row in await kept_versions(setup)


def test_a_save_with_errors_writes_nothing_and_lists_them(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as s:
            alice = await s.person("alice")
            before = s.text()
            base = version_of(before)
            broken = before.replace("name: Example Dental receptionist\n", "")
            broken = broken.replace("transfer: ", "transfer_to: ")
            r = await alice.save(broken, base)
            assert r.status_code == 200
            assert 'data-testid="save-refused"' in r.text
            assert 'class="problem error"' in r.text and "data-line=" in r.text
            assert s.text() == before and s.live_version() == base
            # Without htmx: a whole page, 422, the broken text kept in the editor.
            r = await alice.save(broken, base, htmx=False)
            assert r.status_code == 422
            assert editor_text(r.text) == broken
            assert s.text() == before and s.live_version() == base
            store = s.engine.records.versions
            assert store is not None
            assert all(v[2] == "loaded" for v in await kept_versions(s))

    run(main(), timeout=30)


def test_a_save_with_warnings_only_is_allowed_and_shows_them(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as s:
            alice = await s.person("alice")
            before = s.text()
            # A deprecated transcription model is a warning, not an error.
            warned = before.replace(
                "voice: cedar\n", "voice: cedar\ntranscription:\n  model: whisper-1\n"
            )
            r = await alice.save(warned, version_of(before))
            assert r.status_code == 200, r.text
            assert 'data-testid="saved"' in r.text
            assert 'class="problem warning"' in r.text
            assert s.text() == warned
            assert s.live_version() == version_of(warned)

    run(main(), timeout=30)


def test_a_number_another_flow_answers_is_an_error_before_anything_is_written(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with studio(tmp_path) as s:
            other = changed(s.text(), "Another line.").replace(NUMBER, "+14155550124")
            (s.folder / "other.yaml").write_text(other, encoding="utf-8")
            s.engine.reload_flows()
            alice = await s.person("alice")
            before = s.text()
            taken = before.replace(NUMBER, "+14155550124")
            r = await alice.save(taken, version_of(before))
            assert 'data-testid="save-refused"' in r.text
            assert 'data-rule="duplicate-number"' in r.text
            assert s.text() == before and s.live_version() == version_of(before)

    run(main(), timeout=30)


def test_two_people_saving_from_the_same_version_the_second_is_told(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as s:
            alice = await s.person("alice")
            bob = await s.person("bob")
            before = s.text()
            base = version_of(before)
            texts = {
                "alice": changed(before, "Alice was here."),
                "bob": changed(before, "Bob was here."),
            }
            people = {"alice": alice, "bob": bob}
            # At once: one process, saves of one file taken one at a time; either may be first.
            answers = dict(
                zip(
                    people,
                    await asyncio.gather(*(people[n].save(texts[n], base) for n in people)),
                    strict=True,
                )
            )
            first = next(n for n, r in answers.items() if 'data-testid="saved"' in r.text)
            second = "bob" if first == "alice" else "alice"
            told = answers[second].text
            assert 'data-testid="save-conflict"' in told, told
            assert s.text() == texts[first] and s.live_version() == version_of(texts[first])
            # The second is told who saved the other version, and what differs; their text
            # is not lost.
            assert f'data-testid="their-author">{first}<' in told
            assert version_of(texts[first]) in told
            assert 'data-testid="diff"' in told
            assert "Bob was here." in told and "Alice was here." in told
            assert 'data-change="+"' in told and 'data-change="-"' in told
            s.assert_no_secrets(told)
            # Without htmx: the flow's whole page, their text in the editor, still 409.
            page = await people[second].save(texts[second], base, htmx=False)
            assert page.status_code == 409
            assert 'data-testid="save-conflict"' in page.text
            assert editor_text(page.text) == texts[second]
            assert f'name="base_version" value="{base}"' in page.text
            # They may then save theirs over the other, knowingly.
            r = await people[second].save(texts[second], base, replace=version_of(texts[first]))
            assert 'data-testid="saved"' in r.text
            assert s.text() == texts[second]
            versions = await kept_versions(s)
            assert (version_of(texts[second]), second, "saved") in versions
            assert (version_of(texts[first]), first, "saved") in versions

    run(main(), timeout=30)


def test_versions_list_page_diff_and_restore(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as s:
            alice = await s.person("alice")
            v1_text = s.text()
            v1 = version_of(v1_text)
            v2_text = changed(v1_text, "Version two.")
            v2 = version_of(v2_text)
            assert 'data-testid="saved"' in (await alice.save(v2_text, v1)).text
            await wait_for(lambda: _has(s, (v1, FILE_ON_DISK, "loaded")), what="v1 kept")

            page = await alice.client.get(f"/flows/{FLOW}/versions")
            assert page.status_code == 200
            assert 'data-testid="versions"' in page.text
            assert f'data-version="{v1}"' in page.text and f'data-version="{v2}"' in page.text
            assert page.text.index(f'data-version="{v2}"') < page.text.index(f'data-version="{v1}"')

            one = await alice.client.get(f"/flows/{FLOW}/versions/{v1}")
            assert one.status_code == 200
            assert 'data-testid="version-text"' in one.text
            assert 'data-line="1"' in one.text and "Example Dental" in one.text
            assert 'data-testid="restore"' in one.text
            assert f"diff?a={v1}&amp;b=current" in one.text
            s.assert_no_secrets(one.text + page.text)

            diff = await alice.client.get(f"/flows/{FLOW}/diff", params={"a": v1, "b": v2})
            assert diff.status_code == 200
            assert 'data-testid="diff"' in diff.text
            assert '<span class="diff-added" data-change="+">+greeting: Version two.' in diff.text
            assert '<span class="diff-removed" data-change="-">-greeting: Example' in diff.text

            # A viewer sees the version but no restore button, and may not restore.
            viewer = await s.person("victor")
            seen = await viewer.client.get(f"/flows/{FLOW}/versions/{v1}")
            assert seen.status_code == 200 and 'data-testid="restore"' not in seen.text
            refused = await viewer.client.post(
                f"/flows/{FLOW}/versions/{v1}/restore",
                data={"csrf": viewer.csrf, "base_version": v2},
            )
            assert refused.status_code == 403 and s.text() == v2_text

            # Restoring from a stale base is a conflict like a save's.
            stale = await alice.client.post(
                f"/flows/{FLOW}/versions/{v1}/restore",
                data={"csrf": alice.csrf, "base_version": v1},
                headers={"HX-Request": "true"},
            )
            assert 'data-testid="save-conflict"' in stale.text and s.text() == v2_text

            restored = await alice.client.post(
                f"/flows/{FLOW}/versions/{v1}/restore",
                data={"csrf": alice.csrf, "base_version": v2},
            )
            assert restored.status_code == 200 and 'data-testid="saved"' in restored.text
            assert s.text() == v1_text and s.live_version() == v1
            assert (await kept_versions(s))[0] == (v1, "alice", "restored")

            missing = await alice.client.get(f"/flows/{FLOW}/versions/0123456789ab")
            assert missing.status_code == 404
            bad = await alice.client.get(f"/flows/{FLOW}/versions/..%2F..%2Fetc")
            assert bad.status_code == 404

    run(main(), timeout=30)


def test_a_calls_flow_version_after_an_outside_edit_resolves(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as s:
            alice = await s.person("alice")
            edited = changed(s.text(), "Edited in a text editor.")
            outside = s.folder / ".receptionist.tmp"
            outside.write_text(edited, encoding="utf-8")
            os.replace(outside, s.path)  # as an editor saves: a rename
            await wait_for(
                lambda: s.live_version() == version_of(edited), 5, "the watcher to take the edit"
            )
            placed = await s.sim.place_call(s.url + "/webhooks/openai", to=NUMBER)
            assert placed.status == 200
            await placed.call.wait_connected(timeout=5)
            await placed.call.hang_up()  # its record is written when it is over
            record = await wait_for(
                lambda: s.engine.records.get(placed.call_id), 5, "the call's record"
            )
            assert record.flow_version == version_of(edited)
            # Resolves at once (waiting to be written, or written), and for good.
            page = await alice.client.get(f"/flows/{FLOW}/versions/{record.flow_version}")
            assert page.status_code == 200 and "Edited in a text editor." in page.text
            # And from the call's page, by its link to the version it ran.
            call_page = await alice.client.get(f"/calls/{placed.call_id}")
            link = re.search(
                r'<a[^>]*data-testid="flow-version"[^>]*href="([^"]+)"', call_page.text
            )
            link = link or re.search(
                r'<a[^>]*href="([^"]+)"[^>]*data-testid="flow-version"', call_page.text
            )
            assert link, call_page.text
            href = html.unescape(link.group(1))
            assert href.endswith(f"/flows/{FLOW}/versions/{record.flow_version}")
            followed = await alice.client.get(s.url + href)
            assert followed.status_code == 200 and "Edited in a text editor." in followed.text
            await wait_for(
                lambda: _has(s, (record.flow_version, FILE_ON_DISK, "loaded")),
                what="the edited version kept",
            )

    run(main(), timeout=30)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """No file can be made in ``folder``: its mode for others, an immutable flag for root
    (whom modes do not stop); skipped where neither holds."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if (
        chattr is None
        or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode
    ):
        pytest.skip("running as root, and this file system takes no immutable flag (chattr +i)")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def test_a_failed_write_leaves_the_old_file_and_says_why(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as s:
            alice = await s.person("alice")
            before = s.text()
            base = version_of(before)
            await wait_for(lambda: _has(s, (base, FILE_ON_DISK, "loaded")), what="v1 kept")
            with read_only(s.folder):
                r = await alice.save(changed(before), base)
                page = await alice.save(changed(before), base, htmx=False)
            assert r.status_code == 200
            assert 'data-testid="save-failed"' in r.text
            assert "the file could not be written: " in r.text
            assert "Nothing was changed" in r.text
            assert s.text() == before and s.live_version() == base
            assert sorted(p.name for p in s.folder.iterdir()) == [FLOW]
            assert page.status_code == 500 and editor_text(page.text) == changed(before)
            assert [v[2] for v in await kept_versions(s)] == ["loaded"]

    run(main(), timeout=30)


def test_without_records_saving_works_and_versions_say_they_are_not_kept(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path, records=None) as s:
            alice = await s.person("alice")
            before = s.text()
            new = changed(before)
            r = await alice.save(new, version_of(before))
            assert 'data-testid="saved"' in r.text and 'data-testid="live"' in r.text
            assert "not kept" in r.text
            assert s.text() == new
            page = await alice.client.get(f"/flows/{FLOW}/versions")
            assert page.status_code == 200
            assert 'data-testid="versions-off"' in page.text
            assert f'data-version="{version_of(new)}"' in page.text
            gone = await alice.client.get(f"/flows/{FLOW}/versions/{version_of(before)}")
            assert gone.status_code == 404 and "records database" in gone.text

    run(main(), timeout=30)


def test_saving_needs_the_csrf_token_and_an_existing_flow(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as s:
            alice = await s.person("alice")
            before = s.text()
            r = await alice.client.post(
                f"/flows/{FLOW}/save",
                data={"text": changed(before), "base_version": version_of(before)},
            )
            assert r.status_code == 403 and s.text() == before
            r = await alice.client.post(
                "/flows/../outside.yaml/save",
                data={"text": before, "base_version": "", "csrf": alice.csrf},
            )
            assert r.status_code == 404
            assert not (tmp_path / "outside.yaml").exists()

    run(main(), timeout=30)


def test_versions_kept_in_postgresql(tmp_path: Path) -> None:
    from records.records_kit import postgres_database

    with postgres_database() as url:

        async def main() -> None:
            async with studio(tmp_path, records=url) as s:
                alice = await s.person("alice")
                bob = await s.person("bob")
                before = s.text()
                base = version_of(before)
                hers = changed(before, "Kept in PostgreSQL.")
                his = changed(before, "Bob.")
                first, second = await asyncio.gather(alice.save(hers, base), bob.save(his, base))
                # Either may be first; the other is told who.
                if 'data-testid="saved"' in first.text:
                    winner, kept, told = "alice", hers, second
                else:
                    winner, kept, told = "bob", his, first
                assert f'data-testid="their-author">{winner}<' in told.text
                await wait_for(lambda: _has(s, (base, FILE_ON_DISK, "loaded")), what="loaded")
                assert (version_of(kept), winner, "saved") in await kept_versions(s)
                page = await alice.client.get(f"/flows/{FLOW}/versions/{version_of(kept)}")
                assert page.status_code == 200 and version_of(kept) in page.text
                assert s.text() == kept

        run(main(), timeout=60)
