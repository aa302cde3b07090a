"""`engine lint`: read flow files, check them, and report every problem in one pass."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostic, Span
from .ignores import FileIgnores, read_ignores
from .model import Flow
from .readable import believable, stand_ins
from .rules import LintContext, run_rules, walk
from .rules.outcomes import flow_stem
from .rules.templating import env_names
from .salvage import salvage
from .sandbox import MAX_RENDER_SECONDS, MAX_STEPS, shared_budget
from .source import MAX_FILE_BYTES, SourceDocument, SourceError, load_source, too_large
from .validate import CloseNames, validate_document

__all__ = [
    "Claims",
    "FileResult",
    "LintReport",
    "collect_files",
    "is_flow_file",
    "lint_files",
    "lint_in_folder",
    "lint_text",
    "looks_like_flow",
]

FLOW_SUFFIXES = (".yaml", ".yml")
# Scenario files (`engine test`) sit beside the flows they test; they are not flows.
SCENARIO_SUFFIXES = (".test.yaml", ".test.yml")


# The keys every flow starts with. A file with fewer than two of them is not taken for a
# flow with mistakes but for some other file (a secrets file, a link to /proc/self/environ):
# lint says so and never prints what it holds.
FLOW_KEYS = ("name", "numbers", "instructions")
_FLOW_KEY_LINE = re.compile(r"^(?:-[ \t]+|[ \t]*)(name|numbers|instructions)[ \t]*:", re.M)


def looks_like_flow(text: str) -> bool:
    """Text lint may quote in its output: at least two of a flow's first keys, no NUL."""
    if "\x00" in text:
        return False
    return len({m.group(1) for m in _FLOW_KEY_LINE.finditer(text)}) >= 2


def _not_a_flow(file: str, data: dict[object, object]) -> Diagnostic:
    found = [f"`{k}:`" for k in FLOW_KEYS if k in data]
    has = f"only {found[0]}" if found else "none of them"
    return Diagnostic.at(
        file,
        Span(1, 1, 1, 2),
        "not-a-flow",
        "this file is not a flow: a flow has `name:`, `numbers:` and `instructions:`, and this "
        f"file has {has}; lint does not show what it holds",
        hint="keep files that are not flows out of the flows folder, or start from an "
        "example in flows/",
    )


def is_flow_file(path: Path) -> bool:
    return (
        path.suffix in FLOW_SUFFIXES
        and not path.name.endswith(SCENARIO_SUFFIXES)
        and path.is_file()
    )


@dataclass(frozen=True, slots=True)
class Handoff:
    name: str  # the flow file it hands calls to, as written
    where: str  # "rule 1 under `callers`"
    span: Span  # of the `flow:` value


@dataclass(frozen=True, slots=True)
class Claims:
    """What the checks across files need of a flow that loads: the numbers it answers and the
    flows it hands calls to, each with where it is written. Small, so that a result checked in
    a worker process (``engine.flow.workers``) travels back without its flow and document."""

    numbers: tuple[tuple[str, Span], ...]
    handoffs: tuple[Handoff, ...]

    @classmethod
    def of(cls, flow: Flow, doc: SourceDocument) -> Claims:
        return cls(
            numbers=tuple((n, doc.span(("numbers", i))) for i, n in enumerate(flow.numbers)),
            handoffs=tuple(
                Handoff(place.outcome.flow, place.where, doc.span((*place.path, "flow")))
                for place in walk.outcomes(flow)
                if place.outcome.flow is not None
            ),
        )


@dataclass
class FileResult:
    """One file's outcome: its text, its flow if it is structurally valid, its problems.

    ``claims`` is set exactly when the flow loads; ``flow`` and ``doc`` too, except in the
    results of ``lint_files(each=in_workers(…))`` checked in worker processes, which travel without them.
    """

    file: str
    text: str
    flow: Flow | None = None
    doc: SourceDocument | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Its `# engine: ignore[…]` comments, applied to the cross-file problems found later too.
    ignores: FileIgnores = field(default_factory=FileIgnores)
    claims: Claims | None = None

    @property
    def ok(self) -> bool:
        return self.claims is not None and not any(d.is_error for d in self.diagnostics)


@dataclass
class LintReport:
    files: list[FileResult]

    @property
    def diagnostics(self) -> list[Diagnostic]:
        found = [d for f in self.files for d in f.diagnostics]
        return sorted(found, key=Diagnostic.sort_key)

    @property
    def sources(self) -> dict[str, str]:
        """The text of each file whose lines the diagnostics may quote: never a file that is
        not a flow (a secrets file, a binary, a link to /proc/self/environ)."""
        return {
            f.file: f.text for f in self.files if f.claims is not None or looks_like_flow(f.text)
        }


def lint_text(file: str, text: str, env: Mapping[str, str] | None = None) -> FileResult:
    """Check one file's text on its own (numbers claimed by other files are not compared).

    Every mistake is reported in one pass: a file with schema errors is still checked by the
    rules, on what can be salvaged of it (see ``engine.flow.salvage``). Problems its
    `# engine: ignore[rule]` comments silence are left out (``engine.flow.ignores``).
    """
    result = FileResult(file=file, text=text)
    try:
        doc = load_source(file, text)
    except SourceError as exc:
        result.diagnostics.append(exc.diagnostic)
        result.diagnostics.extend(_readable_rest(file, text, exc, env))
        result.diagnostics.sort(key=Diagnostic.sort_key)
        return result
    _check_document(result, doc, env)
    return result


def lint_in_folder(file: str, text: str, env: Mapping[str, str] | None = None) -> FileResult:
    """``file``'s text checked as ``engine lint FOLDER`` checks it: on its own
    (``lint_text``), and its ``flow:`` hand-offs against the flow files beside ``file`` on
    disk. (Numbers claimed by other files are compared by whoever holds them: ``lint_files``,
    the registry.) For a text not saved yet, e.g. the studio's editor."""
    result = lint_text(file, text, env)
    handoffs = result.ignores.filter(_missing_handoffs([result]))
    if handoffs:
        result.diagnostics = sorted([*result.diagnostics, *handoffs], key=Diagnostic.sort_key)
    return result


def _check_document(result: FileResult, doc: SourceDocument, env: Mapping[str, str] | None) -> None:
    """Validate a parsed file and run the rules on it, into ``result``."""
    file = result.file
    result.doc = doc
    flow, problems = validate_document(doc)
    is_flow = isinstance(doc.data, dict) and sum(k in doc.data for k in FLOW_KEYS) >= 2
    if flow is None and isinstance(doc.data, dict) and not is_flow:
        problems = [_not_a_flow(file, doc.data)]  # its schema errors would quote its values
    result.diagnostics.extend(problems)
    if is_flow:
        result.ignores = read_ignores(file, result.text)
        result.diagnostics.extend(result.ignores.problems)
    env = os.environ if env is None else env
    if flow is not None:
        result.flow = flow
        result.claims = Claims.of(flow, doc)
        result.diagnostics.extend(_checked(doc, flow, env))
        result.diagnostics.extend(_numbers_claimed_twice([result]))
    elif is_flow and (salvaged := salvage(doc)) is not None:
        # Never loaded (its schema errors stand): only its rules' findings are wanted.
        result.diagnostics.extend(salvaged.filter(_checked(doc, salvaged.flow, env)))
    result.diagnostics = result.ignores.filter(result.diagnostics)
    result.diagnostics.sort(key=Diagnostic.sort_key)


def _readable_rest(
    file: str, text: str, error: SourceError, env: Mapping[str, str] | None
) -> list[Diagnostic]:
    """After a syntax error, the problems of the rest of the file that the broken lines cannot
    have caused (see ``engine.flow.readable``); the file stays refused either way."""
    if error.region is None or error.diagnostic.rule != "yaml-syntax":
        return []
    found: FileResult | None = None
    for rest in stand_ins(text, error.region):
        try:
            doc = load_source(file, rest)
        except SourceError:
            continue  # the rest does not read either: the first syntax error says enough
        checked = FileResult(file=file, text=rest)
        _check_document(checked, doc, env)
        if found is None or checked.flow is not None:
            found = checked
        if found.flow is not None:
            break  # the rules ran on this one
    return believable(found.diagnostics, text, error.region) if found else []


def _checked(doc: SourceDocument, flow: Flow, env: Mapping[str, str]) -> list[Diagnostic]:
    """What the per-flow rules find in one flow, with the environment's values masked."""
    context = LintContext(doc=doc, flow=flow, env=env)
    # Rules render templates (transfer targets, URLs): all of one file's renders share
    # one render's budget, so linting on hot reload never holds up calls for longer.
    with shared_budget(MAX_RENDER_SECONDS, MAX_STEPS):
        found = run_rules(context)
    return _masked(found, context)


def _masked(diagnostics: Iterable[Diagnostic], context: LintContext) -> list[Diagnostic]:
    """Diagnostics with the value of every variable the flow reads written as its name:
    a rule that quotes a rendered template (a transfer target, a URL) must not print a
    token into a CI log."""
    env = context.env
    names = env_names(context.flow, context)
    values = [(env[name], name) for name in names if len(env.get(name, "")) >= 4]
    values.sort(key=lambda pair: -len(pair[0]))

    def mask(text: str) -> str:
        for value, name in values:
            text = text.replace(value, f"{{{{ env.{name} }}}}")
        return text

    if not values:
        return list(diagnostics)
    return [
        dataclasses.replace(d, message=mask(d.message), hint=d.hint and mask(d.hint))
        for d in diagnostics
    ]


def read_file(path: Path) -> str:
    """A flow file's text. A file that cannot be opened raises ``OSError``; one over the size
    limit or not in UTF-8 raises ``SourceError`` with its diagnostic."""
    with path.open("rb") as handle:
        # Never read more of a huge file than it takes to know it is too big (it may also
        # grow between a size check and the read).
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise too_large(str(path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8-sig", "replace")
        lines = (data[: exc.start].decode("utf-8-sig", "replace") + "x").splitlines()
        line, col = len(lines), len(lines[-1])
        diagnostic = Diagnostic.at(
            str(path),
            Span(line, col, line, col + 1),
            "not-a-flow",
            f"the file is not UTF-8 text: the byte 0x{data[exc.start]:02X} here is not valid "
            "UTF-8, often a letter such as é saved in an older encoding",
            hint='save the file as UTF-8 (most editors offer this under "Save with Encoding")',
        )
        raise SourceError(diagnostic, text) from None


def collect_files(
    paths: Iterable[str | Path], outside: list[str] | None = None
) -> tuple[list[Path], list[str]]:
    """The flow files named by ``paths`` (folders are searched), and paths that do not exist.

    A link is followed only to a file inside the folder it was found in (for a file named on
    its own, its own folder): a link to ``/proc/self/environ`` or ``~/.aws/credentials`` is
    never read. Such links are added to ``outside`` when it is given.
    """
    found: list[tuple[Path, Path]] = []  # each file, and where it is with links followed
    missing: list[str] = []
    links_out: list[Path] = []

    def add(path: Path, folder: Path) -> None:
        resolved = _resolved(path)
        if resolved is not None and resolved.is_relative_to(folder):
            found.append((path, resolved))
        else:
            links_out.append(path)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            root = path.resolve()
            for candidate in sorted(p for p in path.rglob("*") if is_flow_file(p)):
                add(candidate, root)
        elif path.is_file():
            add(path, path.parent.resolve())
        else:
            missing.append(str(raw))
    if outside is not None:
        outside.extend(str(p) for p in links_out)
    # A file named twice (`engine lint flows/ flows/a.yaml`) is one flow, not two claiming
    # the same numbers.
    seen: set[Path] = set()
    unique = []
    for path, key in found:
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique, missing


def _resolved(path: Path) -> Path | None:
    """``path`` with links followed, or None for a loop of links."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


def lint_files(
    files: Iterable[Path],
    env: Mapping[str, str] | None = None,
    *,
    ignore: Iterable[str] = (),
    each: Callable[[list[Path], Mapping[str, str]], list[FileResult]] | None = None,
) -> LintReport:
    """Check files, each on its own and then against each other.

    ``ignore`` names rules to leave out everywhere (`engine lint --ignore RULE`); each file's
    own `# engine: ignore[…]` comments apply to the problems found across files too.
    ``each`` checks the files one by one (default: here, in this process); the CLI passes
    ``engine.flow.workers``' worker processes for large runs: the same problems, in the same
    order, but results without their ``flow`` and ``doc``.
    """
    left_out = frozenset(ignore)
    if env is None:
        env = dict(os.environ)  # one plain copy: os.environ decodes on every lookup
    paths = list(files)
    results = (each or _lint_each)(paths, env)
    cross = _numbers_claimed_twice(results, across_only=True) + _missing_handoffs(results)
    by_file: dict[str, list[Diagnostic]] = {}
    for diagnostic in cross:  # grouped once: 1,000 files each scanning every one is quadratic
        by_file.setdefault(diagnostic.file, []).append(diagnostic)
    for result in results:
        result.diagnostics.extend(result.ignores.filter(by_file.get(result.file, ())))
        if left_out:
            result.diagnostics = [d for d in result.diagnostics if d.rule not in left_out]
        result.diagnostics.sort(key=Diagnostic.sort_key)
    return LintReport(results)


def _lint_each(files: Iterable[Path], env: Mapping[str, str]) -> list[FileResult]:
    """Each file checked on its own, in order."""
    # Parsing makes many short-lived objects while the results pile up; at its default
    # threshold the cyclic collector rescans them again and again (a quarter of the time for
    # 1,000 files). Collect less often, not never: an alias that refers to itself is a cycle.
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
    try:
        return [_lint_path(path, env) for path in files]
    finally:
        gc.set_threshold(*thresholds)


def _lint_path(path: Path, env: Mapping[str, str]) -> FileResult:
    name = str(path)
    try:
        text = read_file(path)
    except SourceError as exc:
        return FileResult(file=name, text=exc.text, diagnostics=[exc.diagnostic])
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        problem = Diagnostic.at(
            name, Span(1, 1, 1, 2), "not-a-flow", f"cannot read the file: {reason}"
        )
        return FileResult(file=name, text="", diagnostics=[problem])
    return lint_text(name, text, env)


def _numbers_claimed_twice(
    results: list[FileResult], *, across_only: bool = False
) -> list[Diagnostic]:
    """One diagnostic for each later claim of a number, naming the first claim's place."""
    first: dict[str, tuple[FileResult, int]] = {}
    found: list[Diagnostic] = []
    for result in results:
        if result.claims is None:
            continue
        for index, (number, span) in enumerate(result.claims.numbers):
            if number in first:
                owner, owner_index = first[number]
                if across_only and owner is result:
                    continue
                assert owner.claims is not None
                where = owner.claims.numbers[owner_index][1]
                place = f"{owner.file}:{where.line}:{where.col}"
                what = "the catch-all" if number == "*" else "a number"
                if owner is result:
                    message = f'"{number}" is listed twice (first at line {where.line})'
                    hint = "remove one of them"
                else:
                    message = (
                        f'"{number}" is already answered by {place}; {what} can belong to '
                        "one flow only"
                    )
                    hint = "remove it from one of the two flows"
                found.append(
                    Diagnostic.at(
                        result.file,
                        span,
                        "duplicate-number",
                        message,
                        hint=hint,
                    )
                )
            else:
                first[number] = (result, index)
    return found


def _flow_stems(folder: Path, results: list[FileResult], folders: dict[str, Path]) -> set[str]:
    """The names a hand-off may use in ``folder``: flow files linted now, and those beside them
    on disk (a folder linted in part still has its other flows). ``folders``: each file's
    folder as written, resolved (filled in here: resolving is a system call per file)."""
    found = set()
    for result in results:
        path = Path(result.file)
        if (parent := str(path.parent)) not in folders:
            folders[parent] = path.parent.resolve()
        if folders[parent] == folder and (stem := flow_stem(path.name)) is not None:
            found.add(stem)
    with contextlib.suppress(OSError):
        found |= {
            stem
            for path in folder.iterdir()
            if is_flow_file(path) and (stem := flow_stem(path.name)) is not None
        }
    return found


_LISTED = 10  # names a hint lists before "and N more"


def _first_names(names: list[str], own: str | None) -> list[str]:
    """The first names a hint lists, never the flow's own (without copying all 1,000)."""
    return [name for name in names[: _LISTED + 1] if name != own][:_LISTED]


def _missing_handoffs(results: list[FileResult]) -> list[Diagnostic]:
    """A `flow:` hand-off to a flow file that is not beside the flow handing the call over.

    Only here, where files are read from a folder: one text alone (``lint_text``) cannot tell
    which flows sit beside it. A hand-off to the flow itself is the per-file rule's.
    """
    found: list[Diagnostic] = []
    # Per folder, once: the names there, and their did-you-mean index (asked per hand-off).
    stems: dict[Path, CloseNames] = {}
    folders: dict[str, Path] = {}  # resolved once per folder, not once per file
    for result in results:
        if result.claims is None:
            continue
        path = Path(result.file)
        own = flow_stem(path.name)
        if (parent := str(path.parent)) not in folders:
            folders[parent] = path.parent.resolve()
        folder = folders[parent]
        for handoff in result.claims.handoffs:
            name = handoff.name
            stem = flow_stem(name, bare=True)
            if stem == own:
                continue
            if folder not in stems:
                stems[folder] = CloseNames(_flow_stems(folder, results, folders))
            beside = stems[folder]
            if "/" in name or "\\" in name:
                message = (
                    f'{handoff.where} hands the call to "{name}", but a hand-off names a flow '
                    "file in the same folder, by its name alone"
                )
                hint = "put the flow in this folder and write its file name without `.yaml`"
            elif stem in beside.known:
                continue
            else:
                message = (
                    f'{handoff.where} hands the call to the flow "{name}", but there is no '
                    f"{stem or name}.yaml beside this flow"
                )
                guess = beside.guess(stem, besides=own) if stem else None
                known = [] if guess else _first_names(beside.names, own)
                if guess:
                    hint = f'did you mean "{guess}"?'
                elif known:
                    shown = ", ".join(known[:_LISTED])
                    others = len(beside.names) - (own in beside.known)
                    more = f" and {others - _LISTED} more" if others > _LISTED else ""
                    hint = f"the flows beside it are: {shown}{more}"
                else:
                    hint = "add that flow file to this folder"
            found.append(
                Diagnostic.at(
                    result.file,
                    handoff.span,
                    "handoff-flow",
                    message,
                    hint=hint,
                )
            )
    return found
