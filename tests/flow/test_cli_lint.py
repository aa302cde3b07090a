"""`engine lint` as its users meet it: exit codes, the text and JSON formats, whole folders."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE

from helpers import engine_cli

ROOT = Path(__file__).resolve().parents[2]

CLEAN = """\
name: Acme
numbers: ["+18005551212"]
instructions: You are Acme's agent.
tools:
  bye:
    description: End the call.
    hangup: true
"""
# One error: `hangup` must be true or false.
BROKEN = CLEAN.replace("hangup: true", 'hangup: "soon"')
# One warning only: an environment variable that is not set where lint runs.
WARNING_ONLY = CLEAN + (
    "  lookup:\n"
    "    description: Look up an order.\n"
    "    http:\n"
    '      url: "https://api.acme.example/orders"\n'
    '      headers: {Authorization: "Bearer {{ env.FLOWTEST_SURELY_UNSET }}"}\n'
)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWTEST_SURELY_UNSET", raising=False)


# --- exit codes --------------------------------------------------------------------------


def test_exit_codes_are_documented_constants() -> None:
    assert (EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE) == (0, 1, 2)


def test_clean_file_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path, "clean.yaml", CLEAN)
    code, out, err = engine_cli("lint", str(path))
    assert code == 0
    assert out == "no problems found in 1 file\n"
    assert err == ""


def test_error_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", BROKEN)
    code, out, _ = engine_cli("lint", str(path))
    assert code == 1
    assert out.rstrip().endswith("1 error in 1 file")


def test_one_bad_file_among_good_ones_exits_1(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", CLEAN)
    write(tmp_path, "b.yaml", BROKEN.replace("+18005551212", "+18005550000"))
    code, out, _ = engine_cli("lint", str(tmp_path))
    assert code == 1
    assert "1 error in 2 files" in out
    assert "a.yaml:" not in out


def test_warning_only_exits_0_without_strict_and_1_with_it(tmp_path: Path) -> None:
    path = write(tmp_path, "warn.yaml", WARNING_ONLY)
    code, out, _ = engine_cli("lint", str(path))
    assert code == 0
    assert ": warning: " in out and "[template-env]" in out
    assert out.rstrip().endswith("1 warning in 1 file")
    code, _, _ = engine_cli("lint", "--strict", str(path))
    assert code == 1
    code, _, _ = engine_cli("lint", str(path), "--strict", "--format", "json")
    assert code == 1


def test_strict_on_a_clean_file_exits_0(tmp_path: Path) -> None:
    assert engine_cli("lint", "--strict", str(write(tmp_path, "c.yaml", CLEAN)))[0] == 0


def test_missing_path_exits_2(tmp_path: Path) -> None:
    code, out, err = engine_cli("lint", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert out == ""
    assert "nope.yaml: no such file or folder" in err


def test_missing_path_next_to_a_good_one_exits_2(tmp_path: Path) -> None:
    good = write(tmp_path, "ok.yaml", CLEAN)
    code, _, err = engine_cli("lint", str(good), str(tmp_path / "typo"))
    assert code == 2
    assert "typo" in err


@pytest.mark.parametrize("contents", [{}, {"notes.txt": "hi", "flow.json": "{}"}])
def test_no_yaml_files_exits_2(tmp_path: Path, contents: dict[str, str]) -> None:
    for name, text in contents.items():
        write(tmp_path, name, text)
    code, out, err = engine_cli("lint", str(tmp_path))
    assert code == 2
    assert out == ""
    assert "no flow files" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["lint", "--bogus", "x.yaml"],
        ["lint", "--format", "xml", "x.yaml"],
        ["lint", "--ignore", "no-such-rule", "x.yaml"],
        ["lint", "--ignore", "schema", "x.yaml"],  # a file that is not a flow stays reported
        ["lnit", "x.yaml"],
        [],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    code, out, err = engine_cli(*argv)
    assert code == 2
    assert out == ""
    assert err  # says what is wrong


def test_an_unknown_rule_to_ignore_says_which_it_may_be() -> None:
    code, out, err = engine_cli("lint", "--ignore", "template-evn", "x.yaml")
    assert (code, out) == (EXIT_USAGE, "")
    assert '"template-evn" is not a lint rule' in err and '"template-env"' in err


def test_no_path_lints_the_flows_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = engine_cli("lint")
    assert code == EXIT_USAGE
    assert "flows: no such file or folder" in err
    write(tmp_path, "flows/a.yaml", CLEAN)
    write(tmp_path, "flows/b.yaml", BROKEN.replace("+18005551212", "+18005550000"))
    code, out, _ = engine_cli("lint")
    assert code == EXIT_PROBLEMS
    assert out.startswith("flows/b.yaml:7:13: ") and out.endswith("1 error in 2 files\n")


def test_exit_codes_as_a_real_command(tmp_path: Path) -> None:
    clean = write(tmp_path, "clean.yaml", CLEAN)
    broken = write(tmp_path / "b", "broken.yaml", BROKEN)

    def code(*argv: str) -> int:
        done = subprocess.run(
            [sys.executable, "-m", "engine", *argv], capture_output=True, text=True, check=False
        )
        assert "Traceback" not in done.stderr
        return done.returncode

    assert code("lint", str(clean)) == 0
    assert code("lint", str(broken)) == 1
    assert code("lint", str(tmp_path / "missing")) == 2
    assert code("lint", "--bogus", str(clean)) == 2


# --- output formats ----------------------------------------------------------------------

JSON_KEYS = {
    "file",
    "line",
    "col",
    "rule",
    "severity",
    "message",
    "hint",
    "end_line",
    "end_col",
    "url",
}


def test_json_format_shape(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.yaml", BROKEN)
    warn = write(tmp_path, "warn.yaml", WARNING_ONLY.replace("+18005551212", "+18005550000"))
    code, out, _ = engine_cli("lint", "--format", "json", str(broken), str(warn))
    assert code == 1
    items = json.loads(out)  # the whole of stdout is one JSON document: no summary line
    assert isinstance(items, list) and len(items) == 2
    for item in items:
        assert set(item) == JSON_KEYS
        assert isinstance(item["line"], int) and item["line"] >= 1
        assert isinstance(item["col"], int) and item["col"] >= 1
        assert isinstance(item["end_line"], int) and isinstance(item["end_col"], int)
        assert item["severity"] in ("error", "warning")
        assert isinstance(item["message"], str) and item["message"]
        assert item["hint"] is None or isinstance(item["hint"], str)
    error, warning = items
    assert error["file"] == str(broken)
    assert (error["line"], error["col"]) == (7, 13)
    assert (error["end_line"], error["end_col"]) == (7, 19)
    assert (error["rule"], error["severity"]) == ("schema", "error")
    assert error["url"] == "docs/lint-rules.md#schema"
    assert '"soon"' in error["message"]
    assert warning["file"] == str(warn)
    assert (warning["rule"], warning["severity"]) == ("template-env", "warning")


def test_every_format_links_to_the_rule(tmp_path: Path) -> None:
    path = write(tmp_path, "warn.yaml", WARNING_ONLY)
    _, text, _ = engine_cli("lint", str(path))
    assert "  = see docs/lint-rules.md#template-env\n" in text
    _, github, _ = engine_cli("lint", "--format", "github", str(path))
    assert github.splitlines()[0].endswith("(see docs/lint-rules.md#template-env)")
    _, out, _ = engine_cli("lint", "--format", "json", str(path))
    assert [item["url"] for item in json.loads(out)] == ["docs/lint-rules.md#template-env"]
    # The anchor is a heading of the page it names.
    assert "\n## template-env\n" in (ROOT / "docs" / "lint-rules.md").read_text(encoding="utf-8")


def test_json_format_when_clean_is_an_empty_list(tmp_path: Path) -> None:
    code, out, _ = engine_cli("lint", "--format", "json", str(write(tmp_path, "c.yaml", CLEAN)))
    assert code == 0
    assert json.loads(out) == []


def test_json_keeps_non_ascii_text(tmp_path: Path) -> None:
    path = write(tmp_path, "café.yaml", BROKEN.replace("name: Acme", "name: Café ☕"))
    _, out, _ = engine_cli("lint", "--format", "json", str(path))
    assert json.loads(out)[0]["file"] == str(path)
    assert "café" in out  # not \\u escapes


def test_text_format(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", BROKEN)
    code, out, _ = engine_cli("lint", str(path))
    assert code == 1
    lines = out.splitlines()
    assert re.fullmatch(rf"{re.escape(str(path))}:7:13: .+ \[schema\]", lines[0]), lines[0]
    assert "`tools.bye.hangup`" in lines[0] and '"soon"' in lines[0]
    # actionlint style: gutter, the source line, the mark under the value.
    assert lines[1] == "  |"
    assert lines[2] == '7 |     hangup: "soon"'
    assert lines[3] == "  |             ^~~~~~"
    caret = lines[3].index("^")
    assert lines[2][caret : caret + 6] == '"soon"'
    assert lines[-1] == "1 error in 1 file"


def test_text_format_hint_line(tmp_path: Path) -> None:
    path = write(tmp_path, "n.yaml", CLEAN.replace('["+18005551212"]', "[+18005551212]"))
    _, out, _ = engine_cli("lint", str(path))
    lines = out.splitlines()
    assert lines[0].startswith(f"{path}:2:11: ")
    assert lines[3] == "  |           ^~~~~~~~~~~~"
    assert lines[4] == '  = phone numbers must be written in quotes: "+18005551212"'
    assert lines[5] == "  = see docs/lint-rules.md#schema"


def test_text_format_lists_problems_by_file_then_line(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "name: a\nnumbers: [\n")
    b = write(tmp_path, "b.yaml", CLEAN.replace("name: Acme\n", "").replace("1212", "0000"))
    _, out, _ = engine_cli("lint", str(b), str(a))
    heads = [line for line in out.splitlines() if re.match(r"^\S+:\d+:\d+: ", line)]
    assert [h.split(":", 1)[0] for h in heads] == sorted(h.split(":", 1)[0] for h in heads)
    assert str(a) in heads[0] and str(b) in heads[-1]


def test_cross_file_duplicate_number_names_the_other_file(tmp_path: Path) -> None:
    first = write(tmp_path, "a-first.yaml", CLEAN)
    second = write(tmp_path, "b-second.yaml", CLEAN.replace("name: Acme", "name: Copy"))
    code, out, _ = engine_cli("lint", "--format", "json", str(tmp_path))
    assert code == 1
    [item] = json.loads(out)
    assert item["rule"] == "duplicate-number"
    assert item["file"] == str(second)
    assert (item["line"], item["col"]) == (2, 11)
    assert f"{first}:2:11" in item["message"]
    assert '"+18005551212"' in item["message"]


def test_same_file_named_twice_is_not_a_duplicate(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", CLEAN)
    code, out, _ = engine_cli("lint", str(tmp_path), str(path), str(tmp_path / "." / "a.yaml"))
    assert code == 0, out
    assert out == "no problems found in 1 file\n"


def test_folders_are_searched_recursively_for_yaml_and_yml(tmp_path: Path) -> None:
    write(tmp_path, "one.yaml", CLEAN)
    write(tmp_path, "sub/two.yml", CLEAN.replace("1212", "0001"))
    write(tmp_path, "sub/deeper/three.yaml", CLEAN.replace("1212", "0002"))
    write(tmp_path, "sub/readme.md", "# not a flow")
    code, out, _ = engine_cli("lint", str(tmp_path))
    assert code == 0
    assert out == "no problems found in 3 files\n"


def test_a_named_file_is_linted_whatever_its_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.txt", BROKEN)
    assert engine_cli("lint", str(path))[0] == 1


def test_an_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = write(tmp_path, "secret.yaml", CLEAN)
    path.chmod(0)
    code, out, _ = engine_cli("lint", str(path))
    assert code == 1
    assert "cannot read the file" in out


# --- the project's own examples ----------------------------------------------------------


def lint_examples(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", "lint", "flows/"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_engine_lint_flows_is_clean() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_")}
    env["ACME_TOKEN"] = "example-token"  # the one secret flows/ reads
    done = lint_examples(env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.fullmatch(r"no problems found in \d+ files\n", done.stdout), done.stdout
    strict = subprocess.run(
        [sys.executable, "-m", "engine", "lint", "--strict", "flows/"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert strict.returncode == 0, strict.stdout


def test_engine_lint_flows_without_secrets_only_warns_about_them() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_")}
    done = lint_examples(env)
    assert done.returncode == 0, done.stdout
    heads = [line for line in done.stdout.splitlines() if re.match(r"^flows/\S+:\d+:\d+: ", line)]
    assert heads, done.stdout
    assert all(": warning: " in h and h.endswith("[template-env]") for h in heads), heads
    assert "ACME_TOKEN" in done.stdout
