"""`${VAR}` and `${VAR:-default}` in configuration strings; `$${` writes a literal `${`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_TOKEN = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)(?P<close>\})?")
_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.S)


@dataclass(frozen=True)
class EnvProblem:
    offset: int  # 0-based index of the `${` in the string
    message: str


def substitute(text: str, env: Mapping[str, str]) -> tuple[str, list[EnvProblem], bool]:
    """`text` with variables replaced; the problems found; whether any variable was read.

    A variable that is unset (or empty, with `:-`) takes its default; unset without a default is a
    problem naming it. Anything after `${` that is not a variable name is a problem too.
    """
    if "$" not in text:
        return text, [], False
    out: list[str] = []
    problems: list[EnvProblem] = []
    used = False
    pos = 0
    for match in _TOKEN.finditer(text):
        out.append(text[pos:match.start()])
        pos = match.end()
        if match.group(0) == "$${":
            out.append("${")
            continue
        body = match.group("body")
        if match.group("close") is None:
            problems.append(EnvProblem(match.start(), "'${' is not closed; write ${NAME} or ${NAME:-default} "
                                                      "(or $${ for a literal ${)"))
            out.append(match.group(0))
            continue
        parsed = _BODY.fullmatch(body)
        if parsed is None:
            problems.append(EnvProblem(match.start(), f"'${{{body}}}' is not an environment variable reference; "
                                                      "write ${NAME} or ${NAME:-default} (or $${ for a literal ${)"))
            out.append(match.group(0))
            continue
        used = True
        name, default = parsed.group("name"), parsed.group("default")
        value = env.get(name)
        if default is not None and not value:
            out.append(default)
        elif value is None:
            problems.append(EnvProblem(match.start(), f"environment variable {name} is not set "
                                                      f"(set it, or write ${{{name}:-default}})"))
        else:
            out.append(value)
    out.append(text[pos:])
    return "".join(out), problems, used
