"""Validate spec files: load (positions), JSON Schema, then the semantic checks."""

from __future__ import annotations

from pathlib import Path

from engine.diagnostics import Diagnostic, SpecError
from engine.spec.checker import run_checks
from engine.spec.loader import Document, load_file, load_text
from engine.spec.macro_checks import macro_diagnostics, spec_macros
from engine.spec.schema import check_schema, describe
from engine.templates.macros import using_macros


def check_document(doc: Document) -> list[Diagnostic]:
    """Schema problems and semantic problems of a loaded document, sorted by position."""
    if not isinstance(doc.data, dict):
        found = describe(doc.data)
        return [Diagnostic(doc.file, 1, 1, (), f"the top level must be a mapping with spec_version, name and actions; found {found}")]
    diags = check_schema(doc)
    diags.extend(macro_diagnostics(doc))
    with using_macros(spec_macros(doc)):  # the spec's templates may call its macros
        diags.extend(run_checks(doc, tolerate_shape_errors=bool(diags)))
    return sorted(set(diags))


def validate_text(text: str, file: str = "<string>") -> list[Diagnostic]:
    try:
        doc = load_text(text, file)
    except SpecError as exc:
        return exc.diagnostics
    return check_document(doc)


def validate_path(path: str | Path) -> list[Diagnostic]:
    try:
        doc = load_file(path)
    except SpecError as exc:
        return exc.diagnostics
    return check_document(doc)


def spec_files(paths: list[str]) -> list[Path]:
    """Expand directories to the spec files in them (`*.yaml`, `*.yml`, not `*.tests.yaml`)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir()
                              if p.suffix in (".yaml", ".yml") and not p.name.endswith((".tests.yaml", ".tests.yml"))))
        else:
            out.append(path)
    return out


# The language checks register themselves into the checker's registry on import.
import engine.spec.language_checks  # noqa: E402,F401
