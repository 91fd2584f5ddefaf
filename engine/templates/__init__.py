"""Sandboxed Jinja2 templates for request values, URLs and `when` conditions (see docs/templates.md)."""

from engine.templates.compile import (
    compile_template,
    compile_value,
    is_template,
    make_context,
    referenced_names,
)
from engine.templates.environment import (
    MAX_OUTPUT,
    MAX_RANGE,
    MAX_STEPS,
    EventRejected,
    TemplateCompileError,
    TemplateEnvironment,
    TemplateError,
    TemplateRenderError,
    build_environment,
    make_environment,
    to_text,
)
from engine.templates.urls import check_url, compile_url

__all__ = [
    "MAX_OUTPUT",
    "MAX_RANGE",
    "MAX_STEPS",
    "EventRejected",
    "TemplateCompileError",
    "TemplateEnvironment",
    "TemplateError",
    "TemplateRenderError",
    "build_environment",
    "check_url",
    "compile_template",
    "compile_url",
    "compile_value",
    "is_template",
    "make_context",
    "make_environment",
    "referenced_names",
    "to_text",
]
