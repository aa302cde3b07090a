"""The template context of one call: who called, which number, the flow's vars, the clock."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..flow.model import Flow
from ..flow.numbers import extract_uri, normalize_number
from ..flow.rules.templating import SECRET_ENV_PREFIXES, env_names
from ..flow.templates import FlowEnv

__all__ = ["FlowEnv", "HeaderMap", "build_context", "flow_env"]

_DISPLAY_NAME = re.compile(r'^\s*"?([^"<]*?)"?\s*<')
_HOST = re.compile(r"^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;>]+)", re.IGNORECASE)


class HeaderMap(dict[str, str]):
    """SIP headers by name, looked up without regard to case (first value of a repeat)."""

    def __init__(self, headers: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        for name, value in headers:
            self.setdefault(name.lower(), value)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


def flow_env(environ: Mapping[str, str], names: Iterable[str]) -> FlowEnv:
    """The environment a flow may read: the variables it names, never the engine's own."""
    return FlowEnv(
        {
            name: environ[name]
            for name in names
            if name in environ and not name.startswith(SECRET_ENV_PREFIXES)
        }
    )


def _display_name(value: str | None) -> str:
    if not value:
        return ""
    match = _DISPLAY_NAME.match(value)
    return match.group(1).strip() if match else ""


def build_context(
    *,
    call_id: str,
    flow: Flow,
    caller: str | None,
    dialled: str | None,
    headers: Iterable[tuple[str, str]],
    contact: str | None,
    env: Mapping[str, str],
    now: datetime,
    default_country_code: str | None = None,
) -> dict[str, Any]:
    """``caller`` is the From (or P-Asserted-Identity) value, ``dialled`` the To value."""
    contact_host = ""
    if contact:
        match = _HOST.match(extract_uri(contact))
        contact_host = match.group(1) if match else ""
    return {
        "caller": {
            "number": normalize_number(caller or "", default_country_code) or "anonymous",
            "name": _display_name(caller),
        },
        "called": {"number": normalize_number(dialled or "", default_country_code) or ""},
        "call": {
            "id": call_id,
            "sip_headers": HeaderMap(headers),
            "contact_host": contact_host,
            "state": flow.start_state or "",
        },
        "vars": dict(flow.vars),
        "env": flow_env(env, env_names(flow)),
        "now": now.astimezone(ZoneInfo(flow.timezone)),
        "saved": {},
    }
