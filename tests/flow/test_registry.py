"""The number → flow registry on real folders: routing, lint-gated reloads, snapshots."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.flow.registry import FlowSnapshot, Registry, Snapshot

ENV = {"ACME_TOKEN": "token"}


def flow(name: str, *numbers: str, extra: str = "") -> str:
    listed = ", ".join(f'"{n}"' for n in numbers)
    return (
        f"name: {name}\n"
        f"numbers: [{listed}]\n"
        f"instructions: You answer for {name}.\n"
        "tools:\n"
        "  bye:\n"
        "    description: End the call.\n"
        "    hangup: true\n"
        f"{extra}"
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "acme.yaml").write_text(flow("Acme", "+18005551212", "+442071234567"))
    (tmp_path / "dental.yaml").write_text(flow("Dental", "+14155550123"))
    return tmp_path


def loaded(folder: Path, **kwargs: str) -> Registry:
    registry = Registry(folder, env=ENV, **kwargs)
    report = registry.reload()
    assert report.ok, report.rejected
    return registry


def name_for(snapshot: Snapshot, dialled: str) -> str | None:
    found = snapshot.route(dialled)
    return None if found is None else found.flow.name


# --- loading and routing -----------------------------------------------------------------


def test_load(folder: Path) -> None:
    registry = Registry(folder, env=ENV)
    report = registry.reload()
    assert sorted(report.loaded) == [str(folder / "acme.yaml"), str(folder / "dental.yaml")]
    assert report.rejected == {} and report.removed == []
    assert set(registry.snapshot.flows) == set(report.loaded)
    assert set(registry.snapshot.by_number) == {"+18005551212", "+442071234567", "+14155550123"}
    assert registry.snapshot.catch_all is None


def test_a_new_registry_answers_nothing_until_loaded(folder: Path) -> None:
    registry = Registry(folder, env=ENV)
    assert registry.snapshot.route("+18005551212") is None


@pytest.mark.parametrize(
    "dialled",
    [
        "+18005551212",
        "sip:+18005551212@sip.example.com;user=phone",
        "sip:+18005551212@sip.example.com:5060;transport=tls",
        "sips:+18005551212@sip.example.com",
        "<sip:+18005551212@sip.example.com>",
        "<sip:+18005551212@sip.example.com;user=phone>;tag=abc",
        '"Acme Support" <sip:+18005551212@sip.example.com>;tag=x',
        "Acme <sip:+18005551212@sip.example.com>",
        "tel:+1-800-555-1212",
        "tel:+1.800.555.1212;phone-context=+1",
        "<tel:+18005551212>",
        "sip:18005551212@sip.example.com",
        "sip:0018005551212@sip.example.com",
        "sip:%2B18005551212@sip.example.com",
        "sip:+1 (800) 555-1212@sip.example.com",
        "SIP:+18005551212@SIP.EXAMPLE.COM",
        "  <sip:+18005551212@h>  ",
        "18005551212",
    ],
)
def test_route_every_carrier_form(folder: Path, dialled: str) -> None:
    assert name_for(loaded(folder).snapshot, dialled) == "Acme"


def test_route_second_number_of_a_flow(folder: Path) -> None:
    snapshot = loaded(folder).snapshot
    assert name_for(snapshot, "sip:00442071234567@trunk.example") == "Acme"
    assert name_for(snapshot, "tel:+44 20 7123 4567") == "Acme"
    assert name_for(snapshot, "sip:+14155550123@h") == "Dental"


def test_national_numbers_with_a_default_country_code(folder: Path) -> None:
    us = loaded(folder, default_country_code="1").snapshot
    assert name_for(us, "sip:8005551212@h") == "Acme"
    assert name_for(us, "tel:(415) 555-0123") == "Dental"
    assert name_for(us, "sip:18005551212@h") == "Acme"  # 11 digits: already international
    uk = loaded(folder, default_country_code="44").snapshot
    assert name_for(uk, "sip:02071234567@h") == "Acme"  # trunk 0 dropped
    assert name_for(uk, "sip:2071234567@h") == "Acme"
    # Without a default, a national number is not guessed into another country.
    assert name_for(loaded(folder).snapshot, "sip:8005551212@h") is None


@pytest.mark.parametrize(
    "dialled",
    [
        "+19995550000",
        "sip:+19995550000@h",
        "anonymous",
        "sip:anonymous@anonymous.invalid",
        "sip:support@acme.example",
        "",
        "<>",
        "tel:",
        "sip:@h",
    ],
)
def test_unknown_number_is_none(folder: Path, dialled: str) -> None:
    assert loaded(folder).snapshot.route(dialled) is None


@pytest.mark.parametrize(
    ("dialled", "expected"),
    [
        ("+19995550000", "Anything"),
        ("anonymous", "Anything"),
        ("sip:support@acme.example", "Anything"),
        ("", "Anything"),
        ("sip:+18005551212@h", "Acme"),  # a number's own flow wins over the catch-all
    ],
)
def test_catch_all(folder: Path, dialled: str, expected: str) -> None:
    (folder / "zz-any.yaml").write_text(flow("Anything", "*"))
    assert name_for(loaded(folder).snapshot, dialled) == expected


def test_flows_in_subfolders_and_yml_files(folder: Path) -> None:
    (folder / "team").mkdir()
    (folder / "team" / "sales.yml").write_text(flow("Sales", "+15550001111"))
    (folder / "notes.txt").write_text("not a flow")
    snapshot = loaded(folder).snapshot
    assert name_for(snapshot, "tel:+15550001111") == "Sales"
    assert len(snapshot.flows) == 3


# --- reload ------------------------------------------------------------------------------


def test_unchanged_files_are_not_reloaded(folder: Path) -> None:
    registry = loaded(folder)
    before = registry.snapshot
    report = registry.reload()
    assert report.loaded == [] and len(report.unchanged) == 2
    assert (
        registry.snapshot.flows[str(folder / "acme.yaml")]
        is before.flows[str(folder / "acme.yaml")]
    )


def test_broken_edit_keeps_the_last_good_version(folder: Path) -> None:
    registry = loaded(folder)
    good = registry.snapshot.route("+18005551212")
    assert good is not None
    path = folder / "acme.yaml"
    path.write_text(
        flow("Acme v2", "+18005551212").replace("    hangup: true\n", "    hangup: yes\n")
    )
    report = registry.reload()
    assert not report.ok
    [diagnostic] = report.rejected[str(path)]
    assert diagnostic.file == str(path)
    assert diagnostic.line == 7 and diagnostic.rule == "schema"
    assert "hangup" in diagnostic.message
    assert registry.problems[str(path)] == report.rejected[str(path)]
    assert registry.snapshot.route("+18005551212") is good
    assert name_for(registry.snapshot, "+442071234567") == "Acme"  # the old numbers too


@pytest.mark.parametrize(
    "broken",
    [
        "name: [unclosed\n",
        "",
        "- a list\n",
        "name: Acme\nname: twice\n",
        "name: !!python/object:os.system {}\n",
    ],
)
def test_any_broken_edit_keeps_the_last_good_version(folder: Path, broken: str) -> None:
    registry = loaded(folder)
    (folder / "acme.yaml").write_text(broken)
    report = registry.reload()
    assert report.rejected[str(folder / "acme.yaml")]
    assert name_for(registry.snapshot, "+18005551212") == "Acme"


def test_a_broken_file_that_never_loaded_answers_nothing(folder: Path) -> None:
    (folder / "new.yaml").write_text("name: New\nnumbers: [+15550009999]\ninstructions: x\n")
    registry = Registry(folder, env=ENV)
    report = registry.reload()
    [d] = report.rejected[str(folder / "new.yaml")]
    assert d.hint and "quotes" in d.hint
    assert registry.snapshot.route("+15550009999") is None


def test_a_fixed_edit_replaces_the_old_version(folder: Path) -> None:
    registry = loaded(folder)
    path = folder / "acme.yaml"
    path.write_text("name: [broken\n")
    assert not registry.reload().ok
    path.write_text(flow("Acme v3", "+18005551212"))
    report = registry.reload()
    assert report.ok and report.loaded == [str(path)]
    assert registry.problems[str(path)] == []
    assert name_for(registry.snapshot, "+18005551212") == "Acme v3"
    # The number the new version no longer lists stops answering.
    assert registry.snapshot.route("+442071234567") is None


def test_warnings_do_not_stop_a_load(folder: Path) -> None:
    extra = (
        "  lookup:\n"
        "    description: Look it up.\n"
        "    http:\n"
        '      url: "https://api.example.com/x"\n'
        '      headers: {Authorization: "Bearer {{ env.MISSING_TOKEN }}"}\n'
    )
    path = folder / "acme.yaml"
    path.write_text(flow("Acme", "+18005551212", extra=extra))
    registry = Registry(folder, env={})
    report = registry.reload()
    assert report.ok
    assert str(path) in report.loaded
    assert [d.rule for d in report.warnings[str(path)]] == ["template-env"]
    assert name_for(registry.snapshot, "+18005551212") == "Acme"


def test_a_new_file_claiming_an_owned_number_is_rejected(folder: Path) -> None:
    registry = loaded(folder)
    thief = folder / "zz-thief.yaml"
    thief.write_text(flow("Thief", "+15550001111", "+18005551212"))
    report = registry.reload()
    [d] = report.rejected[str(thief)]
    assert d.rule == "duplicate-number"
    assert str(folder / "acme.yaml") in d.message  # names the owner
    assert '"+18005551212"' in d.message
    assert (d.line, d.col) == (2, 27)  # the second number of the thief's list
    assert name_for(registry.snapshot, "+18005551212") == "Acme"
    # Nothing of the rejected file answers, not even its own free number.
    assert registry.snapshot.route("+15550001111") is None


def test_a_second_catch_all_is_rejected(folder: Path) -> None:
    (folder / "any1.yaml").write_text(flow("Any one", "*"))
    registry = loaded(folder)
    (folder / "any2.yaml").write_text(flow("Any two", "*"))
    report = registry.reload()
    [d] = report.rejected[str(folder / "any2.yaml")]
    assert d.rule == "duplicate-number" and "any1.yaml" in d.message
    assert name_for(registry.snapshot, "anonymous") == "Any one"


def test_a_file_rejected_for_a_conflict_loads_once_the_conflict_is_gone(folder: Path) -> None:
    registry = loaded(folder)
    late = folder / "late.yaml"
    late.write_text(flow("Late", "+14155550123"))
    assert str(late) in registry.reload().rejected
    # Dental gives the number up; the late file itself is not touched.
    (folder / "dental.yaml").write_text(flow("Dental", "+14155550999"))
    registry.reload()
    registry.reload()  # whatever order the files are read in
    assert name_for(registry.snapshot, "+14155550123") == "Late"
    assert name_for(registry.snapshot, "+14155550999") == "Dental"


def test_a_conflict_is_released_when_the_owner_is_removed(folder: Path) -> None:
    registry = loaded(folder)
    late = folder / "late.yaml"
    late.write_text(flow("Late", "+14155550123"))
    assert str(late) in registry.reload().rejected
    (folder / "dental.yaml").unlink()
    registry.reload()
    assert name_for(registry.snapshot, "+14155550123") == "Late"


def test_moving_a_number_between_files_in_one_save(folder: Path) -> None:
    registry = loaded(folder)
    # An author moves +14155550123 from dental.yaml to a new file that sorts before it.
    (folder / "a-new.yaml").write_text(flow("New owner", "+14155550123"))
    (folder / "dental.yaml").write_text(flow("Dental", "+14155550999"))
    registry.reload()
    registry.reload()
    assert name_for(registry.snapshot, "+14155550123") == "New owner"
    assert name_for(registry.snapshot, "+14155550999") == "Dental"


def test_a_removed_file_stops_answering(folder: Path) -> None:
    registry = loaded(folder)
    path = folder / "dental.yaml"
    path.unlink()
    report = registry.reload()
    assert report.removed == [str(path)]
    assert registry.snapshot.route("+14155550123") is None
    assert str(path) not in registry.snapshot.flows
    assert name_for(registry.snapshot, "+18005551212") == "Acme"


def test_a_removed_broken_file_forgets_its_problems(folder: Path) -> None:
    registry = loaded(folder)
    broken = folder / "broken.yaml"
    broken.write_text("name: [\n")
    registry.reload()
    assert str(broken) in registry.problems
    broken.unlink()
    report = registry.reload()
    assert str(broken) not in registry.problems
    assert report.removed == []  # it never answered


def test_a_file_too_large_is_rejected_and_not_read(folder: Path) -> None:
    registry = loaded(folder)
    big = folder / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(2 * 1024**3)
    report = registry.reload()
    assert [d.rule for d in report.rejected[str(big)]] == ["yaml-too-large"]
    assert name_for(registry.snapshot, "+18005551212") == "Acme"


def test_a_non_utf8_file_is_rejected_with_its_place(folder: Path) -> None:
    registry = loaded(folder)
    path = folder / "acme.yaml"
    path.write_bytes(flow("Caf\xe9", "+18005551212").encode("latin-1"))
    report = registry.reload()
    [d] = report.rejected[str(path)]
    assert (d.line, d.col) == (1, 10)
    assert name_for(registry.snapshot, "+18005551212") == "Acme"


# --- snapshots and versions --------------------------------------------------------------


def test_snapshots_are_immutable(folder: Path) -> None:
    snapshot = loaded(folder).snapshot
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.catch_all = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        snapshot.by_number["+19995550000"] = snapshot.by_number["+18005551212"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del snapshot.flows[next(iter(snapshot.flows))]  # type: ignore[attr-defined]
    one = snapshot.by_number["+18005551212"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.version = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="frozen"):
        one.flow.name = "changed"  # type: ignore[misc]


def test_an_old_snapshot_still_routes_to_the_old_version(folder: Path) -> None:
    registry = loaded(folder)
    in_progress = registry.snapshot  # held by a call that started before the edit
    old = in_progress.route("+18005551212")
    assert isinstance(old, FlowSnapshot)
    (folder / "acme.yaml").write_text(flow("Acme v2", "+18005551212"))
    (folder / "dental.yaml").unlink()
    registry.reload()
    assert name_for(registry.snapshot, "+18005551212") == "Acme v2"
    assert registry.snapshot.route("+14155550123") is None
    # The call in progress sees the world as it was.
    assert in_progress.route("+18005551212") is old
    assert name_for(in_progress, "+18005551212") == "Acme"
    assert name_for(in_progress, "+442071234567") == "Acme"
    assert name_for(in_progress, "+14155550123") == "Dental"
    assert old.flow.name == "Acme"
    assert registry.snapshot is not in_progress


def test_version_changes_when_the_text_changes(folder: Path) -> None:
    registry = loaded(folder)
    path = folder / "acme.yaml"
    first = registry.snapshot.by_number["+18005551212"]
    assert len(first.version) == 12
    assert all(c in "0123456789abcdef" for c in first.version)
    path.write_text(path.read_text() + "# a comment only\n")
    registry.reload()
    second = registry.snapshot.by_number["+18005551212"]
    assert second.version != first.version
    assert second.loaded_at >= first.loaded_at
    # Writing back the same text gives back the same version.
    path.write_text(flow("Acme", "+18005551212", "+442071234567"))
    registry.reload()
    assert registry.snapshot.by_number["+18005551212"].version == first.version


def test_same_text_same_version_across_registries(folder: Path) -> None:
    a = loaded(folder).snapshot.by_number["+18005551212"].version
    b = loaded(folder).snapshot.by_number["+18005551212"].version
    assert a == b


def test_a_file_refused_for_a_conflict_then_deleted_forgets_its_problems(folder: Path) -> None:
    registry = loaded(folder)
    thief = folder / "zz-thief.yaml"
    thief.write_text(flow("Thief", "+18005551212"))
    assert [d.rule for d in registry.reload().rejected[str(thief)]] == ["duplicate-number"]
    assert str(thief) in registry.problems
    thief.unlink()
    report = registry.reload()
    assert str(thief) not in registry.problems
    assert report.rejected == {} and report.removed == []
    assert name_for(registry.snapshot, "+18005551212") == "Acme"


def test_a_file_too_large_then_deleted_forgets_its_problems(folder: Path) -> None:
    registry = loaded(folder)
    big = folder / "big.yaml"
    big.write_text("# " + "x" * 2_000_000 + "\n")
    assert str(big) in registry.reload().rejected
    big.unlink()
    registry.reload()
    assert str(big) not in registry.problems
