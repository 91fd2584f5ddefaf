"""The directive table: one entry per `@name`, each with a validate and a compile function.

`directives.py` fills it at import time; `validate.py` and `resolve.py` look names up here, so
adding a directive means adding one validate and one compile function next to each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# validate(value, stack, strict) raises validate.Invalid; compile(value, strict) returns a Node.
ValidateFn = Callable[[Any, tuple, bool], None]
CompileFn = Callable[[Any, bool], Any]


@dataclass(frozen=True, slots=True)
class Directive:
    name: str
    validate: ValidateFn
    compile: CompileFn


DIRECTIVES: dict[str, Directive] = {}


def register(name: str, validate: ValidateFn, compile: CompileFn) -> None:
    DIRECTIVES[name] = Directive(name, validate, compile)
