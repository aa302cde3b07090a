"""Golden tests: one folder per lint rule, holding a bad flow, its exact lint output and the fix.

Each folder ``tests/golden/<rule-id>/`` (or ``<rule-id>--<variant>/`` for a second mistake the
same rule catches) holds:

- ``case.yaml``: a small, realistic flow with that one mistake;
- ``case.out``: the exact output of ``engine lint case.yaml`` run in that folder;
- ``fixed.yaml``: the same flow corrected, which must lint with no diagnostics at all;
- ``neighbour.yaml`` (optional): another flow linted before both, for cross-file rules;
- ``about.md``: what the rule (or this variant) means, in plain words, for docs/lint-rules.md.

Lint runs through the real command line entry point with the environment replaced by
``GOLDEN_ENV``, so results never depend on the machine. ``docs/lint-rules.md`` is generated
from these folders. After an intended change, rewrite the expected files with::

    UPDATE_GOLDEN=1 pytest tests/flow/test_golden.py
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import textwrap
import typing
from pathlib import Path
from unittest import mock

import pytest
from pydantic import BaseModel

from engine.cli import main
from engine.flow import model as flow_model
from engine.flow.diagnostics import format_text
from engine.flow.lint import lint_text
from engine.flow.rules import RULES
from engine.flow.rules.session import KNOWN_MODELS, KNOWN_VOICES
from engine.flow.source import load_source

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
LINT_RULES_DOC = ROOT / "docs" / "lint-rules.md"
FLOWS_DOC = ROOT / "docs" / "flows.md"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

# The only environment variable the examples may read; everything else is unset.
GOLDEN_ENV = {"ACME_TOKEN": "golden-test-token"}


def golden_folders() -> list[Path]:
    return sorted(p for p in GOLDEN.iterdir() if p.is_dir())


def rule_of(folder: Path) -> str:
    return folder.name.split("--", 1)[0]


def lint_command(folder: Path, flow: str = "case.yaml") -> list[str]:
    """The files `engine lint` is given: the neighbour first, so the mistake lands in ours."""
    neighbour = ["neighbour.yaml"] if (folder / "neighbour.yaml").exists() else []
    return ["lint", *neighbour, flow]


def run_lint(folder: Path, flow: str = "case.yaml") -> tuple[int, str]:
    """Exit code and standard output of `engine lint` run in ``folder``, environment fixed."""
    out = io.StringIO()
    with (
        contextlib.chdir(folder),
        mock.patch.dict(os.environ, GOLDEN_ENV, clear=True),
        contextlib.redirect_stdout(out),
    ):
        code = main(lint_command(folder, flow))
    return code, out.getvalue()


FOLDERS = golden_folders()
# The first line of each problem: `file:line:col: [warning: ]message [rule]`.
HEADER = re.compile(r"^[^\s|]+:\d+:\d+: (?P<warning>warning: )?.* \[(?P<rule>[a-z0-9-]+)\]$")


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_case_output(folder: Path) -> None:
    code, output = run_lint(folder)
    expected_file = folder / "case.out"
    if UPDATE:
        expected_file.write_text(output, encoding="utf-8")
    assert output == expected_file.read_text(encoding="utf-8")
    # Every problem shown is the one this folder is about: examples teach one thing at a time.
    headers = [HEADER.match(line) for line in output.splitlines()]
    found = [match for match in headers if match]
    assert found, "the case shows no problem"
    rules = {match["rule"] for match in found}
    if rule_of(folder) == "lint-ignore":
        # An ignore that names no rule silences nothing: what it meant to silence shows too.
        assert "lint-ignore" in rules, output
    else:
        assert rules == {rule_of(folder)}, output
    has_error = any(not match["warning"] for match in found)
    assert code == (1 if has_error else 0)


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_fixed_is_clean(folder: Path) -> None:
    code, output = run_lint(folder, "fixed.yaml")
    files = len(lint_command(folder)) - 1
    noun = "file" if files == 1 else "files"
    assert output == f"no problems found in {files} {noun}\n"
    assert code == 0


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_folder_is_complete(folder: Path) -> None:
    assert rule_of(folder) in RULES, f"{folder.name}: no rule {rule_of(folder)!r}"
    for name in ("case.yaml", "case.out", "fixed.yaml", "about.md"):
        assert (folder / name).is_file(), f"{folder.name}: {name} is missing"


def test_every_rule_has_a_golden_case() -> None:
    covered = {rule_of(folder) for folder in FOLDERS}
    missing = sorted(set(RULES) - covered)
    assert not missing, f"rules without a folder in tests/golden/: {missing}"


# --- docs/lint-rules.md, generated from the folders -------------------------------------------

INTRO = """\
# Lint rules

<!-- Generated from tests/golden/ by tests/flow/test_golden.py. Do not edit by hand:
     change the golden folders, then run `UPDATE_GOLDEN=1 pytest tests/flow/test_golden.py`. -->

`engine lint` reads flow files and points at every mistake it finds, with the file, line and
column, the line itself, a `^~~~` mark under the mistake and, where one is likely, the fix:

```console
$ engine lint                        # the flows/ folder, as `engine test` does
$ engine lint flows/                 # every *.yaml and *.yml file in the folder
$ engine lint flows/acme-support.yaml flows/catch-all.yaml
```

Each problem looks like this: `file:line:col: message [rule]`, then the line with a mark
under the mistake, the fix where one is likely (`= did you mean …`), and the rule's section
of this page (`= see docs/lint-rules.md#rule`). Problems marked `warning:` do not stop a flow
from loading; errors do (a flow with an error keeps its last good version answering calls,
see [flows.md](flows.md#saving-a-change-hot-reload)). The last line counts what was found.

One run shows every mistake: a file with a misspelt key or a value of the wrong kind is
still checked by every rule, on the rest of the file. The rules leave out what the mistake
may have caused (in the tool or state it is in), and the rules about the flow as a whole (a
state no call reaches, a tool nothing uses) wait until the file reads.

| exit code | meaning |
| --- | --- |
| 0 | no errors (there may be warnings, unless `--strict` is given) |
| 1 | at least one error, or with `--strict` at least one warning |
| 2 | the command was used wrongly: a path that does not exist, no flow files found, or `--ignore` with a rule that does not exist |

- `--strict`: warnings count as problems too, so the exit code is 1 (use it in CI).
- `--ignore RULE`: leave out the problems of a rule in every file (repeat it for more), e.g.
  `--ignore template-env` in CI, where the tokens flows read are not set.
- `--format json`: print the problems as a JSON list instead, one object per problem with
  `file`, `line`, `col`, `end_line`, `end_col`, `rule`, `severity` (`error` or `warning`),
  `message`, `hint` (or `null`) and `url` (the rule's section here,
  `docs/lint-rules.md#rule`), for editors and scripts.
- `--format github`: GitHub Actions annotations; each message ends with the hint and
  `(see docs/lint-rules.md#rule)`.

To silence a rule where you know it is wrong, write a comment in the flow:

```yaml
# CRM_TOKEN is set where the engine runs, never in CI:
# engine: ignore[template-env]
```

On a line of its own among the file's opening comments (before the first key) it silences
the rules it names in the whole file; at the end of a line, on that line; on a line of its
own further down, on the line below it. Name several rules with commas. A comment naming a
rule that does not exist is reported (`lint-ignore`); `yaml-*`, `not-a-flow` and `schema`
cannot be silenced, nor can the rules that keep callers and the model from reaching what the
flow did not mean (`env-secret`, `env-whole`, `header-secret`, `template-budget`,
`template-escape`, `transfer-from-args`, `url-host`). The engine reads the same comments when it loads a flow. See
[authoring.md](authoring.md#silencing-a-rule-where-it-is-wrong).

A folder is searched for `*.yaml` and `*.yml` files; a link in it to a file outside the
folder is never read (lint says so on standard error), and a file that is not a flow (no
`name:`, `numbers:` and `instructions:`, or binary) is reported without quoting any of it,
so that secrets never reach a CI log.

Several files are linted together so that a number claimed by two flows is found. Rules that
read the environment (`env.NAME`) see the environment `engine lint` runs in; run it where the
engine runs. The examples below were linted in an environment where only `ACME_TOKEN` is set.

Every rule below has a bad example, the exact output of `engine lint` for it, and the fixed
example. These examples are the project's golden tests, so this page is always what the
engine really says.

"""


def _fenced(language: str, text: str) -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}{language}\n{text.rstrip(chr(10))}\n{fence}\n"


def _example(folder: Path, heading: str) -> str:
    files = lint_command(folder)[1:]
    about = (folder / "about.md").read_text(encoding="utf-8").strip()
    # A variant's text introduces its example; the rule's own folder's says what the rule means.
    lead = f"{heading}\n\n{about}\n\n" if "--" in folder.name else f"{about}\n\n{heading}\n\n"
    parts = [lead]
    if (folder / "neighbour.yaml").exists():
        parts.append("Another flow in the same folder, `neighbour.yaml`:\n\n")
        parts.append(_fenced("yaml", (folder / "neighbour.yaml").read_text(encoding="utf-8")))
        parts.append("\n")
    parts.append("The mistake, `case.yaml`:\n\n")
    parts.append(_fenced("yaml", (folder / "case.yaml").read_text(encoding="utf-8")))
    parts.append(f"\n`engine lint {' '.join(files)}` prints:\n\n")
    parts.append(_fenced("text", (folder / "case.out").read_text(encoding="utf-8")))
    parts.append("\nFixed, `fixed.yaml`:\n\n")
    parts.append(_fenced("yaml", (folder / "fixed.yaml").read_text(encoding="utf-8")))
    return "\n" + "".join(parts)


def lint_rules_doc() -> str:
    """The text of docs/lint-rules.md, built from RULES and tests/golden/."""
    by_rule: dict[str, list[Path]] = {}
    for folder in FOLDERS:
        by_rule.setdefault(rule_of(folder), []).append(folder)
    parts = [INTRO, "| rule | severity | what it catches |\n| --- | --- | --- |\n"]
    for rule_id, rule in RULES.items():
        parts.append(f"| [`{rule_id}`](#{rule_id}) | {rule.severity} | {rule.summary} |\n")
    for rule_id, rule in RULES.items():
        effect = "the file is not loaded" if rule.severity == "error" else "the file still loads"
        parts.append(
            f"\n## {rule_id}\n\n**Severity:** {rule.severity} ({effect}). {rule.summary}\n"
        )
        for folder in by_rule.get(rule_id, []):
            variant = folder.name.split("--", 1)[1] if "--" in folder.name else None
            heading = f"### Example: {variant.replace('-', ' ')}" if variant else "### Example"
            parts.append(_example(folder, heading))
    return "".join(parts)


def test_lint_rules_doc_is_current() -> None:
    text = lint_rules_doc()
    if UPDATE:
        LINT_RULES_DOC.write_text(text, encoding="utf-8")
    assert LINT_RULES_DOC.read_text(encoding="utf-8") == text, (
        "docs/lint-rules.md is out of date: run UPDATE_GOLDEN=1 pytest tests/flow/test_golden.py"
    )


# --- docs/flows.md documents every key -----------------------------------------------------


def _models() -> list[type[BaseModel]]:
    found = []
    for value in vars(flow_model).values():
        if (
            isinstance(value, type)
            and issubclass(value, BaseModel)
            and value.__module__ == flow_model.__name__
            and value.model_fields
        ):
            found.append(value)
    return found


def test_flows_doc_documents_every_key() -> None:
    """A new key in engine/flow/model.py must be explained in docs/flows.md, with an example."""
    text = FLOWS_DOC.read_text(encoding="utf-8")
    examples = "\n".join(_yaml_blocks(text))
    models = _models()
    assert {m.__name__ for m in models} >= {"Flow", "State", "Tool", "Parameter", "HttpRequest"}
    missing = [
        f"{model.__name__}.{name}"
        for model in models
        for name in model.model_fields
        if f"`{name}`" not in text or not re.search(rf"(^|[\s{{,]){name}:", examples, re.M)
    ]
    assert not missing, f"docs/flows.md does not explain, or show in an example: {missing}"


def test_flows_doc_lists_the_choices() -> None:
    text = FLOWS_DOC.read_text(encoding="utf-8")
    for model in _models():
        for name, field in model.model_fields.items():
            if typing.get_origin(field.annotation) is typing.Literal:
                for choice in typing.get_args(field.annotation):
                    assert f"`{choice}`" in text, f"{model.__name__}.{name}: {choice}"
    for voice in KNOWN_VOICES:
        assert f"`{voice}`" in text, voice
    for name in KNOWN_MODELS:
        assert f"`{name}`" in text or name.startswith(("gpt-4o-realtime", "gpt-4o-mini")), name


def _yaml_blocks(text: str) -> list[str]:
    blocks = re.findall(r"^( *)```yaml\n(.*?)^\1```$", text, re.S | re.M)
    return [textwrap.dedent("\n".join(line for line in body.splitlines())) for _, body in blocks]


def test_flows_doc_examples_are_valid() -> None:
    """Every YAML example reads; every complete flow in the page lints with no problem."""
    blocks = _yaml_blocks(FLOWS_DOC.read_text(encoding="utf-8"))
    complete = 0
    for index, block in enumerate(blocks):
        name = f"docs/flows.md example {index + 1}"
        doc = load_source(name, block)  # raises SourceError on a YAML mistake
        if isinstance(doc.data, dict) and {"name", "numbers", "instructions"} <= set(doc.data):
            complete += 1
            result = lint_text(name, block, env=GOLDEN_ENV)
            assert not result.diagnostics, format_text(result.diagnostics, {name: block})
    assert complete >= 2


if __name__ == "__main__":  # print the generated page: python tests/flow/test_golden.py
    print(lint_rules_doc(), end="")
