"""Load a YAML document into plain Python data plus a map of where every key and value stands.

ruamel.yaml keeps line and column of every node; we copy the tree into plain dicts and
lists (what every later stage works on) and keep positions in a side table keyed by the
key path, so a problem anywhere can be reported as file:line:col. Everything that could make
loading hang or explode (huge files, alias bombs, deep nesting, binary data) is refused with
one located message instead.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from engine.diagnostics import Diagnostic, KeyPath, SpecError

MAX_BYTES = 5 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64

# Keys under these parents may be written as integers (HTTP statuses) and become strings.
INTEGER_KEY_PARENTS = {"errors"}


@dataclass
class Document:
    """A loaded YAML file: plain data and the position of every key and value (1-based)."""

    file: str
    data: Any
    value_positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list, repr=False)
    key_positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: KeyPath, *, key: bool = False) -> tuple[int, int]:
        """Position of the value at `path` (or of its key), else of the nearest enclosing node."""
        path = tuple(path)
        if key and path in self.key_positions:
            return self.key_positions[path]
        while path:
            if path in self.value_positions:
                return self.value_positions[path]
            if path in self.key_positions:
                return self.key_positions[path]
            path = path[:-1]
        return self.value_positions.get((), (1, 1))

    def inner_column(self, path: KeyPath, offset: int) -> int | None:
        """Column offset to character `offset` (1-based) inside the one-line scalar at `path`."""
        line, col = self.locate(path)
        if path not in self.value_positions or not 0 < line <= len(self.lines):
            return None
        text = self.lines[line - 1]
        quoted = col <= len(text) and text[col - 1] in "\"'"
        return offset - 1 + (1 if quoted else 0)

    def diagnostic(self, path: KeyPath, message: str, *, key: bool = False, severity: str = "error",
                   column_offset: int | None = None) -> Diagnostic:
        line, col = self.locate(path, key=key)
        if column_offset is not None:
            col += column_offset
        return Diagnostic(self.file, line, col, tuple(path), message, severity)


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def _mark_diag(file: str, exc: MarkedYAMLError) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    if isinstance(exc, DuplicateKeyError):
        text = str(exc.problem or "duplicate key")
        # ruamel: 'found duplicate key "x" with value "1" (original value: "2")'
        key = text.split('"')[1] if '"' in text else "?"
        return Diagnostic(file, line, col, (), f"duplicate key '{key}': each key may appear once in a mapping")
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    context = exc.context or ""
    if "<stream end>" in problem and exc.context_mark is not None and "flow" in context:
        bracket, closer = ("[", "]") if "sequence" in context else ("{", "}")
        return Diagnostic(file, exc.context_mark.line + 1, exc.context_mark.column + 1, (),
                          f"invalid YAML: this '{bracket}' is never closed; expected ',' or '{closer}' before the end of the file")
    if "\\t" in problem or "'\\t'" in problem or "\t" in problem:
        problem = "a tab character is not allowed here; YAML indentation must use spaces"
    return Diagnostic(file, line, col, (), f"invalid YAML: {problem}")


def load_text(text: str, file: str = "<string>") -> Document:
    """Parse YAML text into a Document; raise SpecError with located diagnostics on failure."""
    if not text.strip():
        raise SpecError([Diagnostic(file, 1, 1, (), "the file is empty; expected a mapping with spec_version, name and actions")])
    too_big = _too_many_nodes(text)
    if too_big is not None:
        # refuse before parsing: ruamel takes ~28 s and ~600 MB to compose 300,000 keys
        raise SpecError([Diagnostic(file, 1, 1, (), too_big)])
    too_deep = _flow_too_deep(text)
    if too_deep is not None:
        # refuse before parsing: the YAML composer recurses once per level and takes seconds on deep input
        line, col = too_deep
        raise SpecError([Diagnostic(file, line, col, (), f"nested more than {MAX_DEPTH} levels deep; flatten the structure")])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ruamel warns about reused anchors, which YAML allows
            docs = list(_yaml().load_all(text))
    except MarkedYAMLError as exc:
        raise SpecError([_mark_diag(file, exc)]) from None
    except RecursionError:
        raise SpecError([Diagnostic(file, 1, 1, (), f"the document is nested too deeply (more than {MAX_DEPTH} levels)")]) from None
    except ValueError as exc:  # ruamel's int(): Python refuses to convert more than 4,300 digits
        if "integer string conversion" not in str(exc):
            raise
        raise SpecError([_long_number(file, text)]) from None
    except YAMLError as exc:
        raise SpecError([Diagnostic(file, 1, 1, (), f"invalid YAML: {exc}")]) from None
    if len(docs) != 1:
        if not docs or all(d is None for d in docs):
            raise SpecError([Diagnostic(file, 1, 1, (), "the file has no content; expected a mapping with spec_version, name and actions")])
        raise SpecError([Diagnostic(file, 1, 1, (), f"the file holds {len(docs)} YAML documents; a spec is exactly one")])
    doc = Document(file=file, data=None, lines=text.splitlines())
    diags: list[Diagnostic] = []
    budget = [MAX_NODES]
    doc.value_positions[()] = (1, 1)
    doc.data = _convert(docs[0], (), doc, diags, budget, 0)
    if diags:
        raise SpecError(diags)
    return doc


MAX_CHARS = 20_000_000
"""Largest spec or config text parsed (files are also limited to MAX_BYTES when read): a spec is tens of kilobytes; past this it is not parsed."""
MAX_INT_DIGITS = 4300
_LONG_NUMBER = re.compile(rf"[-+]?[0-9][0-9_]{{{MAX_INT_DIGITS},}}")


def _too_many_nodes(text: str) -> str | None:
    """Why the text certainly holds more than MAX_NODES keys or items, before parsing it: every key or item needs
    a line, a `:` or a `,` of its own (each counted, the largest taken)."""
    if len(text) > MAX_CHARS:
        return f"the file is {len(text)} characters long, more than {MAX_CHARS}; a spec is far smaller, refusing to parse it"
    if len(text) <= MAX_NODES:
        return None
    found = max(text.count("\n"), text.count(":"), text.count(","))
    if found > MAX_NODES:
        return (f"the file holds about {found} keys or items, more than {MAX_NODES}; a spec is far smaller, "
                "refusing to parse it")
    return None


def _long_number(file: str, text: str) -> Diagnostic:
    """A diagnostic at the first number with more digits than Python converts (MAX_INT_DIGITS)."""
    match = _LONG_NUMBER.search(text)
    if match is None:
        return Diagnostic(file, 1, 1, (), f"a number has more than {MAX_INT_DIGITS} digits; quote it to keep it as text")
    line = text.count("\n", 0, match.start()) + 1
    col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    digits = sum(ch.isdigit() for ch in match.group())
    return Diagnostic(file, line, col, (), f"a number of {digits} digits: integers may have at most {MAX_INT_DIGITS}"
                                           " digits; quote it to keep it as text")


def _flow_too_deep(text: str) -> tuple[int, int] | None:
    """Where `[`/`{` nesting first passes MAX_DEPTH (1-based line, column), ignoring quoted text and comments."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth, line, col, quote, prev = 0, 1, 0, "", "\n"
    in_comment = False
    for ch in text:
        col += 1
        if ch == "\n":
            line, col, in_comment, prev = line + 1, 0, False, ch
            continue
        if in_comment:
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'" and (prev in " \t[{,:\n" or prev == ch):
            quote = ch
        elif ch == "#" and prev in " \t\n":
            in_comment = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line, col
        elif ch in "]}":
            depth = max(0, depth - 1)
        prev = ch
    return None


def load_file(path: str | Path) -> Document:
    """Read and parse a YAML file; I/O and size problems become located diagnostics too."""
    name = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_BYTES:
            raise SpecError([Diagnostic(name, 1, 1, (), f"the file is {size / 1048576:.1f} MB; specs are limited to {MAX_BYTES // 1048576} MB")])
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError([Diagnostic(name, 1, 1, (), f"cannot read the file: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _binary(name, raw, exc.start)
    if "\x00" in text:
        return _binary(name, raw, raw.index(b"\x00"))
    return load_text(text, name)


def _binary(name: str, raw: bytes, offset: int) -> Document:
    line = raw.count(b"\n", 0, offset) + 1
    col = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    raise SpecError([Diagnostic(name, line, col, (), "the file is not UTF-8 text (binary data found); a spec is a YAML text file")])


def _pos(lc_entry: Any, key: bool) -> tuple[int, int] | None:
    if not lc_entry:
        return None
    if key:
        return lc_entry[0] + 1, lc_entry[1] + 1
    if len(lc_entry) >= 4:
        return lc_entry[2] + 1, lc_entry[3] + 1
    return lc_entry[0] + 1, lc_entry[1] + 1


def _merged_position(node: CommentedMap, key: Any) -> tuple[list[int] | None, list[int] | None]:
    for item in getattr(node, "merge", None) or []:
        source = item[1] if isinstance(item, tuple) else item
        if isinstance(source, CommentedMap):
            entry = source.lc.data.get(key)
            if entry:
                return entry, entry
            found = _merged_position(source, key)
            if found[0]:
                return found
    return None, None


def _convert(node: Any, path: KeyPath, doc: Document, diags: list[Diagnostic], budget: list[int], depth: int) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        if budget[0] == -1:
            diags.append(doc.diagnostic((), f"the document expands to more than {MAX_NODES} nodes (aliases repeated too often?); refusing to load it"))
        return None
    if depth > MAX_DEPTH:
        diags.append(doc.diagnostic(path[:3], f"nested more than {MAX_DEPTH} levels deep; flatten the structure"))
        budget[0] = -2
        return None
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        own = node.lc.data or {}
        for key in node:
            entry = own.get(key)
            if entry is None:
                entry, _ = _merged_position(node, key)
            if isinstance(key, str):
                skey: str = key
            elif isinstance(key, int) and not isinstance(key, bool) and path and path[-1] in INTEGER_KEY_PARENTS:
                skey = str(key)
            else:
                kp = _pos(entry, True)
                where = path + (str(key),)
                line, col = kp or doc.locate(path)
                kind = {"NoneType": "null", "int": "an integer", "float": "a number", "bool": "a boolean"}.get(
                    type(key).__name__, f"a {type(key).__name__}")
                spelled = "null" if key is None else str(key).lower() if isinstance(key, bool) else repr(key)
                where = path + (spelled,)
                diags.append(Diagnostic(doc.file, line, col, where, f"keys must be strings, found {kind} key {spelled}; quote it"))
                continue
            child_path = path + (skey,)
            kpos, vpos = _pos(entry, True), _pos(entry, False)
            if kpos:
                doc.key_positions[child_path] = kpos
            value = node[key]
            if vpos and not isinstance(value, (CommentedMap, CommentedSeq)):
                doc.value_positions[child_path] = vpos
            elif isinstance(value, (CommentedMap, CommentedSeq)) and value.lc.line is not None:
                doc.value_positions[child_path] = (value.lc.line + 1, value.lc.col + 1)
            elif vpos:
                doc.value_positions[child_path] = vpos
            out[skey] = _convert(value, child_path, doc, diags, budget, depth + 1)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            child_path = path + (i,)
            entry = (node.lc.data or {}).get(i)
            if isinstance(value, (CommentedMap, CommentedSeq)) and value.lc.line is not None:
                doc.value_positions[child_path] = (value.lc.line + 1, value.lc.col + 1)
            elif entry:
                doc.value_positions[child_path] = (entry[0] + 1, entry[1] + 1)
            items.append(_convert(value, child_path, doc, diags, budget, depth + 1))
        return items
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    # timestamps and other YAML tags: keep their text form
    return str(node)
