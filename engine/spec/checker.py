"""Semantic checks that JSON Schema cannot express, one function per check, in one registry.

Each check takes a CheckContext (the loaded document, already valid against the schema)
and yields located diagnostics. The languages (triggers, mappings, templates) contribute
their checks here too, so `engine validate` reports every problem of a spec in one run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from engine.diagnostics import Diagnostic, KeyPath
from engine.spec.loader import Document
from engine.spec.schema import suggest


@dataclass
class CheckContext:
    doc: Document

    @property
    def data(self) -> dict[str, Any]:
        return self.doc.data

    def error(self, path: KeyPath, message: str, *, key: bool = False, column_offset: int | None = None) -> Diagnostic:
        return self.doc.diagnostic(path, message, key=key, column_offset=column_offset)

    def warning(self, path: KeyPath, message: str, *, key: bool = False) -> Diagnostic:
        return self.doc.diagnostic(path, message, key=key, severity="warning")

    def actions(self) -> Iterator[tuple[str, dict[str, Any]]]:
        actions = self.data.get("actions") or {}
        yield from actions.items()

    def runnables(self) -> Iterator[tuple[KeyPath, dict[str, Any], dict[str, Any]]]:
        """(path, runnable, fields) for every action, test_authentication and on_delete."""
        for key, action in self.actions():
            yield ("actions", key), action, action.get("fields") or {}
        for key in ("test_authentication", "on_delete"):
            if isinstance(self.data.get(key), dict):
                fields = {"userId": {"type": "string"}} if key == "on_delete" else {}
                yield (key,), self.data[key], fields


Check = Callable[[CheckContext], Iterable[Diagnostic]]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    CHECKS.append(fn)
    return fn


def run_checks(doc: Document, *, tolerate_shape_errors: bool = False) -> list[Diagnostic]:
    """Every check's diagnostics. When the schema already reported problems, a check that trips
    over a malformed shape is skipped on its own, so the other checks still report theirs."""
    ctx = CheckContext(doc)
    out: list[Diagnostic] = []
    for fn in CHECKS:
        try:
            out.extend(list(fn(ctx)))
        except (TypeError, AttributeError, KeyError, ValueError):
            if not tolerate_shape_errors:
                raise
    return out


def expanded_steps(data: dict[str, Any], steps: list[Any], path: KeyPath,
                   seen: tuple[str, ...] = ()) -> Iterator[tuple[KeyPath, dict[str, Any]]]:
    """Steps with every `use:` replaced by its procedure's steps (their own paths), cycles cut."""
    procedures = data.get("procedures") or {}
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        name = step.get("use")
        if isinstance(name, str):
            if name in procedures and name not in seen and isinstance(procedures[name], list):
                yield from expanded_steps(data, procedures[name], ("procedures", name), seen + (name,))
            continue
        yield path + (i,), step


@check
def preset_actions_exist(ctx: CheckContext) -> Iterator[Diagnostic]:
    actions = list((ctx.data.get("actions") or {}).keys())
    for i, preset in enumerate(ctx.data.get("presets") or []):
        name = preset.get("action")
        if isinstance(name, str) and name not in actions:
            yield ctx.error(("presets", i, "action"),
                            f"preset '{preset.get('name')}' names action '{name}', which is not defined{suggest(name, actions)}; defined actions: {', '.join(actions)}")


@check
def preset_mapping_keys_are_fields(ctx: CheckContext) -> Iterator[Diagnostic]:
    actions = ctx.data.get("actions") or {}
    for i, preset in enumerate(ctx.data.get("presets") or []):
        action = actions.get(preset.get("action"))
        mapping = preset.get("mapping")
        if not isinstance(action, dict) or not isinstance(mapping, dict):
            continue
        fields = list((action.get("fields") or {}).keys())
        for key in mapping:
            if key not in fields:
                yield ctx.error(("presets", i, "mapping", key),
                                f"'{key}' is not a field of action '{preset['action']}'{suggest(key, fields)}", key=True)


@check
def request_or_steps(ctx: CheckContext) -> Iterator[Diagnostic]:
    for path, runnable, _ in ctx.runnables():
        has_request, has_steps = "request" in runnable, "steps" in runnable
        if has_request and has_steps:
            yield ctx.error(path + ("steps",), "give either 'request' or 'steps', not both", key=True)
        elif not has_request and not has_steps:
            yield ctx.error(path, "missing 'request' or 'steps': say what HTTP request this sends", key=True)


def _requests(ctx: CheckContext) -> Iterator[tuple[KeyPath, dict[str, Any]]]:
    for path, runnable, _ in ctx.runnables():
        if isinstance(runnable.get("request"), dict):
            yield path + ("request",), runnable["request"]
        for step_path, step in _step_items(runnable.get("steps"), path + ("steps",)):
            if isinstance(step.get("request"), dict):
                yield step_path + ("request",), step["request"]
    for name, steps in (ctx.data.get("procedures") or {}).items():
        for step_path, step in _step_items(steps, ("procedures", name)):
            if isinstance(step.get("request"), dict):
                yield step_path + ("request",), step["request"]


def _step_items(steps: Any, path: KeyPath) -> Iterator[tuple[KeyPath, dict[str, Any]]]:
    if isinstance(steps, list):
        for i, step in enumerate(steps):
            if isinstance(step, dict):
                yield path + (i,), step


@check
def one_body(ctx: CheckContext) -> Iterator[Diagnostic]:
    for path, request in _requests(ctx):
        bodies = [k for k in ("json", "form", "body") if k in request]
        if len(bodies) > 1:
            yield ctx.error(path + (bodies[1],), f"a request has one body: give only one of json, form or body (found {', '.join(bodies)})", key=True)
        if request.get("method") in ("GET", "HEAD") and bodies:
            yield ctx.error(path + (bodies[0],), f"a {request['method']} request cannot have a body", key=True)


def _all_step_lists(ctx: CheckContext) -> Iterator[tuple[KeyPath, list[Any]]]:
    for path, runnable, _ in ctx.runnables():
        if isinstance(runnable.get("steps"), list):
            yield path + ("steps",), runnable["steps"]
    for name, steps in (ctx.data.get("procedures") or {}).items():
        if isinstance(steps, list):
            yield ("procedures", name), steps


@check
def step_shapes(ctx: CheckContext) -> Iterator[Diagnostic]:
    procedures = list((ctx.data.get("procedures") or {}).keys())
    for path, steps in _all_step_lists(ctx):
        for step_path, step in _step_items(steps, path):
            if "use" in step:
                extra = [k for k in step if k != "use"]
                if extra:
                    yield ctx.error(step_path + (extra[0],), f"a 'use' step only names a procedure; '{extra[0]}' belongs in the procedure's steps", key=True)
                if step["use"] not in procedures:
                    listed = f"; defined procedures: {', '.join(procedures)}" if procedures else "; this spec defines no procedures"
                    yield ctx.error(step_path + ("use",), f"'use' names procedure '{step['use']}', which is not defined{suggest(step['use'], procedures)}{listed}")
            else:
                if "request" not in step:
                    yield ctx.error(step_path, "a step needs a 'request' (or 'use' to include a procedure)")
                if "id" not in step:
                    yield ctx.error(step_path, "a step needs an 'id' so that later steps and reports can refer to it")


@check
def procedures_do_not_recurse(ctx: CheckContext) -> Iterator[Diagnostic]:
    procedures = ctx.data.get("procedures") or {}

    def uses(name: str) -> list[tuple[int, str]]:
        return [(i, s["use"]) for i, s in enumerate(procedures.get(name) or []) if isinstance(s, dict) and isinstance(s.get("use"), str)]

    for name in procedures:
        stack, seen = [(name, ())], set()
        while stack:
            current, chain = stack.pop()
            for i, used in uses(current):
                if used == name:
                    yield ctx.error(("procedures", current, i, "use"),
                                    f"procedure '{name}' includes itself through {' -> '.join((name,) + chain + (used,))}")
                elif used not in seen:
                    seen.add(used)
                    stack.append((used, chain + (used,)))


@check
def step_ids_unique(ctx: CheckContext) -> Iterator[Diagnostic]:
    for path, runnable, _ in ctx.runnables():
        if not isinstance(runnable.get("steps"), list):
            continue
        first: dict[str, KeyPath] = {}
        for step_path, step in expanded_steps(ctx.data, runnable["steps"], path + ("steps",)):
            sid = step.get("id")
            if not isinstance(sid, str):
                continue
            if sid in first:
                line, col = ctx.doc.locate(first[sid] + ("id",))
                via = "" if step_path[: len(path)] == path else f" (included into {'.'.join(map(str, path))})"
                yield ctx.error(step_path + ("id",), f"step id '{sid}' is already used by the step at line {line}{via}; step ids must be unique within an action")
            else:
                first[sid] = step_path


@check
def required_fields_have_values(ctx: CheckContext) -> Iterator[Diagnostic]:
    presets = ctx.data.get("presets") or []
    for key, action in ctx.actions():
        for fkey, field in (action.get("fields") or {}).items():
            if field.get("required") is not True or "default" in field:
                continue
            mapped = any(p.get("action") == key and fkey in (p.get("mapping") or {}) for p in presets)
            if not mapped:
                yield ctx.warning(("actions", key, "fields", fkey),
                                  f"required field '{fkey}' has no default and no preset maps it; every event will be invalid unless a user mapping sets it",
                                  key=True)


@check
def settings_well_formed(ctx: CheckContext) -> Iterator[Diagnostic]:
    """A setting's choices fit its type, its default fits its choices and format, `format` is for strings,
    and `depends_on` names another setting."""
    from engine.runtime.settings import FORMATS, choice_values

    settings = ctx.data.get("settings") or {}
    python_types = {"string": (str,), "password": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,)}
    for key, spec in settings.items():
        if not isinstance(spec, dict):
            continue
        path = ("settings", key)
        kind = spec.get("type", "string")
        wanted = python_types.get(kind, (str,))
        choices = choice_values(spec)
        for i, value in enumerate(choices):
            if not isinstance(value, wanted) or (kind != "boolean" and isinstance(value, bool)):
                yield ctx.error(path + ("choices", i), f"choice {value!r} is not a {kind}, the type of setting '{key}'")
        fmt = spec.get("format")
        if fmt is not None and kind not in ("string", "password"):
            yield ctx.error(path + ("format",), f"format '{fmt}' is for string settings; '{key}' is {'an' if kind == 'integer' else 'a'} {kind}")
        default = spec.get("default")
        if default not in (None, ""):
            if choices and default not in choices:
                yield ctx.error(path + ("default",), f"default {default!r} is not one of the choices of setting '{key}'")
            elif fmt in FORMATS and isinstance(default, str) and not FORMATS[fmt][0](default):
                yield ctx.error(path + ("default",), f"default {default!r} is not {FORMATS[fmt][1]} (format {fmt})")
        depends = spec.get("depends_on")
        other = depends.get("setting") if isinstance(depends, dict) else depends
        if isinstance(other, str) and (other not in settings or other == key):
            where = path + ("depends_on",) + (("setting",) if isinstance(depends, dict) else ())
            yield ctx.error(where, f"depends_on names '{other}', which is not another setting"
                                   f"{suggest(other, [k for k in settings if k != key])}")
