"""OpenAI settings read from the environment, checked once at start-up.

A misconfigured deployment should fail before the first call rings, with a message that
names the variable and says what is wrong with it, and never echoes a secret.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

from engine.openai.errors import ConfigError

__all__ = ["DEFAULT_BASE_URL", "OpenAIConfig", "sideband_url"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"

_SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class OpenAIConfig:
    """Credentials and endpoint of the OpenAI project that owns the SIP trunk.

    ``api_key`` and ``webhook_secret`` are excluded from ``repr`` so that a config that
    ends up in a log line or a traceback does not leak them.
    """

    api_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OpenAIConfig:
        """Read ``OPENAI_API_KEY``, ``OPENAI_WEBHOOK_SECRET`` and ``OPENAI_BASE_URL``.

        Raises ``ConfigError`` naming the first variable that is missing, empty or
        malformed.
        """
        env = os.environ if environ is None else environ
        api_key = _required(env, "OPENAI_API_KEY")
        _check_api_key(api_key)
        secret = _required(env, "OPENAI_WEBHOOK_SECRET")
        check_webhook_secret(secret)
        base_url = env.get("OPENAI_BASE_URL", "").strip() or DEFAULT_BASE_URL
        _check_base_url(base_url)
        return cls(api_key=api_key, webhook_secret=secret, base_url=base_url.rstrip("/"))


def sideband_url(base_url: str, call_id: str) -> str:
    """The sideband WebSocket URL of a call, derived from the REST base URL.

    ``https://api.openai.com/v1`` becomes ``wss://api.openai.com/v1/realtime?call_id=…``;
    ``http://127.0.0.1:8000/v1`` (the simulator) becomes ``ws://…``. The call id is
    percent-encoded because it is opaque to us.
    """
    parts = urlsplit(base_url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(f"base URL must start with http:// or https://, got {parts.scheme!r}")
    path = parts.path.rstrip("/") + "/realtime"
    query = "call_id=" + quote(call_id, safe="")
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if value is None:
        raise ConfigError(f"{name} is not set")
    value = value.strip()
    if not value:
        raise ConfigError(f"{name} is set but empty")
    return value


def _check_api_key(key: str) -> None:
    if any(ch.isspace() for ch in key):
        raise ConfigError("OPENAI_API_KEY contains whitespace; paste the key alone")
    if key.startswith(_SECRET_PREFIX):
        raise ConfigError(
            "OPENAI_API_KEY looks like a webhook signing secret (starts with 'whsec_'); "
            "did you swap it with OPENAI_WEBHOOK_SECRET?"
        )
    if not key.isascii() or not key.isprintable():
        raise ConfigError("OPENAI_API_KEY contains characters that cannot go in an HTTP header")


def check_webhook_secret(secret: str, name: str = "OPENAI_WEBHOOK_SECRET") -> bytes:
    """Validate a Standard Webhooks secret (``whsec_`` + base64) and return the raw key.

    Also used by the webhook verifier, so both agree on what a valid secret is.
    """
    if secret.startswith("v1,"):
        raise ConfigError(
            f"{name} starts with 'v1,', which belongs to signatures, not secrets; "
            "use the 'whsec_…' value shown when the webhook was created"
        )
    if secret.startswith("sk-"):
        raise ConfigError(
            f"{name} looks like an API key (starts with 'sk-'); "
            "use the webhook's signing secret ('whsec_…')"
        )
    if not secret.startswith(_SECRET_PREFIX):
        raise ConfigError(f"{name} must start with 'whsec_'")
    body = secret[len(_SECRET_PREFIX) :]
    if not body:
        raise ConfigError(f"{name} has nothing after 'whsec_'")
    # Secrets are sometimes shown without '=' padding; add it back before a strict decode.
    padded = body + "=" * (-len(body) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name}: the part after 'whsec_' is not valid base64") from None
    if not key:
        raise ConfigError(f"{name}: the part after 'whsec_' decodes to an empty key")
    return key


def _check_base_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            "OPENAI_BASE_URL must be an http(s) URL such as https://api.openai.com/v1"
        )
    if parts.query or parts.fragment:
        raise ConfigError("OPENAI_BASE_URL must not have a query string or fragment")
