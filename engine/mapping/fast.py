"""A mapping compiled once into one generated Python function (straight-line code, `exec` once per mapping).

The common shapes of preset mappings are turned into direct code; everything else keeps its closure from
`resolve.compile_value` (the general path) and is called from the generated code:

- constants (sub-trees `compile_value` folds): scalars inline, containers copied per call;
- `@path` with a fixed string: every distinct path prefix becomes one local computed once per call, each step
  `v = p.get(key, _U) if type(p) is dict else _step(p, key, index)` (`_step`: Segment's JS walk over
  lists, strings, numbers, null... exactly as `paths.make_getter`);
- `@if` with `exists` (or `blank`), `then`, `else`: an `if` statement, branches evaluated only when taken;
- object literals and arrays of the above: the output dict is built directly, skipping undefined members
  (undefined array items become null), so no `strip_undefined` pass runs over the result;
- anything else: the general closure, its result passed through `strip_undefined` (which removes undefined
  recursively, so composing it per sub-tree gives what one pass over the whole result gives).

Path lookups have no side effects and never raise, so computing them up front (even those only used in an
`@if` branch not taken) cannot change a result or an error; general closures run in the order the general
path runs them. Payloads are JSON data (parsed events): a value copied in by `@path` is kept as it is, as
`strip_undefined` keeps any sub-tree holding no undefined.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from types import CodeType
from typing import Any

from engine.jsvalues import UNDEFINED, remove_undefined, truthy
from engine.mapping.directives import _blank_is_set
from engine.mapping.paths import _array_index, _property, split_path, strip_root
from engine.mapping.resolve import Const, compile_value, copy_json, is_directive

MAX_IF_DEPTH = 40  # nested `@if`s become nested `if` blocks; deeper mappings keep the general path


def _step(cur: Any, key: str, index: int) -> Any:
    """One step of `get` for a value that is not a plain dict (`paths.make_getter`'s loop body)."""
    if not truthy(cur):
        return cur
    return _property(cur, key, index)


def _is_set(value: Any) -> bool:
    """`@if` with `blank`: neither null/undefined nor `== ''`."""
    return value is not None and value is not UNDEFINED and _blank_is_set(value)


class _Generator:
    def __init__(self, strict: bool, strip: Callable[[Any], Any]) -> None:
        self.strict = strict
        self.ns: dict[str, Any] = {
            "_U": UNDEFINED, "_step": _step, "_copy": copy_json, "_strip": strip, "_is_set": _is_set,
        }  # fmt: skip
        self.prefixes: dict[tuple[str, ...], str] = {(): "e"}
        self.folded: dict[int, bool] = {}  # id of a mapping node -> folds to a constant
        self.steps: list[tuple[str, str, str]] = []  # (local, parent local, key) in order of first use
        self.body: list[str] = []
        self.indent = 1
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def constant(self, value: Any) -> str:
        if value is None or value is True or value is False or type(value) in (int, str):
            return repr(value)
        name = self.name("c")
        self.ns[name] = value
        return name

    def line(self, text: str) -> None:
        self.body.append("    " * self.indent + text)

    def path(self, keys: tuple[str, ...] | None) -> str:
        """The local holding `get(e, keys)`, computed once per call in the function's head."""
        keys = keys or ()
        var = self.prefixes.get(keys)
        if var is None:
            parent = self.path(keys[:-1])
            var = self.name("p")
            self.prefixes[keys] = var
            self.steps.append((var, parent, keys[-1]))
        return var

    def head(self) -> list[str]:
        """One line per path step, in order of first use (a parent before its children)."""
        lines = []
        for var, parent, key in self.steps:
            k = self.constant(key)
            lines.append(
                f"    {var} = {parent}.get({k}, _U) if type({parent}) is dict "
                f"else _step({parent}, {k}, {_array_index(key)})"
            )
        return lines

    def general(self, mapping: Any, raw: bool) -> tuple[str, bool]:
        """A call of the general closure of `mapping` (its result stripped unless `raw`)."""
        fn = self.name("f")
        self.ns[fn] = compile_value(mapping, self.strict)
        var = self.name("t")
        self.line(f"{var} = {fn}(e)" if raw else f"{var} = _strip({fn}(e))")
        return var, True

    def folds(self, mapping: Any) -> bool:
        """Whether `compile_value` folds `mapping` to a constant (without building its closures)."""
        key = id(mapping)
        known = self.folded.get(key)
        if known is None:
            if isinstance(mapping, dict) and is_directive(mapping):
                name = next(key for key in mapping if key.startswith("@"))
                if name == "@if" or (name == "@path" and isinstance(mapping[name], str)):
                    known = False  # compile_if and compile_path never give a constant
                else:
                    known = isinstance(compile_value(mapping, self.strict), Const)
            elif isinstance(mapping, dict):
                known = all(self.folds(item) for item in mapping.values())
            elif isinstance(mapping, list):
                known = all(self.folds(item) for item in mapping)
            else:
                known = True
            self.folded[key] = known
        return known

    def emit(self, mapping: Any, depth: int = 0, raw: bool = False) -> tuple[str, bool]:
        """Append code computing `mapping`; return (a name or expression, whether it may be undefined).

        raw: the value as the general closure gives it (undefined members kept), for `@if` conditions.
        """
        if self.folds(mapping):
            value = compile_value(mapping, self.strict).value  # type: ignore[union-attr]
            if value is UNDEFINED:
                return "_U", True
            if isinstance(value, (dict, list)):
                return f"_copy({self.constant(value if raw else remove_undefined(value))})", False
            return self.constant(value), False
        if isinstance(mapping, dict) and is_directive(mapping):
            name = next(key for key in mapping if key.startswith("@"))
            opts = mapping[name]
            if name == "@path" and isinstance(opts, str):
                return self.path(split_path(strip_root(opts))), True
            if name == "@if" and not raw:
                return self.emit_if(mapping, depth)
            return self.general(mapping, raw)
        if raw:
            return self.general(mapping, raw)
        if isinstance(mapping, dict):
            out = self.name("o")
            self.line(f"{out} = {{}}")
            for key, item in mapping.items():
                value, maybe_undefined = self.emit(item, depth)
                k = self.constant(key)
                if maybe_undefined:
                    if not value.isidentifier():
                        var = self.name("t")
                        self.line(f"{var} = {value}")
                        value = var
                    self.line(f"if {value} is not _U:")
                    self.line(f"    {out}[{k}] = {value}")
                else:
                    self.line(f"{out}[{k}] = {value}")
            return out, False
        items = []
        for item in mapping:
            value, maybe_undefined = self.emit(item, depth)
            if maybe_undefined:
                if not value.isidentifier():
                    var = self.name("t")
                    self.line(f"{var} = {value}")
                    value = var
                value = f"(None if {value} is _U else {value})"
            items.append(value)
        out = self.name("a")
        self.line(f"{out} = [{', '.join(items)}]")
        return out, False

    def emit_if(self, mapping: dict, depth: int) -> tuple[str, bool]:
        """`directives.compile_if`, as an `if` statement."""
        opts = mapping["@if"]
        if not isinstance(opts, dict) or depth >= MAX_IF_DEPTH:
            return self.general(mapping, False)
        exists, blank = opts.get("exists", UNDEFINED), opts.get("blank", UNDEFINED)
        if not truthy(exists) and not truthy(blank):
            return self.general(mapping, False)  # raises Segment's message
        use_exists = exists is not UNDEFINED
        cond, _ = self.emit(exists if use_exists else blank, depth + 1, raw=True)
        if cond not in self.prefixes.values() and not cond.startswith("t"):  # no `'text' is not None`
            var = self.name("t")
            self.line(f"{var} = {cond}")
            cond = var
        out = self.name("r")
        self.line(f"if {cond} is not None and {cond} is not _U:" if use_exists else f"if _is_set({cond}):")
        then, otherwise = opts.get("then", UNDEFINED), opts.get("else", UNDEFINED)
        then_maybe = self.branch(then, depth, out)
        self.line("else:")
        else_maybe = self.branch(otherwise if truthy(otherwise) else UNDEFINED, depth, out)
        return out, then_maybe or else_maybe

    def branch(self, mapping: Any, depth: int, out: str) -> bool:
        """Code assigning `mapping` to `out`, one level in; whether it may be undefined."""
        self.indent += 1
        value, maybe_undefined = ("_U", True) if mapping is UNDEFINED else self.emit(mapping, depth + 1)
        self.line(f"{out} = {value}")
        self.indent -= 1
        return maybe_undefined

    def source(self, result: str) -> str:
        return "\n".join(["def run(e):", *self.head(), *self.body, f"    return {result}", ""])


def compile_fast(
    mapping: Any, strict: bool, strip: Callable[[Any], Any]
) -> tuple[Callable[[Any], Any], str] | None:
    """`run(payload)` for `mapping` and its source, or None when `compile_value` folds the whole mapping to
    a constant (the caller serves it).

    `strip` is `compile.strip_undefined` (passed in: compile.py imports this module).
    """
    gen = _Generator(strict, strip)
    if gen.folds(mapping):
        return None
    result, _ = gen.emit(mapping)
    source = gen.source(result)
    exec(_code(source), gen.ns)  # noqa: S102  (generated from the mapping's shape; values live in gen.ns)
    return gen.ns["run"], source


@lru_cache(maxsize=256)
def _code(source: str) -> CodeType:
    """Python's compile of a generated function (mappings of one shape share their source)."""
    return compile(source, "<mapping>", "exec")
