"""A declarative call-flow engine for phone calls answered by OpenAI's Realtime API over SIP."""

__version__ = "0.1.0"
