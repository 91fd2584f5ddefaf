"""Checks that need the languages: triggers parse, mappings are well formed, templates compile,
read only what exists, and URLs take their hosts from the spec or settings only.

Registered into engine.spec.checker's registry when that module is imported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from engine.diagnostics import Diagnostic, KeyPath
from engine.mapping import MappingError, validate_mapping
from engine.spec.checker import CheckContext, check, expanded_steps
from engine.spec.schema import suggest
from engine.templates import TemplateError, check_url, compile_template, compile_value, referenced_names
from engine.trigger import TriggerError, compile_trigger


@check
def triggers_parse(ctx: CheckContext) -> Iterator[Diagnostic]:
    places: list[tuple[KeyPath, Any]] = [(("presets", i, "subscribe"), p.get("subscribe"))
                                         for i, p in enumerate(ctx.data.get("presets") or [])]
    places += [(("actions", k, "default_subscription"), a.get("default_subscription")) for k, a in ctx.actions()]
    for path, text in places:
        if not isinstance(text, str):
            continue
        try:
            compile_trigger(text)
        except TriggerError as exc:
            offset = ctx.doc.inner_column(path, exc.column) if "\n" not in text else None
            yield ctx.error(path, f"invalid trigger: {exc}", column_offset=offset)


def _mapping_issues(ctx: CheckContext, path: KeyPath, value: Any) -> Iterator[Diagnostic]:
    try:
        issues = validate_mapping(value)
    except MappingError as exc:  # some implementations raise instead of returning
        issues = exc.issues
    for issue in issues:
        yield ctx.error(path + tuple(issue.path), f"invalid mapping: {issue.message}")


@check
def mappings_well_formed(ctx: CheckContext) -> Iterator[Diagnostic]:
    for key, action in ctx.actions():
        for fkey, field in (action.get("fields") or {}).items():
            if isinstance(field, dict) and "default" in field:
                yield from _mapping_issues(ctx, ("actions", key, "fields", fkey, "default"), field["default"])
    for i, preset in enumerate(ctx.data.get("presets") or []):
        mapping = preset.get("mapping")
        if isinstance(mapping, dict):
            for fkey, value in mapping.items():
                yield from _mapping_issues(ctx, ("presets", i, "mapping", fkey), value)


def _compile_error(ctx: CheckContext, path: KeyPath, exc: TemplateError) -> Diagnostic:
    """`template does not compile` at the template; at the column of the problem when the template knows it
    (a literal regex pattern): inside a one-line scalar or a literal block (`|`) the diagnostic moves there,
    otherwise the message names the template's line and column."""
    message = f"template does not compile: {exc}"
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    if column is None or line is None:
        return ctx.error(path, message)
    offset = ctx.doc.inner_column(path, column) if line == 1 else None
    if offset is not None:
        return ctx.error(path, message, column_offset=offset)
    start, col = ctx.doc.locate(path)
    if path in ctx.doc.value_positions and 0 < start <= len(ctx.doc.lines) and ctx.doc.lines[start - 1][col - 1:col] == "|":
        # a literal block: template line N is file line start + N, after the block's indentation
        from engine.spec.macro_checks import body_position

        file_line, indent = body_position(ctx.doc, path, line)
        return Diagnostic(ctx.doc.file, file_line, indent + column - 1, tuple(path), message)
    return ctx.error(path, f"{message} (at line {line}, column {column} of the template)")


def _template_sites(request: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    method = request.get("method")
    if isinstance(method, str) and "{" in method:  # a method template
        yield "method", method
    for key in ("headers", "query", "json", "form", "body"):
        if key in request:
            yield key, request[key]


def _leaves(tree: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """Every template string in a tree, with its key path (keys may be templates too)."""
    if isinstance(tree, str):
        yield path, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, path + (key,))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _leaves(value, path + (i,))


def _check_reads(ctx: CheckContext, path: KeyPath, tree: Any, fields: dict[str, Any], done_steps: list[str],
                 all_steps: list[str]) -> Iterator[Diagnostic]:
    """Each template reads only fields of the action, settings, and steps that ran before it;
    a problem is located at the template that does the reading."""
    settings = list((ctx.data.get("settings") or {}).keys())
    for leaf_path, text in _leaves(tree, path):
        if "{" not in text:
            continue
        try:
            names = referenced_names(text)
        except TemplateError:
            continue  # reported by the compile check at the same place
        for name in sorted(names, key=str):
            if len(name) < 2:
                continue
            root, first = name[0], str(name[1])
            if root == "payload" and first not in fields:
                yield ctx.error(leaf_path, f"reads payload.{first}, which is not a field of this action{suggest(first, list(fields))}")
            elif root == "settings" and first not in settings:
                yield ctx.error(leaf_path, f"reads settings.{first}, which is not a setting{suggest(first, settings)}")
            elif root == "steps" and first not in done_steps:
                if first in all_steps:
                    yield ctx.error(leaf_path, f"reads steps.{first} before that step runs; a step can read only the steps before it")
                else:
                    yield ctx.error(leaf_path, f"reads steps.{first}, but no step has that id{suggest(first, all_steps)}")


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")


def _scheme_problem(url: str) -> str | None:
    """Why the URL's literal scheme cannot be sent (only http and https are), or None."""
    cut = [i for i in (url.find("{{"), url.find("{%")) if i >= 0]
    literal = url[: min(cut)] if cut else url
    found = _SCHEME.match(literal.strip())
    if found is None or found.group(1).lower() in ("http", "https"):
        return None
    return f"expected an http or https URL, got the scheme {found.group(1)!r}"


@check
def templates_compile(ctx: CheckContext) -> Iterator[Diagnostic]:
    for base, runnable, fields in ctx.runnables():
        if isinstance(runnable.get("request"), dict):
            steps = [(base, {"id": None, "request": runnable["request"]})]
        elif isinstance(runnable.get("steps"), list):
            steps = list(expanded_steps(ctx.data, runnable["steps"], base + ("steps",)))
        else:
            continue
        all_ids = [s.get("id") for _, s in steps if isinstance(s.get("id"), str)]
        done: list[str] = []
        for step_path, step in steps:
            request = step.get("request")
            req_path = step_path + ("request",)
            if isinstance(step.get("when"), str):
                try:
                    compile_template(step["when"])
                except TemplateError as exc:
                    yield _compile_error(ctx, step_path + ("when",), exc)
                yield from _check_reads(ctx, step_path + ("when",), step["when"], fields, done, all_ids)
            if isinstance(request, dict):
                url = request.get("url")
                if isinstance(url, str):
                    for problem in check_url(url):
                        yield ctx.error(req_path + ("url",), problem)
                    scheme = _scheme_problem(url)
                    if scheme is not None:
                        yield ctx.error(req_path + ("url",), scheme)
                    yield from _check_reads(ctx, req_path + ("url",), url, fields, done, all_ids)
                for key, tree in _template_sites(request):
                    try:
                        compile_value(tree)
                    except TemplateError as exc:
                        sub = tuple(getattr(exc, "path", ()) or ())
                        yield _compile_error(ctx, req_path + (key,) + sub, exc)
                    yield from _check_reads(ctx, req_path + (key,), tree, fields, done, all_ids)
            if isinstance(step.get("id"), str):
                done.append(step["id"])
    defaults = (ctx.data.get("request_defaults") or {}).get("headers")
    if isinstance(defaults, dict):
        try:
            compile_value(defaults)
        except TemplateError as exc:
            yield _compile_error(ctx, ("request_defaults", "headers"), exc)
        for leaf_path, text in _leaves(defaults, ("request_defaults", "headers")):
            try:
                names = referenced_names(text)
            except TemplateError:
                continue
            for name in sorted(names, key=str):
                if len(name) >= 2 and name[0] in ("payload", "steps"):
                    yield ctx.error(leaf_path, f"request_defaults may read only settings, not {name[0]}.{name[1]}")


@check
def batch_sections(ctx: CheckContext) -> Iterator[Diagnostic]:
    """An action's batch: its fields name fields of the action of the right type, its request compiles, takes its
    host from the spec or settings, and reads `payloads` (the list), settings and now; its response template
    compiles."""
    settings = list((ctx.data.get("settings") or {}).keys())
    for key, action in ctx.actions():
        batch = action.get("batch")
        if not isinstance(batch, dict):
            continue
        base = ("actions", key, "batch")
        fields = action.get("fields") or {}
        wanted = {"count_field": ("integer", "number"), "enabled_field": ("boolean",)}
        for name, types in wanted.items():
            value = batch.get(name)
            if not isinstance(value, str):
                continue
            if value not in fields:
                yield ctx.error(base + (name,), f"'{value}' is not a field of action '{key}'{suggest(value, list(fields))}")
            elif isinstance(fields[value], dict) and fields[value].get("type") not in types:
                yield ctx.error(base + (name,), f"field '{value}' must be of type {' or '.join(types)} to be a {name}")
        for i, name in enumerate(batch.get("keys") or []):
            if isinstance(name, str) and name not in fields:
                yield ctx.error(base + ("keys", i), f"batch key '{name}' is not a field of action '{key}'{suggest(name, list(fields))}")
        request = batch.get("request")
        if isinstance(request, dict):
            req_path = base + ("request",)
            sites: list[tuple[KeyPath, Any]] = []
            if isinstance(request.get("url"), str):
                for problem in check_url(request["url"]):
                    yield ctx.error(req_path + ("url",), problem)
                sites.append((req_path + ("url",), request["url"]))
            for site, tree in _template_sites(request):
                try:
                    compile_value(tree)
                except TemplateError as exc:
                    sub = tuple(getattr(exc, "path", ()) or ())
                    yield _compile_error(ctx, req_path + (site,) + sub, exc)
                    continue
                sites.append((req_path + (site,), tree))
            for path, tree in sites:
                for leaf_path, text in _leaves(tree, path):
                    if "{" not in text:
                        continue
                    try:
                        names = referenced_names(text)
                    except TemplateError:
                        continue
                    for name in sorted(names, key=str):
                        if name[0] in ("payload", "steps"):
                            yield ctx.error(leaf_path, f"a batch request reads 'payloads' (the list of payloads), "
                                                       f"not {name[0]}")
                            break
                        if name[0] == "settings" and len(name) >= 2 and str(name[1]) not in settings:
                            yield ctx.error(leaf_path, f"reads settings.{name[1]}, which is not a setting"
                                                       f"{suggest(str(name[1]), settings)}")
        response = batch.get("response")
        if isinstance(response, dict) and isinstance(response.get("errors"), str):
            try:
                compile_template(response["errors"])
            except TemplateError as exc:
                yield _compile_error(ctx, base + ("response", "errors"), exc)


_ALL_ROOTS = ("payload", "payloads", "settings", "steps", "now", "auth", "response")


def _reads(tree: Any, path: KeyPath) -> Iterator[tuple[KeyPath, tuple[Any, ...]]]:
    """(template's path, a path it reads) for every context name, the batch and OAuth2 ones included."""
    from engine.templates.compile import ast_paths, current_environment, is_template, parse

    env = current_environment()
    for leaf_path, text in _leaves(tree, path):
        if "{" not in text or not is_template(text):
            continue
        try:
            names = ast_paths(parse(env, text), roots=_ALL_ROOTS)
        except TemplateError:
            continue
        for name in sorted(names, key=str):
            yield leaf_path, tuple(name)


@check
def oauth2_section(ctx: CheckContext) -> Iterator[Diagnostic]:
    """The token request compiles and reads only settings; its answer templates compile; `auth` is read only by
    a spec that has an oauth2 section."""
    oauth = ctx.data.get("oauth2")
    if isinstance(oauth, dict):
        request = oauth.get("refresh")
        if isinstance(request, dict):
            base = ("oauth2", "refresh")
            sites: list[tuple[KeyPath, Any]] = []
            if isinstance(request.get("url"), str):
                for problem in check_url(request["url"]):
                    yield ctx.error(base + ("url",), problem)
                sites.append((base + ("url",), request["url"]))
            for site, tree in _template_sites(request):
                try:
                    compile_value(tree)
                except TemplateError as exc:
                    yield _compile_error(ctx, base + (site,), exc)
                    continue
                sites.append((base + (site,), tree))
            settings = list((ctx.data.get("settings") or {}).keys())
            for path, tree in sites:
                for leaf_path, name in _reads(tree, path):
                    if name[0] != "settings":
                        yield ctx.error(leaf_path, f"the token request may read only settings, not {name[0]}")
                    elif len(name) >= 2 and str(name[1]) not in settings:
                        yield ctx.error(leaf_path, f"reads settings.{name[1]}, which is not a setting"
                                                   f"{suggest(str(name[1]), settings)}")
        for key in ("access_token", "expires_in"):
            if isinstance(oauth.get(key), str):
                try:
                    compile_template(oauth[key])
                except TemplateError as exc:
                    yield _compile_error(ctx, ("oauth2", key), exc)
        return
    places: list[tuple[KeyPath, Any]] = [(("request_defaults", "headers"),
                                          (ctx.data.get("request_defaults") or {}).get("headers"))]
    places += [(path, runnable) for path, runnable, _ in ctx.runnables()]
    for path, tree in places:
        if "auth" not in str(tree):  # most specs: no template to parse again
            continue
        for leaf_path, name in _reads(tree, path):
            if name[0] == "auth":
                yield ctx.error(leaf_path, "reads auth (the OAuth2 access token), but the spec has no oauth2 section")
                return
