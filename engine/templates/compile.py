"""Compiling value trees whose strings may be templates into render closures, once per spec load.

A string without `{{` or `{%` is a constant. A string that is exactly one `{{ expression }}` renders
to the expression's native value; other templates render to text. Pure lookups (`{{ payload.a.b }}`,
`{{ settings.x }}`, `{{ steps.id.json[0] }}`, also inside text such as `Basic {{ settings.key }}`)
become direct lookup closures with the same semantics as the sandbox; other expressions are compiled to
closures by `engine.templates.fastexpr` (which leaves the subtrees it does not replicate to Jinja); templates
with statements (`{% if %}`, `{% for %}`...) run in Jinja.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import jinja2
import orjson
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.jsvalues import UNDEFINED
from engine.templates.environment import (
    CONTEXT_NAMES,
    MAX_NATIVE_INT,
    MAX_OUTPUT,
    TemplateCompileError,
    TemplateEnvironment,
    TemplateRenderError,
    _check_size,
    check_native,
    current_environment,
    normalize,
    parse,
    run_guarded,
    run_mapped,
    to_text,
)
from engine.templates.fastexpr import ExprCompiler

_NATIVE_CHECKED = (dict, list, tuple, int)

Renderer = Callable[[dict[str, Any]], Any]
Path = tuple[str | int, ...]


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def make_context(
    payload: Any = UNDEFINED,
    settings: Any = UNDEFINED,
    steps: Any = UNDEFINED,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The render context; `now` defaults to the current UTC time, `steps` to an empty object."""
    return {
        "payload": payload,
        "settings": settings,
        "steps": {} if steps is UNDEFINED else steps,
        "now": dt.datetime.now(dt.UTC) if now is None else now,
    }


# -- AST helpers ----------------------------------------------------------------------------------

Chain = tuple[str, tuple[tuple[bool, str | int], ...]]


def lookup_chain(node: nodes.Node) -> Chain | None:
    """`payload.a["b"][0]` -> ("payload", ((True, "a"), (False, "b"), (False, 0))); None if not a pure lookup."""
    steps: list[tuple[bool, str | int]] = []
    while True:
        if isinstance(node, nodes.Getattr):
            steps.append((True, node.attr))
            node = node.node
        elif isinstance(node, nodes.Getitem):
            arg = node.arg
            if not isinstance(arg, nodes.Const) or type(arg.value) not in (str, int):
                return None
            steps.append((False, arg.value))
            node = node.node
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in CONTEXT_NAMES:
            return node.name, tuple(reversed(steps))
        else:
            return None


def _const_prefix(node: nodes.Node) -> tuple[tuple[str | int, ...] | None, bool]:
    if isinstance(node, nodes.Name):
        return ((node.name,), True) if node.ctx == "load" else (None, False)
    if isinstance(node, nodes.Getattr):
        path, whole = _const_prefix(node.node)
        return (path + (node.attr,), True) if path and whole else (path, False)
    if isinstance(node, nodes.Getitem):
        path, whole = _const_prefix(node.node)
        arg = node.arg
        if path and whole and isinstance(arg, nodes.Const) and type(arg.value) in (str, int):
            return path + (arg.value,), True
        return path, False
    return None, False


def ast_paths(ast: nodes.Node, roots: tuple[str, ...] = CONTEXT_NAMES) -> set[tuple[str | int, ...]]:
    """The longest constant lookup paths the AST reads under `roots`."""
    found: set[tuple[str | int, ...]] = set()

    def walk(node: nodes.Node, inside_chain: bool) -> None:
        if not inside_chain and isinstance(node, (nodes.Name, nodes.Getattr, nodes.Getitem)):
            path, _ = _const_prefix(node)
            if path and path[0] in roots:
                found.add(path)
        if isinstance(node, nodes.Getattr):
            walk(node.node, True)
            return
        if isinstance(node, nodes.Getitem):
            walk(node.node, True)
            walk(node.arg, False)
            return
        for child in node.iter_child_nodes():
            walk(child, False)

    walk(ast, False)
    return found


def referenced_names(tree: Any) -> set[tuple[str | int, ...]]:
    """Paths like ("payload", "userId") or ("steps", "lookup", "json") read by any template in the tree.

    Paths are the longest constant lookup chains (`payload.a[x]` gives ("payload", "a")); only the
    context names payload, settings, steps and now are reported. Invalid templates raise
    TemplateCompileError with the path inside the tree.
    """
    env = current_environment()
    found: set[tuple[str | int, ...]] = set()

    def visit(value: Any, path: Path) -> None:
        if isinstance(value, str):
            if is_template(value):
                try:
                    found.update(ast_paths(parse(env, value)))
                except TemplateCompileError as exc:
                    raise exc.with_path(path) from None
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(item, (*path, key))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                visit(item, (*path, index))

    visit(tree, ())
    return found


def single_expression(ast: nodes.Template) -> nodes.Expr | None:
    """The expression of a template that is exactly `{{ expr }}`, else None."""
    if len(ast.body) == 1 and isinstance(ast.body[0], nodes.Output):
        children = ast.body[0].nodes
        if len(children) == 1 and not isinstance(children[0], nodes.TemplateData):
            return children[0]
    return None


_QUIET = (nodes.Assign, nodes.AssignBlock, nodes.Macro)  # statements that print nothing themselves


def _prints(node: nodes.Node) -> bool:
    """Whether a statement can print text (an Output outside `{% set %}` blocks and macro bodies)."""
    if isinstance(node, _QUIET):
        return False
    if isinstance(node, nodes.Output):
        return any(not (isinstance(c, nodes.TemplateData) and not c.data.strip()) for c in node.nodes)
    return any(_prints(child) for child in node.iter_child_nodes() if isinstance(child, nodes.Stmt))


def statements_then_expression(ast: nodes.Template) -> nodes.Template | None:
    """For a template of statements that print nothing followed by one `{{ expr }}` (only whitespace text around):
    the same statements followed by `{% set result = expr %}`, whose value `render_native` gives; else None."""
    body = [n for n in ast.body if not (isinstance(n, nodes.Output) and all(
        isinstance(c, nodes.TemplateData) and not c.data.strip() for c in n.nodes))]
    if len(body) < 2 or not isinstance(body[-1], nodes.Output):
        return None
    exprs = [c for c in body[-1].nodes if not (isinstance(c, nodes.TemplateData) and not c.data.strip())]
    if len(exprs) != 1 or isinstance(exprs[0], nodes.TemplateData) or any(_prints(n) for n in body[:-1]):
        return None
    expr = exprs[0]
    lineno = expr.lineno or 1
    result = nodes.Assign(nodes.Name("result", "store", lineno=lineno), expr, lineno=lineno)
    return nodes.Template([*body[:-1], result], lineno=1)


# -- renderers ------------------------------------------------------------------------------------


def lookup_renderer(env: TemplateEnvironment, chain: Chain) -> Renderer:
    """A closure equivalent to rendering `{{ chain }}` natively in `env`."""
    root, steps = chain
    getattr_ = env.getattr
    getitem_ = env.getitem
    undefined = env.undefined
    jinja_undefined = jinja2.Undefined

    if len(steps) == 1:  # the common `{{ payload.x }}`
        (is_attr, key), = steps

        def lookup_one(ctx: dict[str, Any]) -> Any:
            value = ctx[root] if root in ctx else undefined(name=root)
            if type(value) is dict and key in value:
                return value[key]
            value = getattr_(value, key) if is_attr else getitem_(value, key)
            return UNDEFINED if isinstance(value, jinja_undefined) else value

        return lookup_one

    def lookup(ctx: dict[str, Any]) -> Any:
        value = ctx.get(root, UNDEFINED)
        if value is UNDEFINED and root not in ctx:
            value = undefined(name=root)
        for is_attr, key in steps:
            if type(value) is dict and key in value:
                value = value[key]
                if value is UNDEFINED:
                    value = undefined(name=key)
            else:
                value = getattr_(value, key) if is_attr else getitem_(value, key)
        if value is UNDEFINED or isinstance(value, jinja_undefined):
            return UNDEFINED
        return value

    return lookup


def merge_renderer(env: TemplateEnvironment, expr: nodes.Expr) -> Renderer | None:
    """`{{ {} | merge(a.b, {'k': c.d}, ...) }}` (arguments: lookups, or object literals of lookups and constants)
    without Jinja; None for any other expression."""
    if not (isinstance(expr, nodes.Filter) and expr.name == "merge" and isinstance(expr.node, nodes.Dict)
            and not expr.node.items and not expr.kwargs and expr.dyn_args is None and expr.dyn_kwargs is None):
        return None
    parts: list[Renderer] = []
    for arg in expr.args:
        chain = lookup_chain(arg)
        if chain is not None:
            parts.append(lookup_renderer(env, chain))
            continue
        if not isinstance(arg, nodes.Dict):
            return None
        entries: list[tuple[Any, bool, Any]] = []
        for pair in arg.items:
            if not isinstance(pair.key, nodes.Const) or type(pair.key.value) is not str:
                return None
            if isinstance(pair.value, nodes.Const) and type(pair.value.value) in (str, int, float, bool, type(None)):
                entries.append((pair.key.value, True, pair.value.value))
                continue
            chain = lookup_chain(pair.value)
            if chain is None:
                return None
            entries.append((pair.key.value, False, lookup_renderer(env, chain)))
        frozen = tuple(entries)
        parts.append(lambda ctx, frozen=frozen: {k: v if const else v(ctx) for k, const, v in frozen})
    merge = env.filters["merge"]
    renderers = tuple(parts)

    def render_merge(ctx: dict[str, Any]) -> Any:
        # a lookup that finds nothing gives UNDEFINED where Jinja gives its undefined object: merge skips both
        # alike, and rendering natively turns Jinja's into UNDEFINED, so the results are the same
        return merge(*[part(ctx) for part in renderers])

    return lambda ctx: run_mapped(render_merge, ctx)  # lookups and merge spend no budget


# Filters and tests whose value depends only on their arguments (no clock, no randomness, no context): Jinja's
# (when the environment still holds Jinja's own function) and the engine's (when it holds the engine's).
_JINJA_PURE_FILTERS = frozenset(["lower", "upper", "trim", "default", "d", "int", "float", "string", "length", "count",
                                 "join", "replace", "first", "last", "list", "capitalize", "title", "abs", "round"])
_JINJA_PURE_TESTS = frozenset(["none", "string", "number", "mapping", "sequence", "boolean", "integer", "float", "true",
                               "false", "eq", "ne", "in", "lower", "upper"])
_ENGINE_PURE_FILTERS = frozenset(["merge", "omit", "pick", "compact", "url_host", "urlencode", "b64encode", "b64decode",
                                  "tojson", "unix_seconds", "iso8601", "snake_case", "user_agent", "join", "replace",
                                  "indent", "wordwrap", "regex_search", "regex_match", "regex_findall",
                                  "regex_replace", "regex_split", "regex_escape", "js_or", "js_string", "js_date",
                                  "js_date_ms", "tz_name"])
_ENGINE_PURE_TESTS = frozenset(["absolute_url", "defined", "undefined", "search", "match", "truthy"])
_PURE_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Const, nodes.Getattr, nodes.Getitem, nodes.Slice,
               nodes.Dict, nodes.Pair, nodes.List, nodes.Tuple, nodes.CondExpr, nodes.And, nodes.Or, nodes.Not,
               nodes.Neg, nodes.Pos, nodes.Compare, nodes.Operand, nodes.Add, nodes.Sub, nodes.Mul, nodes.Div,
               nodes.FloorDiv, nodes.Mod, nodes.Pow, nodes.Concat, nodes.Keyword)


def _pure_function(env: TemplateEnvironment, node: nodes.Filter | nodes.Test) -> bool:
    import jinja2.filters
    import jinja2.tests

    from engine.templates import filters

    if isinstance(node, nodes.Filter):
        table, jinja_table, engine_table = env.filters, jinja2.filters.FILTERS, {**filters.FILTERS, **filters.SIZED_BUILTINS}
        jinja_pure, engine_pure = _JINJA_PURE_FILTERS, _ENGINE_PURE_FILTERS
    else:
        table, jinja_table, engine_table = env.tests, jinja2.tests.TESTS, filters.TESTS
        jinja_pure, engine_pure = _JINJA_PURE_TESTS, _ENGINE_PURE_TESTS
    func = table.get(node.name)
    return func is not None and (
        (node.name in jinja_pure and func is jinja_table.get(node.name))
        or (node.name in engine_pure and func is engine_table.get(node.name))
    )


def reads_only_settings(env: TemplateEnvironment, ast: nodes.Node) -> bool:
    """Whether the template's output depends on nothing but `settings`: expressions only (no statements), no
    name but `settings`, no call but the engine's `~` and URL encoding, only pure filters and tests."""
    reads = False
    for node in (ast, *ast.find_all(nodes.Node)):
        if isinstance(node, nodes.Name):
            if node.name != "settings" or node.ctx != "load":
                return False
            reads = True
        elif isinstance(node, (nodes.Filter, nodes.Test)):
            if node.dyn_args is not None or node.dyn_kwargs is not None or not _pure_function(env, node):
                return False
        elif isinstance(node, nodes.Call):
            if not (isinstance(node.node, nodes.EnvironmentAttribute)
                    and node.node.name in ("safe_concat", "url_component")
                    and getattr(type(env), node.node.name) is getattr(TemplateEnvironment, node.node.name)
                    and node.dyn_args is None and node.dyn_kwargs is None):
                return False
        elif isinstance(node, nodes.EnvironmentAttribute):
            continue
        elif not isinstance(node, _PURE_NODES):
            return False
    return reads


_SETTINGS_KEY = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_SCALAR_RESULTS = frozenset([str, int, float, bool, type(None)])
_CACHED_SETTINGS = 32
_MISSING = object()


def settings_key(ctx: dict[str, Any]) -> bytes | None:
    """The key `settings_cached` files a render under: the settings' JSON, or None when they are not plain JSON
    without null (then nothing may be remembered)."""
    try:
        key = orjson.dumps(ctx.get("settings", _MISSING), option=_SETTINGS_KEY)
    except TypeError:
        return None
    return None if b"null" in key else key


def remember(cache: dict[bytes, Any], key: bytes, value: Any) -> None:
    """File `value` under a settings key in one of the per-settings caches, which hold at most 32 entries (a new
    settings value beyond that starts the cache afresh: memory stays bounded however often settings change)."""
    if len(cache) >= _CACHED_SETTINGS:
        cache.clear()
    cache[key] = value


def tree_reads_only_settings(tree: Any) -> bool:
    """Whether every template in a tree of dicts/lists/strings reads only settings (see `reads_only_settings`)."""
    env = current_environment()
    if isinstance(tree, str):
        return not is_template(tree) or reads_only_settings(env, parse(env, tree))
    if isinstance(tree, dict):
        return all(tree_reads_only_settings(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return all(tree_reads_only_settings(v) for v in tree)
    return True


def settings_cached(render: Renderer) -> Renderer:
    """`render` (of a template that reads only settings) remembered per settings value: the settings' JSON is the
    key, so any change to them is a new key. Only plain JSON settings without null are keyed (orjson writes NaN as
    null; anything else it cannot write exactly is refused and rendered every time); only scalar results are kept
    (the caller may change a container); errors are never kept."""
    cache: dict[bytes, Any] = {}

    def render_cached(ctx: dict[str, Any]) -> Any:
        key = settings_key(ctx)
        if key is None:
            return render(ctx)
        value = cache.get(key, _MISSING)
        if value is not _MISSING:
            return value
        value = render(ctx)
        if type(value) in _SCALAR_RESULTS or value is UNDEFINED:
            remember(cache, key, value)
        return value

    return render_cached


def _with_path(render: Renderer, path: Path) -> Renderer:
    def render_at(ctx: dict[str, Any]) -> Any:
        try:
            return render(ctx)
        except TemplateRenderError as exc:
            if not exc.path:
                exc.path = path
            raise

    return render_at


def lookup_parts(env: TemplateEnvironment, ast: nodes.Template,
                 wrap: Callable[[nodes.Node, Renderer], Renderer] | None = None) -> list[str | Renderer] | None:
    """The text and lookup renderers of a template made only of text and plain lookups, else None.
    `wrap(node, renderer)` may replace a lookup's renderer (URLs encode the ones after the authority)."""
    if not all(isinstance(n, nodes.Output) for n in ast.body):
        return None
    parts: list[str | Renderer] = []
    for output in ast.body:
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append(child.data)
                continue
            chain = lookup_chain(child)
            if chain is None:
                return None
            render = lookup_renderer(env, chain)
            parts.append(wrap(child, render) if wrap is not None else render)
    return parts


def text_renderer(env: TemplateEnvironment, ast: nodes.Template, fast: bool = True) -> Renderer:
    """Renders a parsed template to text; templates of only text and lookups skip Jinja, and so do templates
    of only text and expressions (compiled by `fastexpr`)."""
    if fast:
        parts = lookup_parts(env, ast)
        if parts is not None:
            return _concat_renderer(parts)
        if all(isinstance(n, nodes.Output) for n in ast.body):
            return expression_text_renderer(env, ast)
    template = env.from_string(ast)
    render_text = template.render_text  # type: ignore[attr-defined]
    return lambda ctx: run_guarded(render_text, ctx)


def expression_text_renderer(env: TemplateEnvironment, ast: nodes.Template) -> Renderer:
    """Text of a template made only of `Output` nodes, each expression compiled by `fastexpr`; the same text,
    size checks (after each part, as `BoundedTemplate.render_text`) and errors as Jinja."""
    compiler = ExprCompiler(env)
    pieces: list[tuple[bool, Any]] = []  # (is_text, text or closure)
    for output in ast.body:
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                pieces.append((True, child.data))
            else:
                pieces.append((False, compiler.compile(child)))
    frozen = tuple(pieces)

    def render(ctx: dict[str, Any]) -> str:
        out: list[str] = []
        total = 0
        try:
            for is_text, piece in frozen:
                text = piece if is_text else to_text(piece(ctx))
                total += len(text)
                if total > MAX_OUTPUT:
                    raise TemplateRenderError(f"the template's output is longer than {MAX_OUTPUT} characters")
                out.append(text)
        except StopIteration as exc:  # raised inside Jinja's render generator it would be this
            raise RuntimeError("generator raised StopIteration") from exc
        return "".join(out)

    return lambda ctx: run_guarded(render, ctx)


def expression_renderer(env: TemplateEnvironment, expr: nodes.Expr, json_body: bool = False) -> Renderer:
    """The native value of one expression compiled by `fastexpr`, finished like `BoundedTemplate.render_native`
    (`json_body`: see `compile_value`)."""
    closure = ExprCompiler(env).compile(expr, native=True, json_body=json_body)

    def render(ctx: dict[str, Any]) -> Any:
        try:
            value = closure(ctx)
        except StopIteration as exc:
            raise RuntimeError("generator raised StopIteration") from exc
        if isinstance(value, str):
            _check_size(len(value), "a string")
        elif type(value) in _NATIVE_CHECKED:
            check_native(value)
        return value if clean else normalize(value)

    clean = getattr(closure, "clean", False)  # fastexpr proved no Jinja undefined can be in the value
    return lambda ctx: run_guarded(render, ctx)


def _concat_renderer(parts: list[str | Renderer]) -> Renderer:
    frozen = tuple(parts)
    if len(frozen) == 2 and type(frozen[0]) is str and callable(frozen[1]):  # "Basic {{ settings.key }}"
        prefix, lookup = frozen

        def prefixed(ctx: dict[str, Any]) -> str:
            text = prefix + to_text(lookup(ctx))
            if len(text) > MAX_OUTPUT:
                raise TemplateRenderError(f"the template's output is longer than {MAX_OUTPUT} characters")
            return text

        return prefixed

    def concat(ctx: dict[str, Any]) -> str:
        text = "".join([p if type(p) is str else to_text(p(ctx)) for p in frozen])  # type: ignore[operator]
        if len(text) > MAX_OUTPUT:
            raise TemplateRenderError(f"the template's output is longer than {MAX_OUTPUT} characters")
        return text

    return concat


def native_renderer(env: TemplateEnvironment, expr: nodes.Expr, fast: bool = True, json_body: bool = False) -> Renderer:
    """Renders one expression to its native value (UNDEFINED when it is undefined)."""
    if fast:
        chain = lookup_chain(expr)
        if chain is not None:
            lookup = lookup_renderer(env, chain)

            def native_lookup(ctx: dict[str, Any]) -> Any:
                value = lookup(ctx)
                if type(value) is int and not -MAX_NATIVE_INT < value < MAX_NATIVE_INT:
                    check_native(value)  # raises, as Jinja's native result does
                return value

            return native_lookup
        merged = merge_renderer(env, expr)
        if merged is not None:
            return merged
        return expression_renderer(env, expr, json_body)
    lineno = expr.lineno or 1
    ast = nodes.Template([nodes.Assign(nodes.Name("result", "store", lineno=lineno), expr, lineno=lineno)], lineno=1)
    ast.set_environment(env)
    template = env.from_string(ast)
    render_native = template.render_native  # type: ignore[attr-defined]
    return lambda ctx: run_guarded(render_native, ctx)


def _compile_string(text: str, env: TemplateEnvironment, fast: bool, json_body: bool = False) -> Renderer:
    ast = parse(env, text)
    expr = single_expression(ast)
    if expr is not None:
        render = native_renderer(env, expr, fast, json_body)
        if fast and lookup_chain(expr) is None and reads_only_settings(env, ast):  # a lookup is cheaper than the key
            return settings_cached(render)
        return render
    native = statements_then_expression(ast)
    if native is not None:  # `{% set x = ... %}{{ x }}`: the value of x, not its text
        native.set_environment(env)
        template = env.from_string(native)
        render_native = template.render_native  # type: ignore[attr-defined]
        return lambda ctx: run_guarded(render_native, ctx)
    render = text_renderer(env, ast, fast)
    if fast and lookup_parts(env, ast) is None and reads_only_settings(env, ast):
        return settings_cached(render)
    return render


def compile_template(text: str, *, fast: bool = True) -> Renderer:
    """One string: a constant, the native value of `{{ expr }}`, or text. Raises TemplateCompileError."""
    if not is_template(text):
        return lambda ctx: text
    return _with_path(_compile_string(text, current_environment(), fast), ())


def compile_value(tree: Any, *, fast: bool = True, json_body: bool = False) -> Renderer:
    """Compiles a tree of dicts/lists/scalars whose strings may be templates; call the result per event.

    Rendering returns fresh dicts/lists: an object key whose value renders undefined is left out, an
    array item that renders undefined is dropped; null stays. Compile errors carry `.path` (keys and
    indices from the tree root) and `.line` (inside the template). `fast=False` forces Jinja everywhere
    (for testing that the fast paths agree with it).

    `json_body=True` is for a value that is only ever sent as JSON, after `strip_undefined` (the requests'
    `json`): an object literal of an expression whose keys nothing merges over may then leave out its undefined
    keys itself, as JSON would. The value differs only where `strip_undefined` makes it the same.
    """
    env = current_environment()
    return _compile_node(tree, (), env, fast, json_body)


def _compile_node(tree: Any, path: Path, env: TemplateEnvironment, fast: bool, json_body: bool = False) -> Renderer:
    if isinstance(tree, str):
        if not is_template(tree):
            return lambda ctx: tree
        try:
            return _with_path(_compile_string(tree, env, fast, json_body), path)
        except TemplateCompileError as exc:
            raise exc.with_path(path) from None
    if isinstance(tree, dict):
        entries = tuple(
            (key, *_const_or_renderer(value, (*path, key), env, fast, json_body)) for key, value in tree.items()
        )

        def render_dict(ctx: dict[str, Any]) -> dict[Any, Any]:
            out = {}
            for key, const, item in entries:
                value = item if const else item(ctx)
                if value is not UNDEFINED:
                    out[key] = value
            return out

        if fast:
            return _generated_dict(env, tree, entries, render_dict) or render_dict
        return render_dict
    if isinstance(tree, (list, tuple)):
        items = tuple(_const_or_renderer(value, (*path, i), env, fast, json_body) for i, value in enumerate(tree))

        def render_list(ctx: dict[str, Any]) -> list[Any]:
            out = []
            for const, item in items:
                value = item if const else item(ctx)
                if value is not UNDEFINED:
                    out.append(value)
            return out

        return render_list
    return lambda ctx: tree


def _const_or_renderer(value: Any, path: Path, env: TemplateEnvironment, fast: bool,
                       json_body: bool = False) -> tuple[bool, Any]:
    if isinstance(value, (dict, list, tuple)) or (isinstance(value, str) and is_template(value)):
        return False, _compile_node(value, path, env, fast, json_body)
    return True, value


def _plain_lookup(env: TemplateEnvironment, value: Any) -> tuple[str, str] | None:
    """(root, key) when `value` is the template `{{ root.key }}` (or `{{ root['key'] }}`) whose lookup a plain
    dict answers on its own: `key` is no dict attribute and the environment's lookups are the stock ones, so a
    plain dict without the key gives the sandbox's undefined, which renders as UNDEFINED."""
    if not (isinstance(value, str) and is_template(value)):
        return None
    try:
        expr = single_expression(parse(env, value))
    except TemplateCompileError:
        return None
    chain = lookup_chain(expr) if expr is not None else None
    if chain is None or len(chain[1]) != 1:
        return None
    root, ((is_attr, key),) = chain
    stock = (type(env).getattr is TemplateEnvironment.getattr
             and type(env).is_safe_attribute is ImmutableSandboxedEnvironment.is_safe_attribute
             and (is_attr or type(env).getitem is TemplateEnvironment.getitem))
    if not stock or type(key) is not str or hasattr(dict, key):
        return None
    return root, key


def _generated_dict(env: TemplateEnvironment, tree: dict[Any, Any], entries: tuple[tuple[Any, bool, Any], ...],
                    general: Renderer) -> Renderer | None:
    """`render_dict` as one generated function: constants are set, `{{ root.key }}` values read with `.get` while
    the roots are plain dicts (as `lookup_renderer` answers them), every other value calls its renderer; in the
    same order, with the same keys left out. When a root is not a plain dict `general` (the loop of closures)
    renders it all. None when the object holds no such lookup (the loop of closures is as fast)."""
    lookups = [_plain_lookup(env, value) for value in tree.values()]
    if not any(lookups):
        return None
    ns: dict[str, Any] = {"_UNDEF": UNDEFINED, "_dict": dict}
    roots: dict[str, str] = {}
    lines: list[str] = []
    for i, ((key, const, item), lookup) in enumerate(zip(entries, lookups, strict=True)):
        ns[f"_k{i}"] = key
        if const:
            ns[f"_c{i}"] = item
            lines.append(f"    out[_k{i}] = _c{i}")
            continue
        if lookup is not None:
            root, name = lookup
            local = roots.setdefault(root, f"_r{len(roots)}")
            ns[f"_n{i}"] = name
            lines.append(f"    v = {local}.get(_n{i}, _UNDEF)")
        else:
            ns[f"_i{i}"] = item
            lines.append(f"    v = _i{i}(ctx)")
        lines.append(f"    if v is not _UNDEF:\n        out[_k{i}] = v")
    head = ["def render_dict(ctx):"]
    for root, local in roots.items():
        ns[f"_name{local}"] = root
        head.append(f"    {local} = ctx.get(_name{local})")
    head.append("    if " + " or ".join(f"type({local}) is not _dict" for local in roots.values()) + ":")
    head.append("        return _general(ctx)")
    head.append("    out = {}")
    source = "\n".join([*head, *lines, "    return out"])
    ns["_general"] = general
    exec(compile(source, "<template object>", "exec"), ns)  # noqa: S102 - generated above; no template text is code
    render = ns["render_dict"]
    render.source = source
    return render  # type: ignore[no-any-return]
