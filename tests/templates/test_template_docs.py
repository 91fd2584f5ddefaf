"""The examples in docs/templates.md's filter table produce what the table says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.templates import compile_template, make_context, to_text
from engine.templates.filters import FILTERS

DOC = Path(__file__).resolve().parents[2] / "docs" / "templates.md"
ROW = re.compile(r"^\| `(\w+)[^`]*` \|.*\| `(\{\{.*\}\})` → `(.*)` \|$")


def examples() -> list[tuple[str, str, str]]:
    rows = []
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            rows.append((match.group(1), match.group(2).replace("\\|", "|"), match.group(3)))
    return rows


def test_every_filter_is_documented_with_an_example() -> None:
    assert sorted(name for name, _, _ in examples()) == sorted(FILTERS)


@pytest.mark.parametrize("name, template, expected", [row for row in examples() if not row[2].startswith('"')])
def test_documented_example(name: str, template: str, expected: str) -> None:
    value = compile_template(template)(make_context({}, {}))
    if expected[:1] in "{[" and not isinstance(value, str):
        assert value == json.loads(expected)
    else:
        assert to_text(value) == expected
