"""The flow language: models, loader, linter, templates and the number → flow registry."""

from .diagnostics import Diagnostic, Severity, Span
from .lint import FileResult, LintReport, collect_files, lint_files, lint_text
from .model import Flow, HttpRequest, Parameter, State, Tool
from .numbers import is_e164, normalize_number
from .registry import FlowSnapshot, Registry, ReloadReport, Snapshot
from .schema import flow_schema, flow_schema_text
from .templates import TemplateError, render

__all__ = [
    "Diagnostic",
    "FileResult",
    "Flow",
    "FlowSnapshot",
    "HttpRequest",
    "LintReport",
    "Parameter",
    "Registry",
    "ReloadReport",
    "Severity",
    "Snapshot",
    "Span",
    "State",
    "TemplateError",
    "Tool",
    "collect_files",
    "flow_schema",
    "flow_schema_text",
    "is_e164",
    "lint_files",
    "lint_text",
    "normalize_number",
    "render",
]
