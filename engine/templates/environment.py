"""The sandboxed Jinja2 environment that renders request templates, and its limits.

Templates come from spec authors and read event data, so they run in
`jinja2.sandbox.ImmutableSandboxedEnvironment` (no `__class__`-style escapes, no mutation of the
payload, no loader, so no file access and no imports) with three extra bounds per render:

* a work budget (`MAX_STEPS`): every loop iteration, every call and every item `range()` makes
  costs one step, so nested loops cannot run forever;
* an output bound (`MAX_OUTPUT`): the text a render produces, and any string or list an operator
  (`*`, `+`, `~`, `%`) or size-taking filter would build, is at most that many characters/items;
* recursion errors become `TemplateRenderError`.

Values print JavaScript-style (see `to_text`), and undefined values are `JsUndefined`, which the
compile layer turns into `engine.jsvalues.UNDEFINED`.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import importlib.metadata
import re
import string
import types
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any
from urllib.parse import quote

import jinja2
import orjson
from jinja2 import nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.visitor import NodeTransformer

from engine.jsvalues import UNDEFINED, js_string, number_to_string, remove_undefined

MAX_OUTPUT = 1_000_000
"""Most characters one render may produce (and most items an operator may build)."""
MAX_RANGE = 10_000
"""Most items one `range()` call may produce."""
MAX_STEPS = 100_000
"""Work budget of one render: loop iterations + calls + items made by `range()`."""
MAX_POWER_BITS = 100_000
"""Largest integer (in bits) `**` may produce."""

CONTEXT_NAMES = ("payload", "settings", "steps", "now")


class TemplateError(Exception):
    """Base of every template problem."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TemplateCompileError(TemplateError):
    """A template that cannot be used: found when the spec loads."""

    def __init__(self, message: str, line: int | None = None, path: tuple[str | int, ...] = (),
                 column: int | None = None):
        super().__init__(message)
        self.line = line
        self.path = path
        self.column = column
        """1-based column, in the template's line `line`, of the problem (when known)."""

    def with_path(self, path: tuple[str | int, ...]) -> TemplateCompileError:
        return TemplateCompileError(self.message, self.line, path, self.column)


class TemplateRenderError(TemplateError):
    """A template that failed while rendering one event; `.path` is where in the compiled tree."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()):
        super().__init__(message)
        self.path = path


class EventRejected(TemplateRenderError):
    """Raised by `fail(message)`: the spec refuses this event with its own message (no request is sent)."""


# -- values -------------------------------------------------------------------------------------


class JsUndefined(jinja2.ChainableUndefined):
    """Undefined that chains (`payload.a.b` is undefined when `a` is missing) and prints as ""."""

    __slots__ = ()

    def __str__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "JsUndefined"


def is_undefined(value: Any) -> bool:
    return value is UNDEFINED or isinstance(value, jinja2.Undefined)


def _json_default(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        return None
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} values cannot be written as JSON")


def to_json_text(value: Any) -> str:
    """Compact JSON like JS `JSON.stringify`: undefined object keys are dropped, in arrays they are null."""
    check_value_size(value)
    value = normalize(value)
    return orjson.dumps(
        remove_undefined(value), default=_json_default, option=orjson.OPT_NON_STR_KEYS
    ).decode()


def iso_z(value: dt.datetime) -> str:
    """Like JS `toISOString()`: UTC, milliseconds, `Z`. Naive datetimes are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def to_text(value: Any) -> str:
    """How a value prints inside text: "" for undefined, null, true/false, JS numbers, JSON for containers."""
    if type(value) is str:
        return value
    if value is UNDEFINED or isinstance(value, jinja2.Undefined):
        return ""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return number_to_string(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.datetime):
        return iso_z(value)
    if isinstance(value, (dict, list, tuple)):
        try:
            return to_json_text(value)
        except TypeError:
            return js_string(value)
    return str(value)


def normalize(value: Any) -> Any:
    """Jinja undefined objects -> UNDEFINED, recursively; returns the same object when nothing changes."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind in _CONTAINERS:
        # orjson refuses Jinja's undefined: when it encodes the tree (UNDEFINED passes the probe), nothing needs
        # replacing, and the Python walk over a large merged object is skipped
        try:
            _dumps(value, default=_probe, option=_PLAIN)
        except TypeError:
            return _normalize(value)
        return value
    return _normalize(value)


def _probe(value: Any) -> None:
    """orjson's `default` while checking a tree: UNDEFINED stays as it is (it is not a Jinja undefined)."""
    if value is UNDEFINED:
        return None
    raise TypeError


_SCALARS = frozenset([str, int, float, bool, type(None)])
_CONTAINERS = (dict, list, tuple)
_PLAIN = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS
_dumps = orjson.dumps


def _normalize(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        return UNDEFINED
    kind = type(value)
    if kind is dict:
        out = None
        for k, v in value.items():
            if type(v) in _SCALARS or v is UNDEFINED:  # what normalize(v) returns unchanged, without the call
                continue
            n = normalize(v)
            if n is not v:
                if out is None:
                    out = dict(value)
                out[k] = n
        return value if out is None else out
    if kind in (list, tuple):
        items = [v if type(v) in _SCALARS else normalize(v) for v in value]
        if any(a is not b for a, b in zip(items, value, strict=True)):
            return items if kind is list else tuple(items)
    return value


# -- the per-render budget ------------------------------------------------------------------------


class Budget:
    __slots__ = ("left",)

    def __init__(self, steps: int = MAX_STEPS):
        self.left = steps

    def spend(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise TemplateRenderError(
                f"the template did too much work (more than {MAX_STEPS} loop iterations and calls in one render)"
            )


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("template_budget", default=None)


def _spend(n: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is not None:  # Budget.spend, inline (one call fewer: each `~` and template call spends)
        budget.left -= n
        if budget.left < 0:
            budget.spend(0)  # raises, with Budget's message


def _check_size(size: int, what: str) -> None:
    if size > MAX_OUTPUT:
        raise TemplateRenderError(f"the template tried to build {what} longer than {MAX_OUTPUT} characters or items")


def value_size(value: Any, limit: int = MAX_OUTPUT) -> int:
    """The size of a value as it would be written out: characters of its strings (and digits of its big ints),
    one per other scalar, one per container plus its items (an object's keys too). A value held several times
    (`[a] * 1000`, a list of lists of the same list) is counted each time, as writing it out would repeat it.
    The walk stops as soon as the size passes `limit` (the answer is then some number above it)."""
    kind = type(value)
    if kind is str:
        return len(value)
    if kind not in (list, dict, tuple):
        return _scalar_size(value)
    total = 0
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str:
            total += len(item)
        elif kind is list or kind is tuple:
            total += 1 + len(item)
            push(item)
        elif kind is dict:
            total += 1 + 2 * len(item)
            push(item.keys())
            push(item.values())
        else:
            total += _scalar_size(item)
        if total > limit:
            return total
    return total


def _scalar_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return 1 + value.bit_length() // 3
    if isinstance(value, (list, tuple, dict)):
        return value_size(list(value.items()) if isinstance(value, dict) else list(value))
    return 1


MAX_NATIVE_INT = 2**64
"""Integers a native value may hold: JSON numbers the engine writes (orjson: 64 bits, signed or unsigned)."""


def check_native(value: Any) -> None:
    """A native result (the value of `{{ … }}` or of `result`): its size (see `check_value_size`), and an integer
    result must be writable as JSON (`9**9**9` is a number no request can carry)."""
    kind = type(value)
    if kind is int:
        if not -MAX_NATIVE_INT < value < MAX_NATIVE_INT:
            raise TemplateRenderError(_BIG_INT)
    elif kind in _CONTAINERS:
        check_value_size(value)


_BIG_INT = "the template made an integer too large for JSON (more than 64 bits); use a float or a string"


def check_value_size(value: Any, what: str = "a value") -> None:
    """Refuses a value (a native result, a list about to be joined or written as JSON) whose size passes
    MAX_OUTPUT, before it is written out."""
    if type(value) in _CONTAINERS and value_size(value) > MAX_OUTPUT:
        raise TemplateRenderError(
            f"the template tried to build {what} larger than {MAX_OUTPUT} characters or items"
            " (values held several times count each time)"
        )


def limited_range(*args: int) -> range:
    """`range()` inside templates: at most MAX_RANGE items, each costs one budget step."""
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise TemplateRenderError(f"range() may make at most {MAX_RANGE} items, this one would make {len(rng)}")
    _spend(len(rng))
    return rng


# `%[(key)][flags][width][.precision]type`: the numbers of a printf-style conversion
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\d*)(?:\.(\d*))?")
_DIGITS = re.compile(r"\d+")


def _check_width(digits: str) -> None:
    if len(digits) > 6 and int(digits) > MAX_OUTPUT:
        raise TemplateRenderError(f"format widths may be at most {MAX_OUTPUT}")


def _check_percent_format(text: Any) -> None:
    """The widths and precisions of a `%` format string (`'%9d' % x`, the `format` filter) are at most MAX_OUTPUT;
    digits elsewhere in the text (a phone number, an id) are text, not widths."""
    if isinstance(text, str) and "%" in text:
        for match in _PERCENT_SPEC.finditer(text):
            for digits in match.groups():
                if digits:
                    _check_width(digits)


def _check_brace_format(text: Any) -> None:
    """The widths of a `str.format` string's fields (`'{:>9}'.format(x)`) are at most MAX_OUTPUT; only the format
    spec after a field's `:` is looked at (nested fields included)."""
    if not isinstance(text, str) or "{" not in text:
        return
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return  # str.format refuses it with its own message
    for _literal, _name, spec, _conversion in fields:
        if spec:
            for match in _DIGITS.finditer(spec):
                _check_width(match.group())
            _check_brace_format(spec)


def _check_percent_result(text: str, args: Any) -> None:
    """`text % args` is at most its text plus, per conversion, its width and the largest argument: checked
    before it is built (`'%s' * 1000 % big` would repeat a large argument)."""
    if "%" not in text:
        return
    values = args.values() if isinstance(args, dict) else args if isinstance(args, tuple) else (args,)
    largest = max((_text_size(v) for v in values), default=0)
    size = len(text)
    for match in _PERCENT_SPEC.finditer(text):
        width, precision = match.groups()
        size += largest + int(width or 0) + int(precision or 0)
        if size > MAX_OUTPUT:
            break
    _check_size(size, "a string")


_FORMAT_METHODS = frozenset(["format", "format_map"])


def _check_int_args(args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_OUTPUT:
            raise TemplateRenderError(f"size arguments may be at most {MAX_OUTPUT}, got {arg}")


def _sized_filter(func: Callable[..., Any], format_arg: bool = False) -> Callable[..., Any]:
    """Wraps a builtin filter whose integer arguments are sizes (center, indent, batch...)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = [a for a in args if not isinstance(a, (Context, jinja2.Environment))]
        _check_int_args(values[1:])
        _check_int_args(kwargs.values())
        if format_arg and values:
            _check_percent_format(values[0])
            if isinstance(values[0], str):
                _check_percent_result(values[0], tuple(values[1:]) or kwargs)
        return func(*args, **kwargs)

    wrapper.__name__ = getattr(func, "__name__", "filter")
    if hasattr(func, "jinja_pass_arg"):
        wrapper.jinja_pass_arg = func.jinja_pass_arg  # type: ignore[attr-defined]
    return wrapper


_SIZED_FILTERS = ("center", "indent", "wordwrap", "truncate", "batch", "slice", "format")
"""Jinja filters whose integer arguments are sizes; replace, join, indent and wordwrap are also replaced by the
size-checking versions of engine/templates/filters.py."""


# -- compile-time transformation -----------------------------------------------------------------


class _Guard(NodeTransformer):
    """Routes loops through the budget and `~` through the size-checked, JS-style concatenation."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = nodes.Call(
            nodes.EnvironmentAttribute("counted_iter"), [node.iter], [], None, None, lineno=node.lineno
        )
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Call:
        self.generic_visit(node)
        return nodes.Call(
            nodes.EnvironmentAttribute("safe_concat"),
            [nodes.List(node.nodes, lineno=node.lineno)],
            [],
            None,
            None,
            lineno=node.lineno,
        )


_FORBIDDEN_TAGS: tuple[tuple[type[nodes.Node], str], ...] = (
    (nodes.Extends, "extends"),
    (nodes.Include, "include"),
    (nodes.Import, "import"),
    (nodes.FromImport, "from ... import"),
)


def _post_order(node: nodes.Node) -> Iterator[nodes.Node]:
    """Children before parents, so the leftmost part of `a.__b__.__c__` is reported first."""
    for child in node.iter_child_nodes():
        yield from _post_order(child)
    yield node


LITERAL_ARG_CHECKS: list[Callable[[jinja2.Environment, nodes.Filter | nodes.Test], tuple[str, str] | None]] = []
"""Checks of a filter's or test's literal arguments at compile time (regex.py's patterns): (message, the literal
string at fault) or None."""


class _LiteralArgError(TemplateCompileError):
    """A compile error about a literal string argument of filter or test `name`; `parse` turns `literal` into a
    column."""

    def __init__(self, message: str, line: int | None, literal: str, name: str):
        super().__init__(message, line)
        self.literal = literal
        self.name = name


def _literal_column(env: jinja2.Environment, text: str, line: int | None, literal: str, name: str) -> int | None:
    """1-based column, in its line, of the string literal of value `literal` on template line `line`: the first
    one written as the argument of `name(` (or after `=`), else the first one."""
    column = 1
    first = None
    before: list[str] = ["", ""]  # the two tokens before this one, whitespace left out
    for lineno, kind, raw in env.lexer.tokeniter(text, None):
        if kind == "string" and lineno == line:
            try:
                value = next(env.lexer.wrap(iter([(lineno, kind, raw)]))).value
            except jinja2.TemplateSyntaxError:
                value = None
            if value == literal:
                if before == [name, "("] or before[1] == "=":
                    return column
                first = column if first is None else first
        if kind != "whitespace":
            before = [before[1], raw]
        newline = raw.rfind("\n")
        column = len(raw) - newline if newline >= 0 else column + len(raw)
    return first


def check_ast(env: jinja2.Environment, ast: nodes.Template) -> None:
    """Raises TemplateCompileError for unknown filters/tests, dunder access, loader tags and literal arguments
    a filter or test refuses (`LITERAL_ARG_CHECKS`)."""
    for node in _post_order(ast):
        if isinstance(node, (nodes.Filter, nodes.Test)) and node.name in (env.filters if isinstance(node, nodes.Filter) else env.tests):
            for literal_check in LITERAL_ARG_CHECKS:
                problem = literal_check(env, node)
                if problem is not None:
                    raise _LiteralArgError(problem[0], getattr(node, "lineno", None), problem[1], node.name)
        line = getattr(node, "lineno", None)
        if isinstance(node, nodes.Filter) and node.name not in env.filters:
            raise TemplateCompileError(f"unknown filter '{node.name}'", line)
        if isinstance(node, nodes.Test) and node.name not in env.tests:
            raise TemplateCompileError(f"unknown test '{node.name}'", line)
        if isinstance(node, nodes.Getattr) and node.attr.startswith("__"):
            raise TemplateCompileError(f"templates may not access '{node.attr}'", line)
        if (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
            and node.arg.value.startswith("__")
        ):
            raise TemplateCompileError(f"templates may not access '{node.arg.value}'", line)
        for kind, tag in _FORBIDDEN_TAGS:
            if isinstance(node, kind):
                raise TemplateCompileError(f"templates may not use '{{% {tag} %}}' (there are no template files)", line)


def parse(env: jinja2.Environment, text: str) -> nodes.Template:
    """Parses and checks a template; raises TemplateCompileError with the line of the problem."""
    from engine.templates.macros import check_calls

    try:
        ast = env.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateCompileError(f"template syntax error: {exc.message}", exc.lineno) from None
    try:
        check_ast(env, ast)
    except _LiteralArgError as exc:
        raise TemplateCompileError(exc.message, exc.line, column=_literal_column(env, text, exc.line, exc.literal, exc.name)) from None
    check_calls(env, ast)  # type: ignore[arg-type]
    return ast


# -- the environment -----------------------------------------------------------------------------


class BoundedTemplate(jinja2.Template):
    """A template whose every render is budgeted and size-checked, whichever way it is called."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        return run_guarded(self.render_text, dict(*args, **kwargs))

    _flat_globals: dict[str, Any] | None = None

    def _context(self, variables: dict[str, Any]) -> Context:
        """Like `new_context`, without re-reading the globals ChainMap on every render (it is slow)."""
        flat = self._flat_globals
        if flat is None:
            flat = self._flat_globals = dict(self.globals)
        return self.environment.context_class(
            self.environment, {**flat, **variables}, self.name, self.blocks, globals=flat
        )

    def render_text(self, variables: dict[str, Any]) -> str:
        ctx = self._context(variables)
        parts: list[str] = []
        total = 0
        for part in self.root_render_func(ctx):
            total += len(part)
            if total > MAX_OUTPUT:
                raise TemplateRenderError(f"the template's output is longer than {MAX_OUTPUT} characters")
            parts.append(part)
        return "".join(parts)

    def render_native(self, variables: dict[str, Any]) -> Any:
        """For templates that assign their one expression to `result`: its value."""
        ctx = self._context(variables)
        for _ in self.root_render_func(ctx):
            pass
        value = ctx.vars.get("result", UNDEFINED)
        if isinstance(value, str):
            _check_size(len(value), "a string")
        else:
            check_native(value)
        return normalize(value)


def run_guarded(func: Callable[[Any], Any], arg: Any) -> Any:
    """Runs one render with a fresh budget (unless one is running) and maps errors to TemplateRenderError."""
    token = _BUDGET.set(Budget()) if _BUDGET.get() is None else None
    try:
        return run_mapped(func, arg)
    finally:
        if token is not None:
            _BUDGET.reset(token)


def run_mapped(func: Callable[[Any], Any], arg: Any) -> Any:
    """`run_guarded` for renders that spend no budget (no call, loop or `range()`: lookups and filters called
    directly): the same errors, without setting up a budget."""
    try:
        return func(arg)
    except TemplateError:
        raise
    except Exception as exc:
        mapped = _render_error(exc)
        if mapped is None:
            raise
        raise mapped from None


def _render_error(exc: Exception) -> TemplateRenderError | None:
    """The TemplateRenderError a render raising `exc` gives (None: it propagates as it is)."""
    if isinstance(exc, RecursionError):
        return TemplateRenderError("the template recursed too deeply")
    if isinstance(exc, SecurityError):
        return TemplateRenderError(f"the template did something the sandbox forbids: {exc}")
    if isinstance(exc, UndefinedError):
        return TemplateRenderError(f"the template used an undefined value: {exc.message}")
    if isinstance(exc, jinja2.TemplateError):
        return TemplateRenderError(f"the template failed: {exc.message}")
    if isinstance(exc, (TypeError, ValueError, ArithmeticError, LookupError, AttributeError)):
        return TemplateRenderError(f"the template failed: {exc}")
    if isinstance(exc, MemoryError):
        return TemplateRenderError("the template ran out of memory")
    return None


def _method_self(obj: Any) -> Any:
    inner = getattr(obj, "__wrapped__", obj)  # sandboxed str.format wrappers
    if isinstance(inner, (types.MethodType, types.BuiltinMethodType)):
        return getattr(inner, "__self__", None)
    return None


def _binop_size(left: Any, right: Any, op: str) -> int | None:
    """Size of the str/list result of `left op right`, or None when it is not a sequence operation. A list's
    items count with their own size (`[text] * 1000` is a thousand times the text)."""
    if op == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                if n <= 0 or not seq:
                    return 0
                if isinstance(seq, str):
                    return len(seq) * n
                return len(seq) * n if len(seq) * n > MAX_OUTPUT else value_size(seq, MAX_OUTPUT // n + 1) * n
        return None
    if isinstance(left, str) and isinstance(right, str):
        return len(left) + len(right)
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return value_size(left) + value_size(right)
    return None


def _text_size(value: Any) -> int:
    return len(value) if isinstance(value, str) else value_size(value)


def _check_method_result(text: str, name: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The size of what a string method would build, computed before it is built (replace, join, expandtabs,
    translate: the methods whose result can be much longer than their inputs)."""
    size = 0
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        old, new = args[0], args[1]
        if len(new) <= len(old):
            return
        count = text.count(old) if old else len(text) + 1
        limit = args[2] if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0 else count
        size = len(text) + min(count, limit) * (len(new) - len(old))
    elif name == "join" and len(args) == 1 and isinstance(args[0], (list, tuple)):
        items = args[0]
        size = len(text) * max(len(items) - 1, 0)
        for item in items:
            if size > MAX_OUTPUT:
                break
            size += _text_size(item)
    elif name == "expandtabs":
        width = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(width, int):
            size = len(text) + text.count("\t") * max(width, 0)
    elif name == "translate" and len(args) == 1 and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        size = len(text) * max(longest, 1)
    _check_size(size, "a string")


class _BoundedFormatter(SandboxedFormatter):
    """Counts the characters of the fields a `str.format` call makes and stops once they pass MAX_OUTPUT
    (`'{0}{0}{0}'.format(text)` repeats the text; each field is built, the whole is not)."""

    def __init__(self, env: jinja2.Environment):
        super().__init__(env)
        self.total = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        text = super().format_field(value, format_spec)
        self.total += len(text)
        _check_size(self.total, "a string")
        return text


def _method_name(obj: Any) -> str | None:
    return getattr(getattr(obj, "__wrapped__", obj), "__name__", None)


class TemplateEnvironment(ImmutableSandboxedEnvironment):
    """The one environment every request template is compiled in."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])
    template_class = BoundedTemplate

    def __init__(self) -> None:
        super().__init__(
            loader=None,
            undefined=JsUndefined,
            autoescape=False,
            finalize=to_text,
            keep_trailing_newline=True,
            auto_reload=False,
            cache_size=0,
        )
        self.globals["range"] = limited_range
        for name in ("lipsum", "cycler", "joiner"):
            self.globals.pop(name, None)

    # -- attribute access: an object's own key wins over its methods (like JS) --
    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj:
            value = obj[attribute]
            return self.undefined(obj=obj, name=attribute) if value is UNDEFINED else value
        value = super().getattr(obj, attribute)
        return self.undefined(obj=obj, name=attribute) if value is UNDEFINED else value

    def getitem(self, obj: Any, argument: Any) -> Any:
        value = super().getitem(obj, argument)
        return self.undefined(obj=obj, name=argument) if value is UNDEFINED else value

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise TemplateRenderError(f"templates may not access '{attribute}'")

    # -- work and size bounds --
    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _spend(1)
        owner = _method_self(__obj)
        if isinstance(owner, (str, list, tuple)):
            _check_int_args(args)
            _check_int_args(kwargs.values())
            if isinstance(owner, str):
                name = _method_name(__obj)
                if name in _FORMAT_METHODS:
                    _check_brace_format(owner)
                else:
                    _check_method_result(owner, name, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
                if right * abs(left).bit_length() > MAX_POWER_BITS:
                    raise TemplateRenderError(f"the template tried to compute a number larger than 2**{MAX_POWER_BITS}")
        elif operator == "*" and type(left) is int and type(right) is int:
            if left.bit_length() + right.bit_length() > MAX_POWER_BITS:
                raise TemplateRenderError(f"the template tried to compute a number larger than 2**{MAX_POWER_BITS}")
        elif operator == "%":
            _check_percent_format(left)
            if isinstance(left, str):
                _check_int_args(right if isinstance(right, tuple) else (right,))
                _check_percent_result(left, right)
        else:
            size = _binop_size(left, right, operator)
            if size is not None:
                _check_size(size, "a string or list")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """The sandbox's `str.format` / `format_map`, with the size of the result bounded as it is made."""
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) or value.__name__ not in _FORMAT_METHODS:
            return None
        text = value.__self__
        if type(text) is not str:
            return super().wrap_str_format(value)
        is_format_map = value.__name__ == "format_map"
        env = self

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs = args[0]
                args = ()
            return _BoundedFormatter(env).vformat(text, args, kwargs)

        return functools.update_wrapper(wrapper, value)

    def counted_iter(self, iterable: Any) -> Iterator[Any]:
        for item in iterable:
            _spend(1)
            yield item

    def url_component(self, value: Any) -> str:
        """The text of a value percent-encoded for a URL path or query (only A-Z a-z 0-9 - . _ ~ stay)."""
        return quote(to_text(value), safe="")

    def safe_concat(self, values: list[Any]) -> str:
        text = "".join(to_text(v) for v in values)
        _check_size(len(text), "a string")
        return text

    # -- compilation --
    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        ast = super()._parse(source, name, filename)
        ast = _Guard().visit(ast)
        ast.set_environment(self)
        return ast


def _load_entry_points(group: str) -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}
    for ep in importlib.metadata.entry_points(group=group):
        try:
            loaded = ep.load()
        except Exception as exc:
            raise TemplateError(f"the {group} entry point '{ep.name}' failed to load: {exc}") from exc
        items = loaded.items() if isinstance(loaded, dict) else [(ep.name, loaded)]
        for name, func in items:
            if not callable(func):
                raise TemplateError(f"the {group} entry point '{ep.name}' provides '{name}', which is not callable")
            found[name] = func
    return found


def build_environment() -> TemplateEnvironment:
    """A new environment with the engine's filters and tests plus those of installed plugins."""
    from engine.templates import filters

    env = TemplateEnvironment()
    for name in _SIZED_FILTERS:
        env.filters[name] = _sized_filter(env.filters[name], format_arg=name == "format")
    env.filters.update(filters.SIZED_BUILTINS)
    env.filters.update(filters.FILTERS)
    env.tests.update(filters.TESTS)
    env.globals.update(filters.GLOBALS)
    for group, table in (("engine.filters", env.filters), ("engine.tests", env.tests)):
        for name, func in _load_entry_points(group).items():
            if name in table:
                raise TemplateError(f"the {group} plugin '{name}' would replace a built-in of the same name")
            table[name] = func
    return env


@cache
def make_environment() -> TemplateEnvironment:
    """The shared environment (built once)."""
    return build_environment()


_COMPILE_ENV: contextvars.ContextVar[TemplateEnvironment | None] = contextvars.ContextVar("compile_env", default=None)


def current_environment() -> TemplateEnvironment:
    """The environment templates compile in: a spec's own (its macros, see `engine.templates.macros.using_macros`)
    while that spec compiles, else the shared one."""
    return _COMPILE_ENV.get() or make_environment()
