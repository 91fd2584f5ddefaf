"""A spec's `macros:` section: named Jinja bodies compiled once per spec into an environment of their own.

Each macro is `name: {params: [...], defaults: {...}, body: "jinja text", description: "..."}`. Its body is
parsed and checked like any template, built into one Jinja macro, and set as a global of an overlay of the
shared environment, so every template compiled in that overlay (request URL, headers, query, bodies, steps'
`when`, batch and OAuth2 requests) calls it by name: `{{ full_name(payload.first, payload.last) }}`.

A macro sees only its parameters (plus the template globals, filters and the other macros), never `payload`,
`settings` or `steps`: what it reads is what it is given, so the read checks and the URL host rule see every
value at the call. Recursion is refused when the spec loads (a cycle in the call graph, or calls nested more
than `MAX_MACRO_DEPTH` deep), and every call also counts its depth at run time, since an inline `{% macro %}`
passed as an argument could call back into the macro that received it. Calls, loops and `range()` inside a
macro spend the budget of the render that called it; an error inside a macro names it.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import nodes

from engine.templates.environment import (
    MAX_OUTPUT,
    EventRejected,
    TemplateCompileError,
    TemplateEnvironment,
    TemplateRenderError,
    _check_size,
    _render_error,
    check_ast,
    make_environment,
)

MAX_MACRO_DEPTH = 16
"""Most macro calls that may be nested inside one another (refused at load time, bounded at run time)."""

RESERVED_NAMES = frozenset(["payload", "payloads", "settings", "steps", "now", "auth", "response", "result",
                            "loop", "caller", "varargs", "kwargs", "self", "super"])
"""Names a template may already mean something by; neither a macro nor a parameter may take them."""


@dataclass(frozen=True)
class Signature:
    """What a call of a macro may pass: `params` in order, the first `required` of them without a default."""

    name: str
    params: tuple[str, ...]
    required: int

    def describe(self) -> str:
        shown = [p if i < self.required else f"{p}=…" for i, p in enumerate(self.params)]
        return f"{self.name}({', '.join(shown)})"


@dataclass
class MacroProblem:
    """One problem of the section: the macro, the key under it (None: the macro's name), the line inside the body."""

    name: str
    key: str | None
    message: str
    line: int | None = None
    item: str | int | None = None  # the parameter (its index) or default (its key) the problem is about


@dataclass
class MacroLibrary:
    """The compiled section: the environment its templates compile in, and what was wrong with it."""

    environment: TemplateEnvironment
    signatures: dict[str, Signature] = field(default_factory=dict)
    problems: list[MacroProblem] = field(default_factory=list)


# -- run time ------------------------------------------------------------------------------------

_STACK: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("macro_stack", default=())


class MacroRenderError(TemplateRenderError):
    """A render error raised inside a macro, its message already naming the macro (and its callers)."""


def _where(stack: tuple[str, ...]) -> str:
    return "macro " + " → ".join(f"'{name}'" for name in stack)


def _guarded(name: str, macro: Callable[..., Any]) -> Callable[..., str]:
    """The callable a template sees: counts the nesting depth, bounds the result's size, names the macro in errors."""

    def call_macro(*args: Any, **kwargs: Any) -> str:
        stack = _STACK.get() + (name,)
        if len(stack) > MAX_MACRO_DEPTH:
            raise MacroRenderError(f"{_where(stack[:1])}: macro calls nested more than {MAX_MACRO_DEPTH} deep "
                                   f"(through '{name}')")
        token = _STACK.set(stack)
        try:
            result = macro(*args, **kwargs)
        except (MacroRenderError, EventRejected):
            raise
        except TemplateRenderError as exc:
            raise MacroRenderError(f"{_where(stack)}: {exc.message}") from None
        except Exception as exc:
            mapped = _render_error(exc)
            if mapped is None:
                raise
            raise MacroRenderError(f"{_where(stack)}: {mapped.message}") from None
        finally:
            _STACK.reset(token)
        text = str(result)
        if len(text) > MAX_OUTPUT:
            _check_size(len(text), f"a text in {_where(stack)}")
        return text

    call_macro.__name__ = name
    call_macro.__qualname__ = f"macro {name}"
    return call_macro


# -- static checks of calls -------------------------------------------------------------------------

def _stored_names(ast: nodes.Node) -> set[str]:
    """Names the template binds itself: `{% set %}`, loop targets, inline `{% macro %}`s and their parameters."""
    out = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    out.update(m.name for m in ast.find_all(nodes.Macro))
    return out


def _suggest(word: str, options: list[str]) -> str:
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def check_calls(env: TemplateEnvironment, ast: nodes.Template) -> None:
    """Raises TemplateCompileError for a call of a name that is neither a global, a macro of the spec nor bound
    by the template, for a macro call with the wrong arguments, and for a macro used without being called."""
    signatures: Mapping[str, Signature] = getattr(env, "macro_signatures", {})
    local = _stored_names(ast)
    callees: set[int] = set()
    for call in ast.find_all(nodes.Call):
        callee = call.node
        if not isinstance(callee, nodes.Name) or callee.name in local or callee.name in RESERVED_NAMES:
            continue
        callees.add(id(callee))
        signature = signatures.get(callee.name)
        if signature is None:
            if callee.name not in env.globals:
                known = sorted({*signatures, *(g for g in env.globals if not g.startswith("_"))})
                kind = "macro or function"
                raise TemplateCompileError(f"unknown {kind} '{callee.name}'{_suggest(callee.name, known)}",
                                           call.lineno)
            continue
        _check_arguments(signature, call)
    for block in ast.find_all(nodes.CallBlock):
        callee = block.call.node
        if isinstance(callee, nodes.Name) and callee.name in signatures and callee.name not in local:
            raise TemplateCompileError(f"macro '{callee.name}' cannot be used with {{% call %}}: a spec's macros "
                                       "take no caller block", block.lineno)
    for name in ast.find_all(nodes.Name):
        if name.ctx == "load" and name.name in signatures and name.name not in local and id(name) not in callees:
            raise TemplateCompileError(f"macro '{name.name}' must be called, as {signatures[name.name].describe()}; "
                                       "macros cannot be passed as values", name.lineno)


def _check_arguments(signature: Signature, call: nodes.Call) -> None:
    where = f"macro {signature.describe()}"
    if call.dyn_args is not None or call.dyn_kwargs is not None:
        raise TemplateCompileError(f"{where} must be called with its arguments written out (no * or **)", call.lineno)
    given = len(call.args)
    if given > len(signature.params):
        raise TemplateCompileError(f"{where} takes at most {len(signature.params)} argument"
                                   f"{'' if len(signature.params) == 1 else 's'}, got {given}", call.lineno)
    named = set(signature.params[:given])
    for keyword in call.kwargs:
        if keyword.key not in signature.params:
            raise TemplateCompileError(f"{where} has no parameter '{keyword.key}'"
                                       f"{_suggest(keyword.key, list(signature.params))}", call.lineno)
        if keyword.key in named:
            raise TemplateCompileError(f"{where} got '{keyword.key}' twice", call.lineno)
        named.add(keyword.key)
    missing = [p for p in signature.params[: signature.required] if p not in named]
    if missing:
        listed = ", ".join(f"'{p}'" for p in missing)
        raise TemplateCompileError(f"{where} is missing the argument{'s' if len(missing) > 1 else ''} {listed}",
                                   call.lineno)


# -- compiling the section ---------------------------------------------------------------------------

def _is_name(env: TemplateEnvironment, name: Any) -> bool:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        return False
    try:
        ast = env.parse("{{ " + name + " }}")
    except Exception:
        return False
    body = ast.body[0] if ast.body else None
    return isinstance(body, nodes.Output) and isinstance(body.nodes[0], nodes.Name) and body.nodes[0].name == name


def _signature(env: TemplateEnvironment, name: str, spec: Any, problems: list[MacroProblem]) -> Signature | None:
    if not isinstance(spec, dict):
        return None
    params = spec.get("params", [])
    defaults = spec.get("defaults") or {}
    if not isinstance(params, list) or not isinstance(defaults, dict):
        return None
    ok = True
    seen: set[str] = set()
    for i, param in enumerate(params):
        if not _is_name(env, param) or param in RESERVED_NAMES:
            problems.append(MacroProblem(name, "params", f"'{param}' cannot be a parameter name: use letters, digits "
                                         "and _ (not first), and none of " + ", ".join(sorted(RESERVED_NAMES)), None, i))
            ok = False
            if not isinstance(param, str):  # a list or a mapping: not comparable with the names (unhashable)
                continue
        elif param in seen:
            problems.append(MacroProblem(name, "params", f"parameter '{param}' is listed twice", None, i))
            ok = False
        seen.add(param)
    for key in defaults:
        if key not in seen:
            problems.append(MacroProblem(name, "defaults", f"'{key}' is not a parameter of macro '{name}'"
                                         f"{_suggest(key, list(seen))}", None, key))
            ok = False
    with_default = [isinstance(p, str) and p in defaults for p in params]
    if any(a and not b for a, b in zip(with_default, with_default[1:], strict=False)):
        first = next(p for p, d in zip(params, with_default, strict=True) if d)
        problems.append(MacroProblem(name, "defaults", f"parameter '{first}' has a default, so the parameters after it "
                                     "need defaults too (list the optional ones last)", None, first))
        ok = False
    if not ok:
        return None
    required = sum(1 for d in with_default if not d)
    return Signature(name, tuple(params), required)


def _body_calls(ast: nodes.Template, params: tuple[str, ...], signatures: Mapping[str, Signature]) -> dict[str, int]:
    """The macros a body calls, each with the line of its first call."""
    local = _stored_names(ast) | set(params)
    found: dict[str, int] = {}
    for call in ast.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name in signatures and call.node.name not in local:
            line = call.lineno or 1
            found[call.node.name] = min(found.get(call.node.name, line), line)
    return found


def _check_body_names(env: TemplateEnvironment, sig: Signature, ast: nodes.Template,
                      signatures: Mapping[str, Signature]) -> MacroProblem | None:
    """A body reads only its parameters, what it binds itself, the globals and the other macros."""
    local = _stored_names(ast) | set(sig.params)
    callees = {id(c.node) for c in ast.find_all(nodes.Call)}  # an unknown callee is check_calls' to report
    for name in ast.find_all(nodes.Name):
        if name.ctx != "load" or name.name in local or name.name in signatures or name.name in env.globals:
            continue
        if id(name) in callees and name.name not in RESERVED_NAMES:
            continue
        if name.name in RESERVED_NAMES:
            message = (f"reads '{name.name}', but a macro sees only its parameters; pass what it needs as an argument "
                       f"(parameters: {', '.join(sig.params) or 'none'})")
        else:
            message = (f"reads '{name.name}', which is not a parameter of macro '{sig.name}'"
                       f"{_suggest(name.name, list(sig.params))}")
        return MacroProblem(sig.name, "body", message, name.lineno)
    return None


def _cycles(graph: dict[str, dict[str, int]]) -> Iterator[list[str]]:
    """Each macro that can reach itself, with one cycle through it (first in declaration order)."""
    reported: set[str] = set()
    for start in graph:
        if start in reported:
            continue
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for callee in sorted(graph.get(node, ())):
                if callee == start:
                    reported.update(path)
                    yield [*path, start]
                    stack.clear()
                    break
                if callee not in seen:
                    seen.add(callee)
                    stack.append((callee, [*path, callee]))


def _depths(graph: dict[str, dict[str, int]]) -> dict[str, int]:
    """How deep the calls of each macro nest (1: it calls no macro); the graph has no cycle."""
    depth: dict[str, int] = {}

    def visit(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((visit(c) for c in graph.get(name, ())), default=0)
        return depth[name]

    for name in graph:
        visit(name)
    return depth


def compile_macros(section: Any) -> MacroLibrary:
    """The environment of a spec whose `macros:` section is `section` (None or empty: the shared environment)."""
    base = make_environment()
    if not isinstance(section, dict) or not section:
        return MacroLibrary(base)
    env: TemplateEnvironment = base.overlay()
    env.globals = dict(base.globals)
    problems: list[MacroProblem] = []
    signatures: dict[str, Signature] = {}
    for name, spec in section.items():
        if not _is_name(base, name) or name in RESERVED_NAMES:
            problems.append(MacroProblem(name, None, f"'{name}' cannot be a macro name: use letters, digits and _ "
                                         "(not first), and none of " + ", ".join(sorted(RESERVED_NAMES))))
            continue
        clash = "function" if name in base.globals else "filter" if name in base.filters else None
        if clash is not None:  # still given a signature: the calls are checked against it, not reported as unknown
            problems.append(MacroProblem(name, None, f"macro '{name}' has the name of a template {clash}; "
                                         "choose another name"))
        signature = _signature(base, name, spec, problems)
        if signature is not None:
            signatures[name] = signature
    env.macro_signatures = signatures  # type: ignore[attr-defined]
    asts: dict[str, nodes.Template] = {}
    for name, signature in signatures.items():
        body = section[name].get("body")
        if not isinstance(body, str):
            continue
        if body.endswith("\n"):  # what Jinja does to a template's one final newline (YAML `|` adds one)
            body = body[:-1]
        try:
            ast = env.parse(body)
            check_ast(env, ast)
        except TemplateCompileError as exc:
            problems.append(MacroProblem(name, "body", exc.message, exc.line))
            continue
        except Exception as exc:  # jinja2.TemplateSyntaxError
            problems.append(MacroProblem(name, "body", f"template syntax error: {getattr(exc, 'message', exc)}",
                                         getattr(exc, "lineno", None)))
            continue
        problem = _check_body_names(env, signature, ast, signatures)
        if problem is None:
            try:
                check_calls(_without_params(env, signature, ast), ast)
            except TemplateCompileError as exc:
                problem = MacroProblem(name, "body", exc.message, exc.line)
        if problem is not None:
            problems.append(problem)
            continue
        asts[name] = ast
    graph = {name: _body_calls(ast, signatures[name].params, signatures) for name, ast in asts.items()}
    cyclic: set[str] = set()
    for cycle in _cycles(graph):
        cyclic.update(cycle)
        problems.append(MacroProblem(cycle[0], "body", f"macro '{cycle[0]}' calls itself "
                                     f"({' → '.join(cycle)}); macros may not recurse", graph[cycle[0]][cycle[1]]))
    if not cyclic:
        for name, depth in _depths(graph).items():
            if depth > MAX_MACRO_DEPTH:
                problems.append(MacroProblem(name, "body", f"macro '{name}' nests macro calls {depth} deep; "
                                             f"at most {MAX_MACRO_DEPTH}"))
    if problems:
        return MacroLibrary(env, signatures, problems)
    for name in _call_order(graph):  # callees first: a body's template is made after the macros it calls
        env.globals[name] = _guarded(name, _build(env, name, signatures[name], section[name], asts[name]))
    return MacroLibrary(env, signatures, problems)


def _without_params(env: TemplateEnvironment, signature: Signature, ast: nodes.Template) -> TemplateEnvironment:
    """`env` for checking a body's calls: calls of its parameters (callables passed in) are its own business."""
    if not signature.params:
        return env
    view = env.overlay()
    view.globals = {**env.globals, **{p: None for p in signature.params}}
    view.macro_signatures = {k: v for k, v in env.macro_signatures.items()  # type: ignore[attr-defined]
                             if k not in signature.params}
    return view


def _call_order(graph: dict[str, dict[str, int]]) -> list[str]:
    """Callees before their callers (the graph has no cycle)."""
    order: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        done.add(name)
        for callee in sorted(graph[name]):
            visit(callee)
        order.append(name)

    for name in graph:
        visit(name)
    return order


def _build(env: TemplateEnvironment, name: str, signature: Signature, spec: dict[str, Any],
           ast: nodes.Template) -> Callable[..., Any]:
    """One Jinja macro from its checked body, defined by rendering a one-macro template once."""
    defaults = spec.get("defaults") or {}
    lineno = 1
    macro = nodes.Macro(
        name,
        [nodes.Name(p, "param", lineno=lineno) for p in signature.params],
        [nodes.Const(defaults[p], lineno=lineno) for p in signature.params[signature.required:]],
        ast.body,
        lineno=lineno,
    )
    template_ast = nodes.Template([macro], lineno=lineno)
    template_ast.set_environment(env)
    template = env.from_string(template_ast)
    return getattr(template.module, name)  # type: ignore[no-any-return]


# -- the environment templates compile in -------------------------------------------------------------

@contextlib.contextmanager
def using_macros(library: MacroLibrary) -> Iterator[TemplateEnvironment]:
    """Templates compiled inside this block (compile_value, compile_template, compile_url...) use the library's
    environment, so they may call its macros; the renderers keep that environment after the block."""
    from engine.templates.environment import _COMPILE_ENV

    token = _COMPILE_ENV.set(library.environment)
    try:
        yield library.environment
    finally:
        _COMPILE_ENV.reset(token)
