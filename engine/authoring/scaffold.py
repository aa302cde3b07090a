"""`engine new NAME --number +1…`: write a small, working flow to start from, and its scenarios.

The flow it writes lints with no problems at all, reads no environment variables, and
teaches in its comments: states, a tool that moves between them (`goto`), a transfer with a
`say` line, and a hangup. The first line is the schema modeline, so an editor with the YAML
extension completes keys and explains them on hover.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from ..flow.lint import collect_files, lint_files, lint_text
from ..flow.numbers import e164_hint, is_e164

__all__ = [
    "ScaffoldError",
    "add_arguments",
    "flow_text",
    "run",
    "scenario_text",
    "schema_path_for",
]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SCHEMA = Path("schemas") / "flow.schema.json"


class ScaffoldError(Exception):
    """A reason not to write the files; ``code`` is the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def schema_path_for(folder: Path) -> tuple[str, bool]:
    """The modeline's path from ``folder`` to ``schemas/flow.schema.json``, and whether the
    schema is there.

    The nearest ``schemas/flow.schema.json`` in ``folder`` or a folder above it; if there is
    none, the one the project's root (the current folder) should hold, which
    ``engine schema > schemas/flow.schema.json`` writes.
    """
    here = folder.resolve()
    for parent in (here, *here.parents):
        if (parent / SCHEMA).is_file():
            return Path(os.path.relpath(parent / SCHEMA, here)).as_posix(), True
    return Path(os.path.relpath(Path.cwd().resolve() / SCHEMA, here)).as_posix(), False


def _title(name: str) -> str:
    words = re.sub(r"[-_]+", " ", name).strip() or name
    return words[0].upper() + words[1:]


def front_desk(numbers: list[str]) -> str:
    """A placeholder front desk in the country of the flow's first number: transfers to other
    countries need `trunk.allow` (engine.flow.reach), which a first flow should not need."""
    first = numbers[0]
    if first.startswith("+1"):
        return "tel:+12125550199"
    return f"tel:{first[:-4]}0199" if len(first) >= 9 else f"tel:{first}"


def flow_text(name: str, numbers: list[str], schema: str = "../schemas/flow.schema.json") -> str:
    """The scaffolded flow file."""
    title = _title(name)
    desk = f'"{front_desk(numbers)}"'.ljust(20)
    listed = ", ".join(f'"{n}"' for n in numbers)
    return f"""\
# yaml-language-server: $schema={schema}
#
# {title}: the flow that answers calls to {", ".join(numbers)}.
#
# Lines that start with "#" are comments; the engine skips them. docs/flows.md explains every
# key. In VS Code with the YAML extension, the first line of this file makes the editor
# complete keys as you type and explain each one when you hover over it. After a change,
# check the file with:
#
#     engine lint {{file}}

# A name for people: shown in the logs and by `engine lint`.
name: "{title}"
# The numbers this flow answers, in E.164: a "+", the country code, then the number.
numbers: [{listed}]

# Named values, used in the texts below as {{{{ vars.NAME }}}}. Put phone numbers in quotes.
vars:
  company: Example Co               # CHANGE ME: who answers the phone
  front_desk: {desk}  # CHANGE ME: where callers are put through to

# What the agent is and how it behaves. The "|" keeps the lines below as one text.
instructions: |
  You answer the phone for {{{{ vars.company }}}}. Keep your answers short: this is a phone
  call. If you cannot help, offer to put the caller through to the front desk.

# The first thing the agent says when it picks up.
greeting: Hello, thanks for calling {{{{ vars.company }}}}. How can I help?

# The steps of the conversation. A call starts in the `start` state; each state lists the
# tools the agent may use while the call is in it.
start: welcome
states:
  welcome:
    instructions: Find out what the caller needs. If they have a question, move on to help.
    tools: [get_help, to_front_desk, goodbye]
  help:
    instructions: Answer the caller's question. Offer the front desk if you cannot help.
    tools: [to_front_desk, goodbye]

# What the agent may do. Its `description` tells the agent when to use each tool.
tools:
  get_help:
    description: Move on to answering questions once you know what the caller needs.
    goto: help                                # move the call to the state "help"
  to_front_desk:
    description: Put the caller through to a person at the front desk.
    say: One moment, I'll put you through.    # heard before the transfer
    transfer: "{{{{ vars.front_desk }}}}"         # a tel: or sip: address, or an E.164 number
  goodbye:
    description: End the call when the caller has nothing else to ask.
    say: Thanks for calling {{{{ vars.company }}}}. Goodbye!
    hangup: true                              # end the call after the `say` line
"""


def scenario_text(name: str, numbers: list[str]) -> str:
    """The scaffolded scenario file (``engine test``, docs/scenarios.md) for ``flow_text``."""
    return f"""\
# Scenarios for {name}.yaml: each one is a whole call, played without a phone or OpenAI.
# Run them with:  engine test {{folder}}
# "model:" stands for what the AI decides; "expect:" checks what the engine did. If you
# change a line in the flow (the greeting, a `say`), change it here too.
# docs/scenarios.md explains every key.
scenarios:
  - name: a question, then goodbye
    call: {{to: "{numbers[0]}"}}
    script:
      - expect: {{answered: true, state: welcome}}
      - expect: {{said: "Hello, thanks for calling Example Co. How can I help?"}}
      - caller: I have a question about your opening hours.
      - model: {{calls: get_help}}
      - expect: {{state: help}}
      - model: {{calls: goodbye}}
      - expect: {{hangup: true, said: "Thanks for calling Example Co. Goodbye!"}}

  - name: the caller asks for a person
    script:
      - caller: Can I talk to someone, please?
      - model: {{calls: to_front_desk}}
      - expect: {{transfer: "{front_desk(numbers)}", said: "One moment, I'll put you through."}}
"""


def _check_name(name: str) -> None:
    if not NAME.match(name):
        raise ScaffoldError(
            f'"{name}" cannot be a flow name: use letters, digits, "-" and "_" only '
            '(up to 64), such as "support" or "front-desk"',
            EXIT_USAGE,
        )


def _check_numbers(raw: list[str] | None) -> list[str]:
    if not raw:
        raise ScaffoldError(
            "give the phone number this flow answers, in E.164: --number +18005551212",
            EXIT_USAGE,
        )
    numbers: list[str] = []
    for number in raw:
        if not is_e164(number):
            fix = e164_hint(number)
            hint = f"; {fix}" if fix else ""
            raise ScaffoldError(
                f'"{number}" is not a phone number in E.164 form: a "+", the country code, '
                f'then the number, digits only, such as "+18005551212"{hint}',
                EXIT_USAGE,
            )
        if number not in numbers:
            numbers.append(number)
    return numbers


def _check_claims(folder: Path, target: Path, numbers: list[str]) -> None:
    """Refuse a number another flow in the folder already answers."""
    files, _ = collect_files([folder]) if folder.is_dir() else ([], [])
    others = [f for f in files if f.resolve() != target.resolve()]
    for result in lint_files(others).files:
        if result.flow is None:
            continue
        for number in numbers:
            if number in result.flow.numbers:
                raise ScaffoldError(
                    f"{number} is already answered by {result.file}; a number can belong to "
                    "one flow only. Choose another number, or take it out of that flow first",
                    EXIT_PROBLEMS,
                )


def _scaffold(args: argparse.Namespace) -> list[str]:
    _check_name(args.name)
    numbers = _check_numbers(args.number)
    folder = Path(args.dir)
    target = folder / f"{args.name}.yaml"
    scenario = folder / f"{args.name}.test.yaml"
    if folder.exists() and not folder.is_dir():
        raise ScaffoldError(f"{folder} is a file, not a folder", EXIT_USAGE)
    for path in (target, scenario):
        if path.exists() and not args.force:
            raise ScaffoldError(f"{path} already exists; add --force to replace it", EXIT_PROBLEMS)
    _check_claims(folder, target, numbers)
    folder.mkdir(parents=True, exist_ok=True)
    schema, schema_found = schema_path_for(folder)
    text = flow_text(args.name, numbers, schema).replace("{file}", target.as_posix())
    problems = lint_text(str(target), text, env={}).diagnostics
    if problems:  # a bug here, never the author's doing
        raise ScaffoldError(
            f"the new flow does not lint clean: {problems[0].message}", EXIT_PROBLEMS
        )
    target.write_text(text, encoding="utf-8")
    scenario.write_text(
        scenario_text(args.name, numbers).replace("{folder}", folder.as_posix()), encoding="utf-8"
    )
    notes = [f"created {target}", f"created {scenario}"]
    if not schema_found:
        notes.append(
            f"note: no {SCHEMA.as_posix()} found; for completion in your editor run: "
            f"mkdir -p schemas && engine schema > {SCHEMA.as_posix()}"
        )
    notes += [
        "next:",
        f"  edit {target} (search for CHANGE ME)",
        f"  engine lint {folder.as_posix()}",
        f"  engine test {folder.as_posix()}",
        f"  engine graph {target.as_posix()}",
    ]
    return notes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", metavar="NAME", help='the flow\'s file name: letters, digits, "-" and "_"'
    )
    parser.add_argument(
        "--number",
        action="append",
        metavar="E164",
        help="a number the flow answers, such as +18005551212 (repeat for more)",
    )
    parser.add_argument("--dir", default="flows", help="the folder to write into (default: flows)")
    parser.add_argument("--force", action="store_true", help="replace files that exist")


def run(args: argparse.Namespace) -> int:
    try:
        notes = _scaffold(args)
    except ScaffoldError as exc:
        print(f"engine new: {exc}", file=sys.stderr)
        return exc.code
    print("\n".join(notes))
    return EXIT_OK
