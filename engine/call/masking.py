"""The flow's own secrets, masked in everything sent to the model.

A flow's secrets are the values of the `env` variables its `http` requests read (an API token
in `Authorization: Bearer {{ env.ACME_TOKEN }}`), and the values of headers whose name says
they are credentials. A service may echo them back (a debugging endpoint, an error page), and
a careless template may quote them; the model must never see them, since a caller can ask
it to read anything out. So the tool runner masks them in its answers and in what `save_as`
keeps, and the driver masks them in every text it sends the model (notes, tool outputs, lines
to say, instructions). Values shorter than ``MIN_SECRET_CHARS`` are left alone: masking "1"
would garble every answer, and such a value is no secret worth the name.
"""

from __future__ import annotations

import dataclasses
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, overload

from ..flow.model import Flow, HttpRequest
from ..flow.templates import analyze, has_template
from .actions import Action, AddNote, RequestResponse, SendToolOutput, UpdateSession

__all__ = [
    "MASK",
    "MIN_SECRET_CHARS",
    "Secrets",
    "credential_values",
    "env_names",
    "env_values",
    "flow_secrets",
    "masked_action",
    "request_texts",
]

MASK = "[secret]"
MIN_SECRET_CHARS = 6
# Header names whose values are credentials even when written in the flow.
_CREDENTIAL_HEADER = re.compile(r"auth|token|key|secret|password|cookie|session", re.IGNORECASE)


class Secrets:
    """A set of secret values, and the masking of them in text and JSON-like data."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        self._values |= {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_CHARS}
        # Longest first: `Bearer TOKEN` is masked whole before `TOKEN` alone.
        self._ordered = sorted(self._values, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._values)

    @overload
    def mask(self, value: str) -> str: ...

    @overload
    def mask(self, value: Any) -> Any: ...

    def mask(self, value: Any) -> Any:
        """``value`` with every secret replaced by ``MASK``: text, and the keys and values of
        mappings and lists, recursively; anything else as it is."""
        if not self._ordered:
            return value
        if isinstance(value, str):
            for secret in self._ordered:
                value = value.replace(secret, MASK)
            return value
        if isinstance(value, Mapping):
            return {self.mask(k): self.mask(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask(item) for item in value]
        return value


def request_texts(spec: HttpRequest) -> Iterator[str]:
    """Every template of a request: URL, headers, query values and the body's text values."""
    yield spec.url
    yield from spec.headers.values()
    yield from spec.query.values()
    stack: list[Any] = [spec.body]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def env_names(texts: Iterable[str]) -> set[str]:
    """The `env` variables these templates read."""
    names: set[str] = set()
    for text in texts:
        if has_template(text):
            info = analyze(text)
            names |= {u.attribute for u in info.uses if u.base == "env" and u.attribute}
    return names


def credential_values(headers: Iterable[tuple[str, str]]) -> Iterator[str]:
    """The values of credential headers, and the token after `Bearer ` (or any scheme)."""
    for name, value in headers:
        if _CREDENTIAL_HEADER.search(name):
            yield value
            yield value.rpartition(" ")[2]


def flow_secrets(flow: Flow, env: object) -> Secrets:
    """The secrets of a whole flow: the `env` values its `http` requests read, and the
    credential headers it writes out literally (a mistake lint should catch, masked anyway)."""
    names, literal = _secret_sources(flow)
    return Secrets([*env_values(env, names), *credential_values(literal)])


# Where a loaded flow keeps its secrets, by flow: working it out analyses every request
# template, and every call of the flow needs it (twice) on the way to accept.
_SOURCES: OrderedDict[int, tuple[Flow, set[str], list[tuple[str, str]]]] = OrderedDict()
_SOURCES_KEPT = 64  # more flow versions than a folder holds at once


def _secret_sources(flow: Flow) -> tuple[set[str], list[tuple[str, str]]]:
    cached = _SOURCES.get(id(flow))
    if cached is not None and cached[0] is flow:
        _SOURCES.move_to_end(id(flow))
        return cached[1], cached[2]
    names: set[str] = set()
    literal: list[tuple[str, str]] = []
    for tool in flow.tools.values():
        if tool.http is not None:
            names |= env_names(request_texts(tool.http))
            literal += [(k, v) for k, v in tool.http.headers.items() if not has_template(v)]
    _SOURCES[id(flow)] = (flow, names, literal)  # the flow is kept, so its id stays its own
    if len(_SOURCES) > _SOURCES_KEPT:
        _SOURCES.popitem(last=False)
    return names, literal


def env_values(env: object, names: Iterable[str]) -> list[str]:
    """The values of ``names`` in a call's ``env`` (a ``FlowEnv``, which holds only the names
    its flow reads, or a plain mapping); a name it does not hold has none."""
    if not hasattr(env, "__getitem__") or not hasattr(env, "__contains__"):
        return []
    return [str(env[n]) for n in names if n in env]


def masked_action(action: Action, secrets: Secrets) -> Action:
    """The action with the flow's secrets masked in the text it sends the model."""
    if not secrets:
        return action
    if isinstance(action, AddNote):
        return dataclasses.replace(action, text=secrets.mask(action.text))
    if isinstance(action, SendToolOutput):
        return dataclasses.replace(action, output=secrets.mask(action.output))
    if isinstance(action, RequestResponse) and action.say is not None:
        return dataclasses.replace(action, say=secrets.mask(action.say))
    if isinstance(action, UpdateSession):
        return dataclasses.replace(action, instructions=secrets.mask(action.instructions))
    return action
