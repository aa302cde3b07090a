"""Optional contract checks against the official ``openai`` SDK's types.

When the SDK is importable, every client event the simulator receives and every accept
body is validated against the SDK's TypedDicts (``RealtimeClientEventParam``,
``CallAcceptParams``), with unknown keys forbidden. Violations are recorded on the call,
so a contract test can assert there are none. Without the SDK the checks are skipped:
the simulator itself never depends on it (the demo runs without test dependencies).
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["StrictValidator"]

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
        return _validate(self._client, event, f"client event {event.get('type')!r}")

    def accept_body(self, body: dict[str, Any]) -> list[str]:
        if self._accept is None:
            return []
        return _validate(self._accept, body, "accept body")


def _build_adapters() -> tuple[Any, Any]:
    from openai.types.realtime.call_accept_params import CallAcceptParams
    from openai.types.realtime.realtime_client_event_param import RealtimeClientEventParam
    from pydantic import ConfigDict, TypeAdapter

    forbid = ConfigDict(extra="forbid")
    return (
        TypeAdapter(RealtimeClientEventParam, config=forbid),
        TypeAdapter(CallAcceptParams, config=forbid),
    )


def _validate(adapter: Any, value: Any, what: str) -> list[str]:
    from pydantic import ValidationError

    try:
        adapter.validate_python(value, strict=False)
    except ValidationError as exc:
        return [
            f"{what}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        ]
    return []
