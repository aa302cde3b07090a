"""The OpenAI platform adapter: everything that speaks OpenAI's wire format.

- ``OpenAIConfig.from_env()``: API key, webhook secret and base URL, checked at start-up.
- ``verify_webhook()`` / ``ReplayGuard``: accept only signed, fresh, first-time deliveries.
- ``parse_incoming_call()`` → ``IncomingCall``: the pending call and its SIP headers.
- ``CallControl``: ``accept`` / ``reject`` / ``refer`` / ``hangup`` over REST.
- ``open_sideband()`` → ``Sideband``: the call's event WebSocket.

Wire level only: no call-flow decisions live here.
"""

from engine.openai.config import DEFAULT_BASE_URL, OpenAIConfig, sideband_url
from engine.openai.errors import (
    CallControlError,
    CallControlTimeout,
    CallNotFound,
    ConfigError,
    OpenAIAdapterError,
    SidebandError,
    WebhookRejected,
)
from engine.openai.incoming import (
    INCOMING_CALL_EVENT,
    IncomingCall,
    parse_incoming_call,
)
from engine.openai.rest import CallControl
from engine.openai.sideband import Sideband, open_sideband
from engine.openai.webhook import ReplayGuard, verify_webhook

__all__ = [
    "DEFAULT_BASE_URL",
    "INCOMING_CALL_EVENT",
    "CallControl",
    "CallControlError",
    "CallControlTimeout",
    "CallNotFound",
    "ConfigError",
    "IncomingCall",
    "OpenAIAdapterError",
    "OpenAIConfig",
    "ReplayGuard",
    "Sideband",
    "SidebandError",
    "WebhookRejected",
    "open_sideband",
    "parse_incoming_call",
    "sideband_url",
    "verify_webhook",
]
