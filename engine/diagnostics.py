"""Located problems: what every stage reports to users, with file, line, column and key path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """('actions', 'track', 'fields', 0) -> 'actions.track.fields[0]'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            if out:
                out += "."
            out += text
    return out


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in one file. Sorted by file, then position."""

    file: str
    line: int
    column: int
    path: KeyPath = field(compare=False)
    message: str = field(compare=False)
    severity: str = field(default="error", compare=False)  # "error" | "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        prefix = "warning: " if self.severity == "warning" else ""
        path = format_path(self.path)
        return f"{where}: {prefix}{path + ': ' if path else ''}{self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": format_path(self.path),
            "message": self.message,
            "severity": self.severity,
        }


class SpecError(Exception):
    """Raised when a spec cannot be used; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))
