"""Optional contract checks against the official ``openai`` SDK's types.

When the SDK is importable, every client event the simulator receives and every accept
body is validated against the SDK's TypedDicts (``RealtimeClientEventParam``,
``CallAcceptParams``), with unknown keys forbidden. Violations are recorded on the call,
so a contract test can assert there are none. Without the SDK the checks are skipped:
the simulator itself never depends on it (the demo runs without test dependencies).

The other direction is checked on demand: ``server_event_problems`` says whether the
SDK's ``RealtimeServerEvent`` models parse an event the simulator sent
(``SimCall.server_event_violations()``), so the simulator's own shapes stay honest.
"""

from __future__ import annotations

import functools
import logging
import typing
from typing import Any

__all__ = ["StrictValidator", "server_event_problems"]

log = logging.getLogger(__name__)


class StrictValidator:
    def __init__(self, client_adapter: Any = None, accept_adapter: Any = None) -> None:
        self._client = client_adapter
        self._accept = accept_adapter

    @property
    def enabled(self) -> bool:
        return self._client is not None

    @classmethod
    def create(cls, strict: bool | None) -> StrictValidator:
        """``strict=None``: validate if the SDK is installed; ``True``: require it;
        ``False``: never validate."""
        if strict is False:
            return cls()
        try:
            adapters = _build_adapters()
        except ImportError:
            if strict:
                raise RuntimeError(
                    "strict mode needs the openai SDK (pip install openai==3.52.0)"
                ) from None
            return cls()
        return cls(*adapters)

    def client_event(self, event: dict[str, Any]) -> list[str]:
        if self._client is None:
            return []
        kind = event.get("type")
        validator = self._client.get(kind) if isinstance(kind, str) else None
        if validator is None:
            return [f"client event type {kind!r} is not in the SDK's RealtimeClientEvent union"]
        return _validate(validator, event, f"client event {kind!r}")

    def accept_body(self, body: dict[str, Any]) -> list[str]:
        if self._accept is None:
            return []
        return _validate(self._accept, body, "accept body")


def server_event_problems(event: dict[str, Any]) -> list[str]:
    """Why the SDK's server-event models would not parse ``event`` (empty when they
    would, or when the SDK is not installed). The SDK's models ignore unknown keys, so
    this checks required fields and types, not extras."""
    try:
        models = _server_models()
    except ImportError:
        return []
    kind = event.get("type")
    model = models.get(kind) if isinstance(kind, str) else None
    if model is None:
        return [f"server event type {kind!r} is not in the SDK's RealtimeServerEvent union"]
    from pydantic import ValidationError

    try:
        model.model_validate(event)
    except ValidationError as exc:
        return [
            f"server event {kind!r}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        ]
    return []


@functools.cache
def _server_models() -> dict[str, Any]:
    from openai.types.realtime.realtime_server_event import RealtimeServerEvent

    union = typing.get_args(RealtimeServerEvent)[0]  # Annotated[Union[...], discriminator]
    by_type = {}
    for model in typing.get_args(union):
        (literal,) = typing.get_args(model.model_fields["type"].annotation)
        by_type[literal] = model
    return by_type


@functools.cache
def _build_adapters() -> tuple[Any, Any]:
    # Built once per process: generating the schemas takes a noticeable fraction of a second.
    from openai.types.realtime.call_accept_params import CallAcceptParams
    from openai.types.realtime.realtime_client_event_param import RealtimeClientEventParam

    by_type = {}
    for member in typing.get_args(RealtimeClientEventParam):
        (literal,) = typing.get_args(typing.get_type_hints(member)["type"])
        by_type[literal] = _forbidding(member)
    return by_type, _forbidding(CallAcceptParams)


def _forbidding(typed_dict: Any) -> Any:
    """A validator for ``typed_dict`` that rejects unknown keys at every level.

    The SDK's params are TypedDicts, which pydantic validates with extra keys ignored,
    and ``TypeAdapter(config=...)`` cannot change that for TypedDicts. So the generated
    core schema is edited: every ``typed-dict`` node gets ``extra_behavior="forbid"``.
    Unknown keys are what beta-shaped configs (``voice`` at the top level...) produce.
    ``Iterable`` fields become lists, so their items are validated too.
    """
    from pydantic import TypeAdapter
    from pydantic_core import SchemaValidator

    schema = TypeAdapter(typed_dict).core_schema

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "typed-dict":
                node["extra_behavior"] = "forbid"
            elif node.get("type") == "generator":
                # ``Iterable[X]`` fields (message content, tools...) validate lazily: their
                # items are checked only when the result is iterated, which never happens
                # here. A list validates them now (JSON gives lists anyway).
                node["type"] = "list"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return SchemaValidator(schema)


def _validate(adapter: Any, value: Any, what: str) -> list[str]:
    from pydantic import ValidationError

    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        errors = exc.errors()
    else:
        return []
    # A union tries every member (pydantic names it in the error's loc, by class name); a
    # member whose own 'type' (or a message's 'role') literal did not match is the wrong
    # branch, and its complaints are noise. Keep the rest. A literal deeper down (the
    # 'type' of a content part) is a real complaint about the right branch.
    wrong_branches = {
        tuple(err["loc"][:-1])
        for err in errors
        if err["type"] == "literal_error"
        and len(err["loc"]) > 1
        and err["loc"][-1] in ("type", "role")
        and isinstance(err["loc"][-2], str)
        and err["loc"][-2][:1].isupper()
    }

    def in_wrong_branch(loc: tuple[Any, ...]) -> bool:
        return any(loc[: len(branch)] == branch for branch in wrong_branches)

    kept = [err for err in errors if not in_wrong_branch(tuple(err["loc"]))] or errors
    return [f"{what}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in kept]
