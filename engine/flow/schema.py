"""The flow JSON Schema, generated from the models (checked in as schemas/flow.schema.json)."""

from __future__ import annotations

import json
from typing import Any

from .model import Flow

__all__ = ["flow_schema", "flow_schema_text"]


def flow_schema() -> dict[str, Any]:
    schema = Flow.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "Call flow",
    }


def flow_schema_text() -> str:
    return json.dumps(flow_schema(), indent=2, ensure_ascii=False) + "\n"
