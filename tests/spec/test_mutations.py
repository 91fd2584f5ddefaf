"""Random mutations of the good spec: the validator answers with located diagnostics, never an exception."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from engine.diagnostics import Diagnostic
from engine.spec.loader import load_file
from engine.spec.validate import validate_text

GOOD = Path(__file__).parent / "good" / "minimal.yaml"
GOOD_TEXT = GOOD.read_text(encoding="utf-8")
GOOD_DATA = load_file(GOOD).data

SETTINGS = settings(
    max_examples=int(os.environ.get("SPEC_MUTATION_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
junk_strings = st.sampled_from(
    [
        "",
        " ",
        "{{",
        "{{ payload.nope }}",
        "{% for %}",
        "http://",
        "type =",
        "$.",
        "@path",
        "null",
        "\t",
        "é",
        "🙂",
    ]
) | st.text(max_size=10)
keys = st.sampled_from(
    ["url", "use", "id", "request", "steps", "type", "<<", "x-extra", "json", "0"]
) | st.text(max_size=6)


def check(text: str) -> None:
    diags = validate_text(text, "m.yaml")
    assert isinstance(diags, list)
    for d in diags:
        assert isinstance(d, Diagnostic), d
        assert d.file == "m.yaml"
        assert d.line >= 1 and d.column >= 1, d
        assert isinstance(d.message, str) and d.message.strip(), d
        assert d.severity in ("error", "warning"), d


def dump(data: Any) -> str:
    buf = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(data, buf)
    return buf.getvalue()


def containers(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every mapping and list in the tree (the root included)."""
    out = []
    if isinstance(node, dict | list):
        out.append(path)
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            out.extend(containers(v, path + (k,)))
    return out


def at(node: Any, path: tuple) -> Any:
    for part in path:
        node = node[part]
    return node


def copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [copy(v) for v in node]
    return node


def other_type(value: Any, replacement: Any) -> Any:
    """`replacement`, unless it has the same type as `value`; then a value that surely differs in type."""
    if type(replacement) is not type(value):
        return replacement
    return [value] if not isinstance(value, list) else {"k": value}


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    data = copy(GOOD_DATA)
    for _ in range(draw(st.integers(1, 4))):
        parent_path = draw(st.sampled_from(containers(data)))
        parent = at(data, parent_path)
        op = draw(st.sampled_from(["delete", "retype", "insert", "rename", "duplicate", "junk", "int"]))
        if not parent:
            parent_is_dict = isinstance(parent, dict)
            if parent_is_dict:
                parent[draw(keys)] = draw(json_values)
            else:
                parent.append(draw(json_values))
            continue
        if isinstance(parent, dict):
            key = draw(st.sampled_from(list(parent)))
        else:
            key = draw(st.integers(0, len(parent) - 1))
        if op == "delete":
            del parent[key]
        elif op == "retype":
            parent[key] = other_type(parent[key], draw(json_values))
        elif op == "insert":
            if isinstance(parent, dict):
                parent[draw(keys)] = draw(json_values)
            else:
                parent.insert(key, draw(json_values))
        elif op == "rename" and isinstance(parent, dict):
            new = draw(keys | st.integers(-5, 600) | st.booleans() | st.none())
            parent[new] = parent.pop(key)
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy(parent[key]))
        elif op == "duplicate":
            parent[f"{key}_copy"] = copy(parent[key])
        elif op == "junk":
            parent[key] = draw(junk_strings)
        elif op == "int":
            value = parent[key]
            if isinstance(value, int) and not isinstance(value, bool):
                parent[key] = value + draw(st.sampled_from([-1000, -1, 1, 500, 10**20]))
            else:
                parent[key] = draw(st.integers(-(10**6), 10**6))
    return data


def test_the_unmutated_spec_is_valid():
    assert validate_text(GOOD_TEXT, "m.yaml") == []
    assert validate_text(dump(GOOD_DATA), "m.yaml") == []


@SETTINGS
@given(mutated())
def test_data_mutations_give_only_diagnostics(data):
    check(dump(data))


@st.composite
def edited_text(draw: st.DrawFn) -> str:
    text = GOOD_TEXT
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "tab", "truncate", "replace", "duplicate-line"]))
        char = draw(st.sampled_from(list("\t :-[]{}\"'&*!|>#%@`,?\n\\")) | st.characters())
        if op == "insert":
            text = text[:pos] + char + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)) :]
        elif op == "tab":
            line_start = text.rfind("\n", 0, pos) + 1
            text = text[:line_start] + "\t" + text[line_start:]
        elif op == "truncate":
            text = text[:pos]
        elif op == "replace":
            text = text[:pos] + char + text[pos + 1 :]
        else:
            line_start = text.rfind("\n", 0, pos) + 1
            line_end = text.find("\n", pos)
            line_end = len(text) if line_end < 0 else line_end + 1
            text = text[:line_end] + text[line_start:line_end] + text[line_end:]
    return text


@SETTINGS
@given(edited_text())
def test_text_edits_give_only_diagnostics(text):
    check(text)
