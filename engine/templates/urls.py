"""URL templates: events must never choose where a request goes.

`check_url` walks the template's top-level output in order, tracking its literal text. Until the
authority is closed (the first `/`, `?` or `#` after `scheme://host`; or, when the base comes from an
expression, the first literal `/`, `?` or `#` after it), every expression and control structure may
read only `settings` and constants. Expressions after that point (path, query, fragment) are
percent-encoded when rendered, except those already ending in `| urlencode`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import nodes

from engine.templates.compile import (
    Renderer,
    _concat_renderer,
    _with_path,
    expression_text_renderer,
    is_template,
    lookup_parts,
    reads_only_settings,
    settings_cached,
)
from engine.templates.environment import (
    TemplateCompileError,
    TemplateEnvironment,
    TemplateRenderError,
    current_environment,
    parse,
    run_guarded,
)

_PLACEHOLDER = "\x00"


def _authority_closed(text: str) -> bool:
    """Whether literal text (expressions as placeholders) has ended the scheme://host:port part."""
    start = text.find("//")
    if start >= 0:
        rest = text[start + 2 :]
        return any(c in rest for c in "/?#")
    for i, c in enumerate(text):
        if c in "?#":
            return True
        if c == "/":
            # "https:/" + "/host" split by an expression is not a path yet
            return not (i == len(text) - 1 and text[i - 1 : i] == ":")
    return False


def _describe(path: tuple[str | int, ...]) -> str:
    out = str(path[0])
    for part in path[1:]:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _names(node: nodes.Node) -> list[nodes.Name]:
    found = list(node.find_all(nodes.Name))
    return [node, *found] if isinstance(node, nodes.Name) else found


def _stored_names(node: nodes.Node) -> set[str]:
    return {n.name for n in _names(node) if n.ctx in ("store", "param")}


def _forbidden_read(node: nodes.Node) -> str | None:
    """The first thing other than settings and constants the node reads, described; None if none."""
    local = _stored_names(node)
    macros = getattr(current_environment(), "macro_signatures", {})
    called = {id(c.node) for c in ([node] if isinstance(node, nodes.Call) else []) + list(node.find_all(nodes.Call))
              if isinstance(c.node, nodes.Name) and c.node.name in macros}  # a macro reads only its arguments
    names = [n for n in _names(node) if n.ctx == "load" and n.name != "settings" and n.name not in local
             and id(n) not in called]
    if not names:
        return None
    from engine.templates.compile import ast_paths

    paths = sorted(ast_paths(node, roots=tuple({n.name for n in names})), key=lambda p: tuple(map(str, p)))
    return _describe(paths[0]) if paths else names[0].name


def _problem(read: str) -> str:
    return f"the URL's host depends on {read}; hosts may come only from the spec or its settings"


def _plan(ast: nodes.Template) -> tuple[list[str], list[nodes.Node]]:
    """(problems, nodes after the authority) for a parsed URL template."""
    problems: list[str] = []
    literal = ""
    closed = False
    after: list[nodes.Node] = []
    for top in ast.body:
        children = top.nodes if isinstance(top, nodes.Output) else [top]
        for child in children:
            if closed:
                after.append(child)
                continue
            if isinstance(child, nodes.TemplateData):
                literal += child.data
            else:
                read = _forbidden_read(child)
                if read is not None:
                    problems.append(_problem(read))
                literal += _PLACEHOLDER
            closed = _authority_closed(literal)
    return problems, after


def check_url(template: str) -> list[str]:
    """Problems that make a URL template unsafe or unusable (empty when it is fine)."""
    if not is_template(template):
        return []
    try:
        ast = parse(current_environment(), template)
    except TemplateCompileError as exc:
        return [exc.message]
    return _plan(ast)[0]


def _encoded(env: TemplateEnvironment, node: nodes.Expr) -> nodes.Expr:
    if isinstance(node, nodes.Filter) and node.name == "urlencode":
        return node
    call = nodes.Call(nodes.EnvironmentAttribute("url_component"), [node], [], None, None, lineno=node.lineno)
    call.set_environment(env)
    return call


def compile_url(template: str, *, fast: bool = True) -> Callable[[dict[str, Any]], str]:
    """Compiles a URL template; raises TemplateCompileError when the host could depend on the event."""
    if not is_template(template):
        return lambda ctx: template
    env = current_environment()
    ast = parse(env, template)
    problems, after = _plan(ast)
    if problems:
        raise TemplateCompileError(problems[0])
    after_ids = {id(n) for n in after}
    cached = settings_cached if fast and reads_only_settings(env, ast) else _as_is  # most URLs: the same every event

    if fast:
        parts = lookup_parts(env, ast, lambda node, render: _encode_after(env, render) if id(node) in after_ids else render)
        if parts is not None:
            return _with_path(cached(_concat_renderer(parts)), ())

    for top in ast.body:
        outputs = [top] if isinstance(top, nodes.Output) else []
        if not isinstance(top, nodes.Output) and id(top) in after_ids:
            outputs = list(top.find_all(nodes.Output))
        for output in outputs:
            output.nodes = [
                _encoded(env, c)
                if not isinstance(c, nodes.TemplateData) and (id(c) in after_ids or output is not top)
                else c
                for c in output.nodes
            ]
    if fast and all(isinstance(n, nodes.Output) for n in ast.body):
        return _with_path(cached(expression_text_renderer(env, ast)), ())
    compiled = env.from_string(ast)
    render_text = compiled.render_text  # type: ignore[attr-defined]
    return _with_path(lambda ctx: run_guarded(render_text, ctx), ())


def _as_is(render: Renderer) -> Renderer:
    return render


def _encode_after(env: TemplateEnvironment, lookup: Renderer) -> Renderer:
    component = env.url_component

    def encoded(ctx: dict[str, Any]) -> str:
        try:
            return component(lookup(ctx))
        except ValueError as exc:  # a lone surrogate cannot be UTF-8 encoded: the error Jinja's path gives
            raise TemplateRenderError(f"the template failed: {exc}") from None

    return encoded

