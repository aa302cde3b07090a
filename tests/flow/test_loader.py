"""The position-keeping YAML loader: what it refuses, how it reads scalars, where nodes sit.

Everything a flow author can get wrong in the YAML itself must come back as one diagnostic
with a place in the file, never as an exception or a silently different value.
"""

from __future__ import annotations

import io
import pathlib
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.flow.diagnostics import Diagnostic, Span
from engine.flow.lint import collect_files, lint_files, lint_text, read_file
from engine.flow.readable import blank_lines
from engine.flow.source import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    SourceDocument,
    SourceError,
    _Builder,
    _compose,
    _compose_fast,
    load_source,
)

GOOD = """\
name: Acme
numbers: ["+18005551212"]
instructions: You are Acme's agent.
"""


def refused(text: str) -> Diagnostic:
    """The one diagnostic ``load_source`` raises for ``text``."""
    with pytest.raises(SourceError) as caught:
        load_source("flow.yaml", text)
    diagnostic = caught.value.diagnostic
    assert diagnostic.file == "flow.yaml"
    assert diagnostic.line >= 1 and diagnostic.col >= 1
    return diagnostic


def only(text: str) -> Diagnostic:
    """The single diagnostic ``lint_text`` reports for ``text``."""
    found = lint_text("flow.yaml", text, env={}).diagnostics
    assert len(found) == 1, found
    return found[0]


# --- duplicate keys ----------------------------------------------------------------------


def test_duplicate_top_level_key_names_both_lines() -> None:
    d = refused(GOOD + "name: Other\n")
    assert d.rule == "yaml-duplicate-key"
    assert (d.line, d.col) == (4, 1)  # the second one
    assert '"name"' in d.message
    assert "line 1" in d.message  # the first one


def test_duplicate_nested_key_names_both_lines() -> None:
    text = GOOD + (
        "tools:\n"
        "  bye:\n"
        "    description: End the call.\n"
        "    hangup: true\n"
        "    description: Hang up.\n"
    )
    d = refused(text)
    assert d.rule == "yaml-duplicate-key"
    assert (d.line, d.col) == (8, 5)
    assert '"description"' in d.message and "line 6" in d.message


def test_duplicate_key_in_flow_mapping() -> None:
    d = refused("a: {x: 1, y: 2, x: 3}\n")
    assert d.rule == "yaml-duplicate-key"
    assert (d.line, d.col) == (1, 17)
    assert "line 1" in d.message


def test_same_key_in_different_mappings_is_fine() -> None:
    doc = load_source("f", "a: {x: 1}\nb: {x: 2}\n")
    assert doc.data == {"a": {"x": 1}, "b": {"x": 2}}


# --- tags --------------------------------------------------------------------------------


class Boom:
    constructed = False

    def __init__(self, *args: object, **kwargs: object) -> None:
        Boom.constructed = True


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("name: !!python/object:os.system {}\n", "!!python/object:os.system"),
        ("name: !!python/object/apply:os.system ['echo pwned']\n", "!!python/object/apply"),
        (f"name: !!python/object/new:{__name__}.Boom []\n", "!!python/object/new"),
        ("name: !custom hello\n", "!custom"),
        ("name: !!binary aGVsbG8=\n", "!!binary"),
        ("name: !!set {a, b}\n", "!!set"),
        ("!custom\nname: x\n", "!custom"),
    ],
)
def test_tags_are_refused_and_never_constructed(text: str, shown: str) -> None:
    Boom.constructed = False
    d = refused(text)
    assert d.rule == "yaml-tag"
    assert shown in d.message
    assert not Boom.constructed


def test_tag_position_points_at_the_tagged_value() -> None:
    d = refused("name: ok\nvoice: !custom marin\n")
    assert (d.line, d.col) == (2, 8)


def test_explicit_standard_tags_are_allowed() -> None:
    doc = load_source("f", 'a: !!str 123\nb: !!int "7"\n')
    assert doc.data == {"a": "123", "b": 7}


# --- aliases -----------------------------------------------------------------------------


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['lol0: &lol0 "lol"']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*lol{level - 1}"] * width)
        lines.append(f"lol{level}: &lol{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused() -> None:
    # 9**9 (387 million) values if expanded; the budget stops it after MAX_NODES.
    d = refused(billion_laughs())
    assert d.rule == "yaml-too-large"
    assert f"{MAX_NODES:,}" in d.message
    assert "alias" in d.message


def test_billion_laughs_through_lint_text_and_cli(tmp_path: Path) -> None:
    assert only(billion_laughs()).rule == "yaml-too-large"
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs(levels=12))
    assert main(["lint", str(bomb)]) == 1


def test_small_alias_use_is_fine() -> None:
    doc = load_source("f", "a: &x [1, 2]\nb: *x\n")
    assert doc.data == {"a": [1, 2], "b": [1, 2]}


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a\n  b: *a\n", "&r {x: *r}\n"])
def test_self_referencing_alias_is_refused(text: str) -> None:
    d = refused(text)
    assert d.rule == "yaml-too-deep"
    assert "itself" in d.message


def test_undefined_alias() -> None:
    d = refused("a: *nowhere\n")
    assert d.rule == "yaml-syntax"
    assert (d.line, d.col) == (1, 4)
    assert d.hint and "anchor" in d.hint


def test_duplicate_anchor_names_first_line() -> None:
    d = refused("a: &x 1\nb: &x 2\n")
    assert d.rule == "yaml-syntax"
    assert d.line == 2
    assert "&x" in d.message and "line 1" in d.message


# --- depth and size ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[" * 10_000 + "]" * 10_000,
        "{a: " * 10_000 + "1" + "}" * 10_000,
        "a: " + "[" * 10_000 + "]" * 10_000 + "\n",
        "".join("- " * 10_000) + "x\n",
    ],
    ids=["flow-seq", "flow-map", "nested-value", "block-seq"],
)
def test_ten_thousand_deep_nesting_is_refused(text: str) -> None:
    d = refused(text)
    assert d.rule == "yaml-too-deep"


def test_depth_just_under_the_limit_loads() -> None:
    depth = MAX_DEPTH - 1
    doc = load_source("f", "a: " + "[" * depth + "]" * depth + "\n")
    assert isinstance(doc.data["a"], list)


def test_block_mapping_deeper_than_the_limit() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5))
    d = refused(text)
    assert d.rule == "yaml-too-deep"
    assert d.line == MAX_DEPTH + 2  # the first mapping past the limit


def test_text_over_the_size_limit_is_refused() -> None:
    d = refused("a: b\n" * (MAX_FILE_BYTES // 5 + 1))
    assert d.rule == "yaml-too-large"
    assert (d.line, d.col) == (1, 1)
    assert f"{MAX_FILE_BYTES:,}" in d.message
    assert d.hint


def test_size_limit_counts_bytes_not_characters() -> None:
    # 200k three-byte characters: fewer characters than the limit, more bytes.
    d = refused("a: " + "€" * (MAX_FILE_BYTES // 3 + 10) + "\n")
    assert d.rule == "yaml-too-large"


def test_text_at_the_size_limit_is_read() -> None:
    text = "a: " + "b" * (MAX_FILE_BYTES - 4) + "\n"
    assert len(text.encode()) == MAX_FILE_BYTES
    assert load_source("f", text).data == {"a": "b" * (MAX_FILE_BYTES - 4)}


class CountingReads:
    """Wraps a binary file and counts the bytes handed out."""

    total = 0

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw = raw

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        CountingReads.total += len(data)
        return data

    def __getattr__(self, name: str) -> object:
        return getattr(self.raw, name)

    def __enter__(self) -> CountingReads:
        return self

    def __exit__(self, *exc: object) -> None:
        self.raw.close()


def test_engine_lint_on_a_5_mb_file_does_not_read_it_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"name: x\n" + b"# padding padding padding padding\n" * (5 * 1024 * 1024 // 34))
    assert big.stat().st_size > 5_000_000
    real_open = pathlib.Path.open

    def counting_open(self: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        handle = real_open(self, mode, *args, **kwargs)  # type: ignore[call-overload]
        return CountingReads(handle) if "b" in mode else handle

    def no_read_bytes(self: Path) -> bytes:
        raise AssertionError("read_bytes reads the whole file")

    monkeypatch.setattr(pathlib.Path, "open", counting_open)
    monkeypatch.setattr(pathlib.Path, "read_bytes", no_read_bytes)
    CountingReads.total = 0
    assert main(["lint", str(big)]) == 1
    assert CountingReads.total <= MAX_FILE_BYTES + 1
    out = capsys.readouterr().out
    assert f"{big}:1:1: this file is larger than" in out
    assert "[yaml-too-large]" in out
    assert "padding" not in out  # no source line of a file that was never read


def test_a_huge_sparse_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as handle:
        handle.truncate(4 * 1024**3)  # 4 GiB of holes: reading it all would not finish soon
    with pytest.raises(SourceError) as caught:
        read_file(huge)
    assert caught.value.diagnostic.rule == "yaml-too-large"
    report = lint_files([huge])
    assert [d.rule for d in report.diagnostics] == ["yaml-too-large"]


# --- what the file holds -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# only a comment\n", "---\n", "--- # nothing\n...\n"]
)
def test_empty_file(text: str) -> None:
    assert load_source("f", text).data is None
    d = only(text)
    assert d.rule == "not-a-flow"
    assert "empty" in d.message
    assert d.col == 1 and 1 <= d.line <= text.count("\n") + 1


@pytest.mark.parametrize(
    ("text", "what"),
    [("- name: a\n- name: b\n", "a list"), ("just words\n", "text"), ("42\n", "a number")],
)
def test_a_document_that_is_not_a_mapping(text: str, what: str) -> None:
    d = only(text)
    assert d.rule == "not-a-flow"
    assert what in d.message


def test_several_documents_are_refused_at_the_second() -> None:
    d = refused(GOOD + "---\nname: Another\n")
    assert d.rule == "yaml-syntax"
    assert d.line == 4
    assert "one document" in d.message


def test_one_document_with_explicit_markers_is_fine() -> None:
    assert load_source("f", "---\n" + GOOD + "...\n").data["name"] == "Acme"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: a\n\tnumbers: x\n", (2, 1)),
        ("name:\ta\n", (1, 6)),
        ("tools:\n\tbye:\n\t\thangup: true\n", (2, 1)),
    ],
)
def test_tabs_get_the_spaces_hint(text: str, where: tuple[int, int]) -> None:
    d = refused(text)
    assert d.rule == "yaml-syntax"
    assert (d.line, d.col) == where
    assert d.hint == "YAML indents with spaces, never tabs"


def test_tab_inside_quoted_text_is_fine() -> None:
    assert load_source("f", 'name: "a\tb"\n').data == {"name": "a\tb"}


def test_non_utf8_bytes_point_at_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: Acme\ninstructions: Bienvenue au caf\xe9\n")
    report = lint_files([path])
    [d] = report.diagnostics
    assert d.rule == "not-a-flow"
    assert (d.line, d.col) == (2, 31)
    assert "UTF-8" in d.message and "0xE9" in d.message
    assert d.hint and "UTF-8" in d.hint


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\ud800", "\ufffe"])
def test_control_characters_are_a_diagnostic(char: str) -> None:
    d = refused(f"name: Acme\nvoice: mar{char}in\n")
    assert d.rule == "yaml-syntax"
    assert (d.line, d.col) == (2, 11)
    assert f"U+{ord(char):04X}" in d.message


def test_utf8_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert read_file(path) == GOOD
    assert lint_files([path]).diagnostics == []
    # Text that still carries the BOM (read by someone else) loads the same.
    doc = load_source("f", "\ufeff" + GOOD)
    assert doc.data["name"] == "Acme"
    assert doc.keys[("name",)] == Span(1, 1, 1, 5)


def test_crlf_line_ends() -> None:
    doc = load_source("f", GOOD.replace("\n", "\r\n"))
    assert doc.data["instructions"] == "You are Acme's agent."
    assert doc.values[("numbers",)].line == 2


def test_non_text_key_is_refused() -> None:
    d = refused("? [a, b]\n: c\n")
    assert d.rule == "yaml-syntax"
    assert "key" in d.message


def test_unclosed_bracket_points_at_the_bracket() -> None:
    d = refused('numbers: ["+18005551212"\nname: x\n')
    assert d.rule == "yaml-syntax"
    assert (d.line, d.col) == (1, 10)
    assert "never closed" in d.message
    assert d.hint and d.hint.endswith('numbers: ["+18005551212"]')


def test_colon_in_plain_value_hint() -> None:
    d = refused("name: a\ngreeting: Hello: how are you\n")
    assert d.rule == "yaml-syntax"
    assert (d.line, d.col) == (2, 16)
    assert d.hint == 'put the whole value in quotes: greeting: "Hello: how are you"'


# --- syntax errors explained where the mistake is --------------------------------------------

FLOW_HEAD = GOOD + "tools:\n  end_call:\n"  # lines 1-5; the tool's keys start on line 6


@pytest.mark.parametrize(
    ("body", "where", "said", "hint"),
    [
        pytest.param(
            '    description: "Hang up.\n    hangup: true\n',
            (6, 18),
            "never closed",
            'end the text with `"` on this line: description: "Hang up."',
            id="unclosed-double-quote-at-end",
        ),
        pytest.param(
            "    description: 'Hang up.\n    hangup: true\n  other:\n    say: 'x'\n",
            (6, 18),
            "the next `'`, on line 9",
            "end the text with `'` on this line: description: 'Hang up.'",
            id="unclosed-quote-closed-by-a-later-one",
        ),
        pytest.param(
            "    description: Hang up.\n   hangup: true\n",
            (7, 4),
            "indented by 3 spaces",
            "indent it by 4 spaces to line up with `description:` on line 6, or by 2 to "
            "line up with `end_call:` on line 5",
            id="three-spaces",
        ),
        pytest.param(
            "    description: Hang up.\n      hangup: true\n",
            (7, 7),
            "indented more than `description:` on line 6",
            "line it up with `description:` (4 spaces) if it is another key of the same block",
            id="key-indented-under-a-value",
        ),
        pytest.param(
            "    description:Hang up.\n    hangup: true\n",
            (6, 16),
            "`description:` needs a space after the colon",
            "write `description: Hang up.`",
            id="no-space-after-colon",
        ),
        pytest.param(
            "    description: Hang up.\n    say:|\n      Goodbye.\n    hangup: true\n",
            (7, 8),
            "`say:` needs a space",
            None,
            id="block-sign-without-space",
        ),
        pytest.param(
            "    description: Hang up.\n    say: | Goodbye.\n    hangup: true\n",
            (7, 12),
            "text cannot follow `|` on the same line",
            None,
            id="text-after-block-sign",
        ),
        pytest.param(
            "    description: Hang up.\n    say: |\n    Goodbye.\n    hangup: true\n",
            (8, 5),
            "must be indented more than `say:`",
            "indent the lines of the text by 6 spaces",
            id="block-text-not-indented",
        ),
        pytest.param(
            "    description: Hang up.\n    say: |\n        Goodbye.\n      See you.\n",
            (9, 7),
            "indented less than the first line of the text",
            "indent every line of the text at least as much as its first line (8 spaces)",
            id="block-text-line-less-indented",
        ),
        pytest.param(
            "    description: “Hang up: the caller is done.”\n    hangup: true\n",
            (6, 18),
            "typographic quote",
            'use straight quotes: description: "Hang up: the caller is done."',
            id="curly-quotes",
        ),
        pytest.param(
            "    description: 'It's the end.'\n    hangup: true\n",
            (6, 21),
            "ends the text in quotes",
            """write the value as "It's the end.", or double an apostrophe inside single """
            "quotes (`''`)",
            id="apostrophe-in-single-quotes",
        ),
        pytest.param(
            "    description: {{ vars.what }} ends the call\n    hangup: true\n",
            (6, 18),
            "starts with `{{` must be in quotes",
            'write it in quotes: description: "{{ vars.what }} ends the call"',
            id="template-first",
        ),
        pytest.param(
            "    description Hang up.\n    hangup: true\n",
            (6, 5),
            "`description` has no colon after it",
            "write `description: Hang up.`",
            id="no-colon",
        ),
        pytest.param(
            '    say: "Goodbye" and hang up\n    hangup: true\n',
            (6, 18),
            "ends the text in quotes",
            """put the whole value in quotes: '"Goodbye" and hang up'""",
            id="text-after-the-closing-quote",
        ),
        pytest.param(
            "    description: Hang up.\n    hangup: true\n    - goodbye\n",
            (8, 5),
            "list item is lined up with the key",
            None,
            id="list-item-among-keys",
        ),
    ],
)
def test_syntax_error_is_explained_where_it_was_made(
    body: str, where: tuple[int, int], said: str, hint: str | None
) -> None:
    d = refused(FLOW_HEAD + body)
    assert d.rule == "yaml-syntax"
    assert (d.line, d.col) == where, d
    assert said in d.message
    assert "<" not in d.message, "PyYAML's own words"
    assert d.hint
    if hint is not None:
        assert d.hint == hint


def test_list_item_indented_under_the_one_above() -> None:
    text = GOOD + "start: a\nstates:\n  a:\n    instructions: x\n    tools:\n      - one\n"
    d = refused(text + "        - two\n")
    assert d.rule == "yaml-syntax"
    assert (d.line, d.col) == (10, 9)
    assert '"one - two"' in d.message
    assert d.hint == "line it up with the `- ` on line 9 (6 spaces)"
    # A list item's text may run on to the next line when that line is not a `- ` item.
    assert load_source("f", text + "        more\n").data["states"]["a"]["tools"] == ["one more"]


def test_the_broken_lines_are_named() -> None:
    with pytest.raises(SourceError) as caught:
        load_source("f", FLOW_HEAD + "    description:Hang up.\n    hangup: true\n")
    assert caught.value.region == (6, 6)
    with pytest.raises(SourceError) as caught:
        load_source("f", GOOD + "greeting:>\n  Hello.\n  Welcome.\ntools: {}\n")
    assert caught.value.region == (4, 6)


# --- after a syntax error, the rest of the file is still checked -----------------------------

REST = """\
name: Example Dental receptionist
numbers: ["+14155550123"]
instructions: You are the receptionist of Example Dental.
voice: marinn
start: front_desk
states:
  front_desk:
    instructions: Find out what the caller needs.
    tools: [book, end_call]
  booking:
    instructions: Book the appointment.
    tools: [end_call]
tools:
  book:
    description: Book an appointment.
    goto: bookings
  end_call:
    description: Hang up after the caller says goodbye.
    say: Goodbye!
    hangup: true
"""


def rest_with(line: int, written: str) -> list[Diagnostic]:
    lines = REST.splitlines(keepends=True)
    lines[line - 1] = written + "\n"
    return lint_text("flow.yaml", "".join(lines), env={}).diagnostics


def test_problems_after_a_syntax_error_are_still_reported() -> None:
    found = rest_with(3, 'instructions: "You are the receptionist of Example Dental.')
    assert [(d.rule, d.line) for d in found] == [
        ("yaml-syntax", 3),
        ("voice", 4),
        ("unknown-state", 16),
    ]
    assert found[2].hint == 'did you mean "booking"?'


def test_problems_before_and_after_are_reported_without_the_broken_line() -> None:
    found = rest_with(8, "    instructions:Find out what the caller needs.")
    assert [(d.rule, d.line) for d in found] == [
        ("voice", 4),
        ("yaml-syntax", 8),
        ("unknown-state", 16),
    ]


@pytest.mark.parametrize(
    ("line", "written", "left_out"),
    [
        # the state `booking` set aside: `goto: booking` would name an unknown state.
        (10, " booking:", "unknown-state"),
        # the start state set aside: `start: front_desk` would name an unknown state.
        (7, " front_desk:", "unknown-state"),
        # the tools a state offers set aside: they would be unused.
        (9, "    tools:[book, end_call]", "unused-tool"),
        # a tool set aside: the states offering it would name an unknown tool.
        (17, " end_call:", "unknown-tool"),
        # `goto:` set aside: the tool would seem to do nothing.
        (16, "    goto:booking", "tool-steps"),
        # `numbers:` set aside: the flow would miss a required key.
        (2, 'numbers: ["+14155550123"', "schema"),
    ],
)
def test_no_problem_is_invented_by_the_lines_set_aside(
    line: int, written: str, left_out: str
) -> None:
    fixed = REST.replace("goto: bookings", "goto: booking").replace("marinn", "marin")
    lines = fixed.splitlines(keepends=True)
    lines[line - 1] = written + "\n"
    text = "".join(lines)
    found = lint_text("flow.yaml", text, env={}).diagnostics
    assert [d.rule for d in found] == ["yaml-syntax"], found
    # With the broken lines simply blank, the rule left out does speak: the check above
    # proves that the filter, not luck, kept the report clean.
    with pytest.raises(SourceError) as caught:
        load_source("flow.yaml", text)
    assert caught.value.region is not None
    blanked = blank_lines(text, caught.value.region)
    assert blanked.count("\n") == text.count("\n")
    assert left_out in {d.rule for d in lint_text("flow.yaml", blanked, env={}).diagnostics}


def test_a_file_refused_for_its_syntax_is_refused_whatever_the_rest() -> None:
    result = lint_text("flow.yaml", REST.replace("marinn", '"marin'), env={})
    assert result.flow is None and result.doc is None
    assert result.diagnostics[0].rule == "yaml-syntax"


# --- YAML 1.2 scalars --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("no", "no"),
        ("yes", "yes"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("N", "N"),
        ("9:30", "9:30"),
        ("2024-01-01", "2024-01-01"),
        ("0755", 755),
        ("0o17", 15),
        ("0x1F", 31),
        ("1_000", "1_000"),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("~", None),
        ("null", None),
        ("", None),
        ("3", 3),
        ("-3", -3),
        ("+3", 3),
        ("3.5", 3.5),
        ("1e3", 1000.0),
        (".inf", float("inf")),
        ("-.Inf", float("-inf")),
        ("'no'", "no"),
        ('"true"', "true"),
        ("'3'", "3"),
    ],
)
def test_yaml_1_2_core_scalars(written: str, read: object) -> None:
    assert load_source("f", f"v: {written}\n").data == {"v": read}


def test_nan() -> None:
    value = load_source("f", "v: .nan\n").data["v"]
    assert value != value


def test_plain_scalars_keep_what_was_written() -> None:
    doc = load_source("f", "a: +18005551212\nb: 0x1F\nc: yes\nd: '3'\n")
    assert doc.raw == {("a",): "+18005551212", ("b",): "0x1F"}


def test_keys_are_always_text() -> None:
    assert load_source("f", "1: a\ntrue: b\nnull: c\n").data == {
        "1": "a",
        "true": "b",
        "null": "c",
    }


def test_voice_no_stays_text_and_lints_clean() -> None:
    result = lint_text("f.yaml", GOOD + "greeting: no\n", env={})
    assert result.flow is not None
    assert result.flow.greeting == "no"


@pytest.mark.parametrize(
    "numbers", ["[+18005551212]", "\n  - +18005551212", '["+14155550123", +18005551212]']
)
def test_unquoted_phone_number_gets_the_quotes_hint(numbers: str) -> None:
    text = f"name: Acme\nnumbers: {numbers}\ninstructions: hi\n"
    d = only(text)
    assert d.rule == "schema"
    assert "+18005551212" in d.message
    assert d.hint == 'phone numbers must be written in quotes: "+18005551212"'
    line = text.splitlines()[d.line - 1]
    assert line[d.col - 1 : d.end_col - 1] == "+18005551212"


# --- spans -------------------------------------------------------------------------------

SPANS = """\
name: Acme
numbers:
  - "+18005551212"
instructions: |
  Line one
  Line two
greeting: >-
  folded
  text
tools:
  t: {description: "d e", hangup: true}
"""


@pytest.fixture(scope="module")
def spans() -> SourceDocument:
    return load_source("f", SPANS)


def text_at(span: Span) -> str:
    lines = SPANS.splitlines()
    assert span.line == span.end_line
    return lines[span.line - 1][span.col - 1 : span.end_col - 1]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("name",), "name"),
        (("numbers",), "numbers"),
        (("instructions",), "instructions"),
        (("tools", "t"), "t"),
        (("tools", "t", "description"), "description"),
        (("tools", "t", "hangup"), "hangup"),
    ],
)
def test_key_spans(spans: SourceDocument, path: tuple[str, ...], expected: str) -> None:
    assert text_at(spans.keys[path]) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("name",), "Acme"),
        (("numbers", 0), '"+18005551212"'),
        (("tools", "t", "description"), '"d e"'),
        (("tools", "t", "hangup"), "true"),
        (("tools", "t"), '{description: "d e", hangup: true}'),
    ],
)
def test_value_spans(spans: SourceDocument, path: tuple[str | int, ...], expected: str) -> None:
    assert text_at(spans.values[path]) == expected


def test_exact_spans_are_one_based(spans: SourceDocument) -> None:
    assert spans.keys[("name",)] == Span(1, 1, 1, 5)
    assert spans.values[("name",)] == Span(1, 7, 1, 11)
    assert spans.values[("numbers", 0)] == Span(3, 5, 3, 19)


def test_block_scalar_spans(spans: SourceDocument) -> None:
    literal = spans.values[("instructions",)]
    assert (literal.line, literal.col) == (4, 15)  # the `|` indicator
    assert literal.end_line == 6  # the last line of the text, not the next key's line
    assert spans.styles[("instructions",)] == "|"
    assert spans.data["instructions"] == "Line one\nLine two\n"
    folded = spans.values[("greeting",)]
    assert (folded.line, folded.col, folded.end_line) == (7, 11, 9)
    assert spans.styles[("greeting",)] == ">"
    assert spans.data["greeting"] == "folded text"


def test_block_sequence_span_covers_its_lines(spans: SourceDocument) -> None:
    seq = spans.values[("numbers",)]
    assert (seq.line, seq.col) == (3, 3)
    assert seq.end_line == 3


def test_span_falls_back_to_the_nearest_ancestor(spans: SourceDocument) -> None:
    assert spans.span(("tools", "t", "http", "url")) == spans.values[("tools", "t")]
    assert spans.span(("tools", "t", "say"), key=True) == spans.keys[("tools", "t")]
    assert spans.span(("nothing",)) == spans.values[()]


def test_diagnostics_of_lint_point_inside_block_scalars() -> None:
    text = GOOD.replace(
        "instructions: You are Acme's agent.\n",
        "instructions: |\n  Hello.\n  The caller is {{ caller.number \n",
    )
    result = lint_text("f.yaml", text, env={})
    assert result.diagnostics, "an unclosed template is a mistake"
    assert all(3 <= d.line <= 6 for d in result.diagnostics)


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 200_000 + "]" * 200_000 + "\n",
        "- " * 200_000 + "x\n",
        "a:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(900)),
    ],
    ids=["flow", "compact-block", "indented"],
)
def test_nesting_that_would_crash_libyaml_is_refused_in_words(tmp_path: Path, text: str) -> None:
    # libyaml composes recursively in C; this deep it would take the process down (SIGSEGV).
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "engine", "lint", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-500:]
    assert '"rule": "yaml-too-deep"' in done.stdout


def test_fast_and_pure_python_readings_agree_on_the_examples() -> None:
    for example in collect_files([Path(__file__).resolve().parents[2] / "flows"])[0]:
        text = example.read_text(encoding="utf-8")
        fast, slow = SourceDocument("f", text, None), SourceDocument("f", text, None)
        fast_root = _compose_fast(text)
        assert fast_root is not False, "the examples take the fast path"
        fast.data = _Builder(fast).build(fast_root, (), 0)
        slow.data = _Builder(slow).build(_compose("f", text), (), 0)
        assert (fast.data, fast.values, fast.keys, fast.styles, fast.raw) == (
            slow.data,
            slow.values,
            slow.keys,
            slow.styles,
            slow.raw,
        )


def test_a_list_item_lined_up_with_the_key_inside_the_item_above_is_explained() -> None:
    # Found by the differential fuzzer: `- instructions:` lined up with `say:` of `- say:`.
    text = (
        'name: A\nnumbers: ["+18005550120"]\ninstructions: x\nsilence:\n  after: 8\n'
        "  steps:\n  - say: Are you still there?\n    - instructions: Ask again.\n"
    )
    (problem,) = lint_text("a.yaml", text, {}).diagnostics
    assert (problem.line, problem.col, problem.rule) == (8, 5, "yaml-syntax")
    assert "lined up with the key `say:` on line 7" in problem.message
