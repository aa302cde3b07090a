"""Secrets written into a flow: a token in an HTTP header instead of `{{ env.NAME }}`.

Flow files are shared, reviewed, committed and printed by lint; a token in one is a leaked
token. The docs say to read secrets from the environment; this rule holds flows to it. The
message never quotes the token, and the line lint shows has it masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..diagnostics import Diagnostic
from .base import LintContext, rule

# Headers whose whole purpose is a credential.
_CREDENTIAL_HEADER = re.compile(r"auth|token|key|secret|password|session|cookie", re.I)
# The words an Authorization value starts with, which are not themselves secret.
_SCHEME = re.compile(r"^\s*(bearer|basic|token|digest|apikey|api-key|key)\b\s*", re.I)
# Tokens recognisable by their shape wherever they are written (OpenAI, Stripe, GitHub, Slack,
# AWS, a JSON Web Token).
_KNOWN_TOKEN = re.compile(
    r"\b(?:sk|rk|pk)[-_](?:live|test|proj)?[-_]?[A-Za-z0-9]{8,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
    r"|\bxox[abpr]-[A-Za-z0-9-]{10,}"
    r"|\bAKIA[0-9A-Z]{16}\b"
    r"|\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"
)
_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_MIN_SECRET = 8  # shorter literal text is a placeholder or a word, not a credential


def _written_secret(header: str, value: str) -> bool:
    """Whether the header's value holds a credential written out, not read from `env`."""
    literal = _TEMPLATE.sub(" ", value)
    if _KNOWN_TOKEN.search(literal):
        return True
    if not _CREDENTIAL_HEADER.search(header):
        return False
    rest = _SCHEME.sub("", literal).strip()
    return len(rest) >= _MIN_SECRET and not rest.isspace()


def _variable(tool: str, header: str) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "_", tool).strip("_").upper() or "SERVICE"
    return f"{base}_TOKEN" if "auth" in header.lower() else f"{base}_KEY"


@rule(
    "header-secret",
    "An HTTP header holds a token or key written into the flow instead of read from the "
    "environment with `{{ env.NAME }}`.",
)
def header_secret(ctx: LintContext) -> Iterator[Diagnostic]:
    for name, tool in ctx.flow.tools.items():
        if tool.http is None:
            continue
        for header, value in tool.http.headers.items():
            if not _written_secret(header, value):
                continue
            variable = _variable(name, header)
            scheme = _SCHEME.match(_TEMPLATE.sub(" ", value))
            shown = f"{scheme.group(1)} {{{{ env.{variable} }}}}" if scheme else None
            example = f'"{shown}"' if shown else f'"{{{{ env.{variable} }}}}"'
            diagnostic = ctx.diagnostic(
                "header-secret",
                ("tools", name, "http", "headers", header),
                f'the header "{header}" of the tool "{name}" holds a token written into the '
                "flow; a flow file is shared and printed, so a secret in it is a leaked secret",
                hint=f"read it from the environment: {header}: {example}, with {variable} set "
                "where the engine runs; then have the token replaced, as it has been in a file",
            )
            yield diagnostic.masked()
