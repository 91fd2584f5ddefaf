"""`${VAR}` and `${VAR:-default}` in configuration strings; `$${` writes a literal `${`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_START = re.compile(r"\$\$\{|\$\{")
_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.S)


@dataclass(frozen=True)
class EnvProblem:
    offset: int  # 0-based index of the `${` in the string
    message: str


def _closing(text: str, start: int) -> int:
    """The index of the `}` closing the `${` at `start` (nested `${...}` in a default counted), or -1."""
    depth = 0
    i = start
    while i < len(text):
        if text.startswith("$${", i):
            i += 3
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def substitute(text: str, env: Mapping[str, str], _base: int = 0) -> tuple[str, list[EnvProblem], bool]:
    """`text` with variables replaced; the problems found; whether any variable was read.

    A variable that is unset (or empty, with `:-`) takes its default, which may itself hold references
    (`${A:-${B}}`, `${A:-${B:-x}}`); unset without a default is a problem naming it. Anything after `${` that is
    not a variable name is a problem too.
    """
    if "$" not in text:
        return text, [], False
    out: list[str] = []
    problems: list[EnvProblem] = []
    used = False
    pos = 0
    while True:
        match = _START.search(text, pos)
        if match is None:
            break
        out.append(text[pos:match.start()])
        if match.group(0) == "$${":
            out.append("${")
            pos = match.end()
            continue
        end = _closing(text, match.start())
        if end < 0:
            problems.append(EnvProblem(_base + match.start(), "'${' is not closed; write ${NAME} or ${NAME:-default} "
                                                              "(or $${ for a literal ${)"))
            out.append(text[match.start():])
            pos = len(text)
            break
        body = text[match.end():end]
        pos = end + 1
        parsed = _BODY.fullmatch(body)
        if parsed is None:
            problems.append(EnvProblem(_base + match.start(), f"'${{{body}}}' is not an environment variable "
                                       "reference; write ${NAME} or ${NAME:-default} (or $${ for a literal ${)"))
            out.append(text[match.start():pos])
            continue
        used = True
        name, default = parsed.group("name"), parsed.group("default")
        value = env.get(name)
        if default is not None and not value:
            inner, inner_problems, _ = substitute(default, env, _base + match.end() + parsed.start("default"))
            out.append(inner)
            problems.extend(inner_problems)
        elif value is None:
            problems.append(EnvProblem(_base + match.start(), f"environment variable {name} is not set "
                                                              f"(set it, or write ${{{name}:-default}})"))
        else:
            out.append(value)
    out.append(text[pos:])
    return "".join(out), problems, used
