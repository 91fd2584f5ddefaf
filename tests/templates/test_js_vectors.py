"""The JS helpers and regex filters against what node itself gives (tests/templates/vectors_js.jsonl, recorded by
tools/record_js_vectors.mjs with node 20 / ICU 78 and TZ=UTC): `new Date(x)`, `String(x)`, `!!x`, the en-US short
name of every zone at two moments, and JavaScript's replace / split / match / test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.jsvalues import UNDEFINED
from engine.templates import compile_template, make_context, regex
from engine.templates import jshelpers as js

VECTORS = [json.loads(line) for line in (Path(__file__).parent / "vectors_js.jsonl").read_text().splitlines()]


def of(kind: str) -> list[dict[str, Any]]:
    return [v for v in VECTORS if v["kind"] == kind]


def value(raw: Any) -> Any:
    return UNDEFINED if raw == {"$undefined": True} else raw


# (zone, moment): where ICU and Babel's CLDR data differ; see jshelpers.short_zone_name
ZONE_DIFFERENCES = {
    ("Atlantic/Azores", "2024-07-15T12:00:00.000Z"),  # ICU "GMT+0", here "GMT"
    ("Atlantic/Canary", "2024-01-15T12:00:00.000Z"),
    ("Atlantic/Faeroe", "2024-01-15T12:00:00.000Z"),
    ("Atlantic/Madeira", "2024-01-15T12:00:00.000Z"),
    ("Europe/Lisbon", "2024-01-15T12:00:00.000Z"),
    ("EST5EDT", "2024-01-15T12:00:00.000Z"),  # ICU "EST": Babel does not know the legacy POSIX name; "GMT-5"
    ("EST5EDT", "2024-07-15T12:00:00.000Z"),
}


def test_the_vectors_cover_each_kind() -> None:
    counts = {kind: len(of(kind)) for kind in ("date", "date_value", "string", "truthy", "zone", "regex")}
    assert counts["date"] > 1000 and counts["zone"] > 800 and min(counts.values()) >= 15


@pytest.mark.parametrize("vector", of("date"), ids=lambda v: repr(v["input"])[:60])
def test_date_parse_agrees_with_v8(vector: dict[str, Any]) -> None:
    assert js.parse_date_ms(vector["input"]) == vector["output"]


@pytest.mark.parametrize("vector", of("date_value"), ids=lambda v: repr(v["input"]))
def test_date_of_other_values_agrees_with_v8(vector: dict[str, Any]) -> None:
    expected = vector["output"]
    assert js.js_date_ms(value(vector["input"])) == (UNDEFINED if expected is None else expected)


@pytest.mark.parametrize("vector", of("string"), ids=lambda v: repr(v["input"]))
def test_js_string_agrees(vector: dict[str, Any]) -> None:
    assert js.js_string_filter(value(vector["input"])) == vector["output"]


@pytest.mark.parametrize("vector", of("truthy"), ids=lambda v: repr(v["input"]))
def test_truthy_agrees(vector: dict[str, Any]) -> None:
    assert js.truthy_test(value(vector["input"])) is vector["output"]


def test_zone_short_names_agree_with_icu() -> None:
    wrong = []
    for vector in of("zone"):
        key = (vector["input"], vector["at"])
        got = js.tz_short_name(vector["input"], vector["at"])
        if (got == vector["output"]) == (key in ZONE_DIFFERENCES):
            wrong.append((*key, vector["output"], got))
    assert wrong == []


def test_zone_names_are_case_insensitive_like_icu() -> None:
    for vector in of("zone"):
        assert vector["lower_ok"] is True
        assert js.zone_name(vector["input"].lower()) is not None, vector["input"]
        assert js.tz_short_name(vector["input"].upper(), vector["at"]) == js.tz_short_name(vector["input"], vector["at"])


def render(text: str, **payload: Any) -> Any:
    return compile_template(text)(make_context(payload, {}))


@pytest.mark.parametrize("vector", of("regex"), ids=lambda v: v["pattern"])
def test_regex_filters_agree_with_javascript(vector: dict[str, Any]) -> None:
    text, pattern, replacement = vector["text"], vector["pattern"], vector["replacement"]
    assert regex.regex_replace(text, pattern, replacement) == vector["replace"]
    assert regex.regex_replace(text, pattern, replacement, 1) == vector["replace_first"]
    assert regex.regex_split(text, pattern) == vector["split"]
    assert regex.regex_split(text, pattern, 2) == vector["split_2"]
    assert regex.regex_match(text, pattern) == vector["match"]
    assert regex.regex_findall(text, pattern) == vector["findall"]
    assert regex.search_test(text, pattern) is vector["test"]
    assert regex.match_test(text, pattern) is vector["full"]
    # and through a template, with the pattern from the event
    got = render("{{ payload.t | regex_replace(payload.p, payload.r) }}", t=text, p=pattern, r=replacement)
    assert got == vector["replace"]
