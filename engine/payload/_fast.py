"""The fast path of payload validation: one generated straight-line function per action and mode.

`compile_fast(schema, batch=...)` turns the root JSON Schema (the one `_validate.compile_schema` compiles)
into Python source, exec'd once: each property is a `p.get("key", _M)`, a value whose type the schema
accepts as it is gets its checks inline (`type(v) is str`, lengths, formats, enum membership, number
limits), cleaning (`removeEmptyValues`, the root `""` rule) happens in the same walk, nested objects with
properties get their own generated function and conditionally required rules become boolean expressions.

It answers only what it is sure of. Anything else about one property (a value to coerce, a list, a
keyword it does not inline) goes to that property's general pipeline (cleaner, arrify, compiled node),
which is exact by construction; any issue at all, or a coercion inside an `if` condition, raises `Bail`
and the caller runs the whole general path, which then produces the `PayloadError` (every issue, in
order, with its message). So the fast function either returns exactly the general path's result or bails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.jsvalues import UNDEFINED
from engine.payload import _messages as msg
from engine.payload._clean import compile_cleaner
from engine.payload._errors import PayloadError
from engine.payload._formats import NUMBER_FORMATS, STRING_FORMATS, always_valid
from engine.payload._validate import (
    _IGNORED,
    TYPE_CHECKS,
    _coerce,
    _issue,
    _to_null,
    compile_schema,
    js_equal,
)

FastValidator = Callable[[dict[str, Any]], dict[str, Any]]


class Bail(Exception):
    """The fast path does not answer for this payload; run the general path."""


_MISSING = object()
_DROP = object()
_SAFE_INT = 2**53  # beyond this `math.isfinite(int)` / `float(int)` may overflow: left to the general path

_LEAF_KEYS = _IGNORED | {"type", "enum", "minimum", "maximum", "minLength", "maxLength", "format"}
_OBJECT_KEYS = _IGNORED | {"type", "properties", "required", "additionalProperties", "not", "anyOf", "allOf", "if"}
_PREDICATE_KEYS = _IGNORED | {"type", "const", "required", "properties", "not", "anyOf", "allOf"}
_NULL_CHECK = TYPE_CHECKS["null"]


def _null_or_bail(value: Any) -> bool:
    """`{"type": "null"}` on a value that is not None: False, unless ajv would coerce it to null (bail)."""
    _, ok = _coerce(value, [_NULL_CHECK], [_to_null])
    if ok:
        raise Bail
    return False


def _general_predicate(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """A sub-schema the generator does not inline, as a predicate: the compiled node, bail on any change."""
    node = compile_schema(schema)

    def predicate(value: Any) -> bool:
        scratch: list[Any] = []
        if node(value, (), scratch) is not value:
            raise Bail
        return not scratch

    return predicate


def _general_property(schema: dict[str, Any], path: tuple[Any, ...], *, root: bool, single: bool) -> Callable[[Any], Any]:
    """One property through the general pipeline (clean, root rule, arrify, node): the value, `_DROP`, or Bail."""
    parts: list[Any] = []
    arrify = root and schema.get("type") == "array"
    drop_empty = root and single

    def general(value: Any) -> Any:
        if not parts:  # compiled on first use: most properties never need it
            parts.extend((compile_cleaner(schema), compile_schema(schema)))
        cleaner, node = parts
        new = cleaner(value)
        if new is UNDEFINED or (drop_empty and new == "" and isinstance(new, str)):
            return _DROP
        if arrify and new is not None and not isinstance(new, list):
            new = [new]
        issues: list[Any] = []
        new = node(new, path, issues)
        if issues:
            raise Bail
        return new

    return general


def _required_error(title: Any, keys: list[str]) -> PayloadError:
    """The error the general path raises when the only issues are missing required root fields."""
    return PayloadError([_issue(title, (), msg.required_message(key)) for key in keys])


def _clean_extras(out: dict[Any, Any], known: frozenset[Any], drop_empty: bool) -> None:
    """The cleaner on keys the schema does not name: identity, so only undefined (and root `""`) go."""
    for key in [k for k in out if k not in known]:
        value = out[key]
        if value is UNDEFINED or (drop_empty and value == "" and isinstance(value, str)):
            del out[key]


def _remove_extras(out: dict[Any, Any], known: frozenset[Any]) -> None:
    for key in [k for k in out if k not in known]:
        del out[key]


class _Generator:
    def __init__(self, single: bool):
        self.single = single
        self.names: dict[str, Any] = {
            "_M": _MISSING, "_U": UNDEFINED, "_DROP": _DROP, "Bail": Bail, "_js_equal": js_equal,
            "_null_or_bail": _null_or_bail, "_required_error": _required_error, "_clean_extras": _clean_extras, "_remove_extras": _remove_extras,
        }
        self.chunks: list[str] = []
        self.count = 0

    def name(self, prefix: str, value: Any) -> str:
        self.count += 1
        name = f"_{prefix}{self.count}"
        self.names[name] = value
        return name

    def literal(self, value: Any) -> str:
        """Source for a constant: a literal for str/int/bool/None (exact round trip), else a bound name."""
        if value is None or type(value) in (str, int, bool):
            return repr(value)
        return self.name("c", value)

    # -- objects -----------------------------------------------------------------------------------

    def object_function(self, schema: dict[str, Any], path: tuple[Any, ...], root: bool) -> str | None:
        """Generate `def _oN(p)` for an object schema (p is a plain dict); None when not supported."""
        if set(schema) - _OBJECT_KEYS or schema.get("type") not in ("object", ["object"]):
            return None
        properties = schema.get("properties", {})
        if not isinstance(properties, dict) or not all(isinstance(s, dict) for s in properties.values()):
            return None
        required = schema.get("required", [])
        if not isinstance(required, list):
            return None
        self.count += 1
        fname = f"_o{self.count}"
        drop_empty = root and self.single
        lines = [f"def {fname}(p):", "    out = p.copy()", "    n = 0"]
        for key, sub in properties.items():
            key_src = self.literal(key)
            lines.append(f"    v = p.get({key_src}, _M)")
            lines.append("    if v is not _M:")
            lines.append("        n += 1")
            lines.extend("        " + line for line in self.property_code(key, key_src, sub, (*path, key), root))
        known = self.name("k", frozenset(properties))
        lines.append("    if n != len(p):")
        lines.append(f"        _clean_extras(out, {known}, {drop_empty})")
        if root and required:
            # the usual invalid payload lacks a required field: report that without the general path (its
            # issues come first and are all there is when nothing else failed: anything else bails)
            lines.append("    missing = []")
        for key in required:
            lines.append(f"    if out.get({self.literal(str(key))}, _U) is _U:")
            lines.append(f"        missing.append({self.literal(str(key))})" if root else "        raise Bail")
        if schema.get("additionalProperties") is False:
            lines.append("    if n != len(p):")
            lines.append(f"        _remove_extras(out, {known})")
        lines.extend("    " + line for line in self.applicators(schema, "out"))
        if root and required:
            lines.append("    if missing:")
            lines.append(f"        raise _required_error({self.name('t', schema.get('title'))}, missing)")
        lines.append("    return out")
        self.chunks.append("\n".join(lines))
        return fname

    def property_code(self, key: Any, key_src: str, sub: dict[str, Any], path: tuple[Any, ...], root: bool) -> list[str]:
        """Statements for a present value `v` of property `key`, updating `out` (drop, replace or keep)."""
        general = self.name("g", _general_property(sub, path, root=root, single=self.single))
        fallback = [
            f"w = {general}(v)",
            "if w is _DROP:",
            f"    del out[{key_src}]",
            "elif w is not v:",
            f"    out[{key_src}] = w",
        ]
        try:
            types = _type_list(sub)
        except ValueError:
            return fallback
        nested = None
        if types == ["object"] and isinstance(sub.get("properties"), dict):
            nested = self.object_function(sub, path, root=False)
            if nested is None:
                return fallback
        elif set(sub) - _LEAF_KEYS or "type" not in sub:
            return fallback
        accept = "type(v) is dict" if nested else self.accept_expression(sub, types, root)
        drop = []
        if "null" not in types:
            drop.append("v is None")
        if (root and self.single) or "string" not in types:
            drop.append("(type(v) is str and not v)")
        code: list[str] = []
        if nested:
            code += [f"if {accept}:", f"    out[{key_src}] = {nested}(v)"]
        elif accept:
            code += [f"if {accept}:", "    pass"]
        if drop:
            code += [f"{'elif' if code else 'if'} {' or '.join(drop)}:", f"    del out[{key_src}]"]
        if code:
            code.append("else:")
            return code + ["    " + line for line in fallback]
        return fallback

    def accept_expression(self, sub: dict[str, Any], types: list[str], root: bool) -> str:
        """A boolean expression on `v`: true only when the general path keeps `v` exactly as it is."""
        enum = sub.get("enum")
        has_enum = "enum" in sub
        if has_enum and not isinstance(enum, list):
            return ""
        alternatives: list[str] = []
        if "string" in types:
            checks = ["type(v) is str"]
            if root and self.single:
                checks.append("v")  # a root "" is dropped, not kept
            if has_enum:
                options = frozenset(o for o in enum if type(o) is str)
                checks.append(f"v in {self.name('e', options)}")
            if "minLength" in sub:
                checks.append(f"len(v) >= {self.literal(int(sub['minLength']))}")
            if "maxLength" in sub:
                checks.append(f"len(v) <= {self.literal(int(sub['maxLength']))}")
            fmt = sub.get("format")
            if fmt in STRING_FORMATS and not always_valid(STRING_FORMATS[fmt]):
                checks.append(f"{self.name('f', STRING_FORMATS[fmt])}(v)")
            alternatives.append(" and ".join(checks))
        if has_enum:
            if "null" in types and any(o is None for o in enum):
                alternatives.append("v is None")
            return " or ".join(f"({a})" for a in alternatives)
        numeric = []
        if "number" in types:
            numeric.append(f"type(v) is int and -{_SAFE_INT} < v < {_SAFE_INT}")
            numeric.append("type(v) is float and v - v == 0.0")
        elif "integer" in types:
            numeric.append(f"type(v) is int and -{_SAFE_INT} < v < {_SAFE_INT}")
            numeric.append("type(v) is float and v.is_integer()")
        if numeric:
            checks = []
            for limit_key, operator in (("maximum", "<="), ("minimum", ">=")):
                if limit_key in sub:
                    checks.append(f"v {operator} {self.literal(sub[limit_key])}")
            fmt = sub.get("format")
            if fmt in NUMBER_FORMATS and not always_valid(NUMBER_FORMATS[fmt]):
                checks.append(f"{self.name('f', NUMBER_FORMATS[fmt])}(v)")
            base = " or ".join(f"({a})" for a in numeric)
            alternatives.append(" and ".join([f"({base})", *checks]))
        if "boolean" in types:
            alternatives.append("type(v) is bool")
        if "null" in types:
            alternatives.append("v is None")
        if "object" in types and not any(k in sub for k in ("properties", "required", "additionalProperties")):
            alternatives.append("type(v) is dict")
        return " or ".join(f"({a})" for a in alternatives)

    # -- applicators (conditionally required fields) -----------------------------------------------

    def applicators(self, schema: dict[str, Any], target: str) -> list[str]:
        lines: list[str] = []
        if "not" in schema:
            lines += [f"if {self.predicate(schema['not'], target)}:", "    raise Bail"]
        if "anyOf" in schema:
            options = " or ".join(self.predicate(s, target) for s in schema["anyOf"])
            lines += [f"if not ({options}):", "    raise Bail"]
        for sub in schema.get("allOf", []):
            if isinstance(sub, dict) and "if" in sub and not set(sub) - _IGNORED - {"if"}:
                lines += self.condition(sub, target)
            else:
                lines += [f"if not {self.predicate(sub, target)}:", "    raise Bail"]
        if "if" in schema:
            lines += self.condition(schema, target)
        return lines

    def condition(self, schema: dict[str, Any], target: str) -> list[str]:
        then, otherwise = schema.get("then"), schema.get("else")
        if then is None and otherwise is None:
            return []  # ajv never evaluates an `if` without branches
        lines = [f"if {self.predicate(schema['if'], target)}:"]
        lines.append(f"    if not {self.predicate(then, target)}:" if then is not None else "    pass")
        if then is not None:
            lines.append("        raise Bail")
        if otherwise is not None:
            lines += ["else:", f"    if not {self.predicate(otherwise, target)}:", "        raise Bail"]
        return lines

    def predicate(self, schema: Any, x: str) -> str:
        """A bool expression: `schema` passes on `x` without coercion (Bail if the general path would coerce).

        Parts the general path evaluates unconditionally are joined with `&` (no short circuit), anyOf
        with `or` (ajv stops at the first passing branch too), so every coercion ajv would make is seen.
        """
        if not isinstance(schema, dict):
            raise ValueError("schema must be an object")
        if set(schema) - _PREDICATE_KEYS or schema.get("type", "null") not in ("null", ["null"]):
            return f"{self.name('p', _general_predicate(schema))}({x})"
        parts: list[str] = []
        if "type" in schema:
            parts.append(f"{x} is None or ((type({x}) is not str or not {x}) and _null_or_bail({x}))")
        if "const" in schema:
            expected = schema["const"]
            if type(expected) is str:
                parts.append(f"type({x}) is str and {x} == {expected!r}")
            else:
                parts.append(f"_js_equal({x}, {self.name('c', expected)})")
        object_parts: list[str] = []
        required = schema.get("required", [])
        if not isinstance(required, list):
            raise ValueError("required must be a list")
        for key in required:
            object_parts.append(f"{x}.get({self.literal(str(key))}, _U) is not _U")
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise ValueError("properties must be an object")
        for key, sub in properties.items():
            self.count += 1
            fname = f"_q{self.count}"
            self.chunks.append(f"def {fname}(y):\n    return y is _U or ({self.predicate(sub, 'y')})")
            object_parts.append(f"{fname}({x}.get({self.literal(key)}, _U))")
        if object_parts:
            joined = " & ".join(f"({p})" for p in object_parts)
            parts.append(f"not isinstance({x}, dict) or ({joined})")
        if "not" in schema:
            parts.append(f"not {self.predicate(schema['not'], x)}")
        if "anyOf" in schema:
            parts.append(" or ".join(self.predicate(s, x) for s in schema["anyOf"]))
        if "allOf" in schema:
            parts.append(" & ".join(self.predicate(s, x) for s in schema["allOf"]))
        if not parts:
            return "True"
        return "(" + " & ".join(f"({p})" for p in parts) + ")"


def _type_list(schema: dict[str, Any]) -> list[str]:
    raw = schema.get("type")
    types = [] if raw is None else [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else None
    if types is None or any(t not in TYPE_CHECKS for t in types):
        raise ValueError("unsupported type")
    return types


def compile_fast(schema: dict[str, Any], *, batch: bool) -> FastValidator | None:
    """The generated validator for a root schema, or None when the schema is outside what it handles.

    The returned function takes a plain dict and returns the validated payload, raises `PayloadError` when the
only issues are missing required root fields, or raises `Bail`.
    """
    generator = _Generator(single=not batch)
    try:
        root = generator.object_function(schema, (), root=True)
    except (ValueError, TypeError):
        return None
    if root is None:
        return None
    source = "\n\n".join(generator.chunks)
    namespace = dict(generator.names)
    exec(compile(source, f"<payload fast path {'batch' if batch else 'single'}>", "exec"), namespace)  # noqa: S102
    function: FastValidator = namespace[root]
    function.__doc__ = source  # the generated text, for whoever debugs it
    return function


__all__ = ["Bail", "FastValidator", "compile_fast"]
