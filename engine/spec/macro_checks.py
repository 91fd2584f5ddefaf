"""The spec's `macros:` section: compiled once per loaded document, its problems located in the YAML.

`spec_macros(doc)` gives the `MacroLibrary` (remembered on the document, so `engine validate` and the compile
that follows it build the macros once); `macro_diagnostics` turns its problems into diagnostics whose line is
the line inside the macro's body.
"""

from __future__ import annotations

from engine.diagnostics import Diagnostic, KeyPath
from engine.spec.loader import Document
from engine.templates.macros import MacroLibrary, MacroProblem, compile_macros

_ATTRIBUTE = "_macro_library"


def spec_macros(doc: Document) -> MacroLibrary:
    """The compiled macros of a document (built on first use)."""
    library = doc.__dict__.get(_ATTRIBUTE)
    if library is None:
        section = doc.data.get("macros") if isinstance(doc.data, dict) else None
        library = compile_macros(section)
        doc.__dict__[_ATTRIBUTE] = library
    return library  # type: ignore[no-any-return]


def body_position(doc: Document, path: KeyPath, line: int) -> tuple[int, int]:
    """File line and column of line `line` (1-based) of the string at `path`: a block scalar (`|`) starts on the
    line after its indicator; a one-line or flow scalar on its own line."""
    start, col = doc.locate(path)
    if path not in doc.value_positions or not 0 < start <= len(doc.lines):
        return start, col
    first = doc.lines[start - 1][col - 1:col]
    target = start + line if first in ("|", ">") else start + line - 1
    if first not in ("|", ">") and line == 1:
        return start, col
    if 0 < target <= len(doc.lines):
        text = doc.lines[target - 1]
        return target, len(text) - len(text.lstrip(" ")) + 1
    return start, col


def _diagnostic(doc: Document, problem: MacroProblem) -> Diagnostic:
    base: KeyPath = ("macros", problem.name)
    if problem.key is None:
        line, col = doc.locate(base, key=True)
        return Diagnostic(doc.file, line, col, base, problem.message)
    path = base + (problem.key,)
    if problem.item is not None:
        path += (problem.item,)
    if problem.key == "body" and problem.line is not None:
        line, col = body_position(doc, path, problem.line)
    else:
        line, col = doc.locate(path, key=isinstance(problem.item, str))
    return Diagnostic(doc.file, line, col, path, problem.message)


def macro_diagnostics(doc: Document) -> list[Diagnostic]:
    """The problems of the document's macros section, located."""
    return [_diagnostic(doc, problem) for problem in spec_macros(doc).problems]
