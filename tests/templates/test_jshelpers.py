"""The JavaScript helpers through templates: truthiness, `||`, `String()`, `new Date()`, zone names (node's own
answers for many inputs are in test_js_vectors.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine.jsvalues import UNDEFINED
from engine.templates import compile_template, compile_value, make_context

NOW = dt.datetime(2024, 1, 15, 8, 0, tzinfo=dt.UTC)


def render(text: str, **payload: Any) -> Any:
    return compile_template(text)(make_context(payload, {}, now=NOW))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{ payload.o is truthy }}", True),
        ("{{ payload.l is truthy }}", True),
        ("{{ payload.z is truthy }}", False),
        ("{{ payload.missing is truthy }}", False),
        ("{{ 'yes' if payload.o is truthy else 'no' }}", "yes"),
        ("{{ 'yes' if payload.o else 'no' }}", "no"),  # Jinja's own truthiness: Python's
        ("{{ payload.o | js_or('x') }}", {}),
        ("{{ payload.missing | js_or(payload.z, '', payload.l) }}", []),
        ("{{ payload.missing | js_or(payload.z) }}", 0),  # no truthy value: the last
        ("{{ payload.missing | js_string }}", "undefined"),
        ("{{ none | js_string }}", "null"),
        ("{{ 10.0 | js_string }}", "10"),
        ("{{ payload.o | js_string }}", "[object Object]"),
        ("{{ [payload.missing, 1, [true]] | js_string }}", ",1,true"),
        ("{{ now | js_string }}", "Mon Jan 15 2024 08:00:00 GMT+0000 (Coordinated Universal Time)"),
    ],
)
def test_truthiness_and_string(text: str, expected: Any) -> None:
    assert render(text, o={}, l=[], z=0) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-02-30", "2024-03-01T00:00:00.000Z"),
        ("2023-02-29T10:00:00Z", "2023-03-01T10:00:00.000Z"),
        ("Mon, 15 Jan 2024 10:00:00 +0100", "2024-01-15T09:00:00.000Z"),
        ("Jan 15 2024 10:00 PM EST", "2024-01-16T03:00:00.000Z"),
        ("2024-01-15 10:00", "2024-01-15T10:00:00.000Z"),  # no offset: UTC (the engine has no local zone)
        ("Mon Jan 15 2024 08:00:00 GMT+0000 (Coordinated Universal Time)", "2024-01-15T08:00:00.000Z"),
        (1705312800123, "2024-01-15T10:00:00.123Z"),
        (None, "1970-01-01T00:00:00.000Z"),
    ],
)
def test_js_date(value: Any, expected: str) -> None:
    assert render("{{ payload.v | js_date | iso8601 }}", v=value) == expected
    assert render("{{ payload.v | js_date }}", v=value) == dt.datetime.fromisoformat(expected)


@pytest.mark.parametrize("value", ["2024-02-32", "not a date", "2024-01-15T25:00", {"a": 1}, "1" * 2000])
def test_an_invalid_date_is_undefined(value: Any) -> None:
    assert render("{{ payload.v | js_date }}", v=value) is UNDEFINED
    assert render("{{ payload.v | js_date_ms }}", v=value) is UNDEFINED
    assert compile_value({"at": "{{ payload.v | js_date }}"})(make_context({"v": value}, {})) == {}


def test_dates_python_cannot_hold_are_undefined_but_have_a_number() -> None:
    assert render("{{ payload.v | js_date }}", v="+200000-01-01T00:00:00Z") is UNDEFINED
    assert render("{{ payload.v | js_date_ms }}", v="+200000-01-01T00:00:00Z") == 6249223180800000  # node: new Date(...).getTime()
    assert render("{{ payload.v | js_date_ms }}", v=8.64e15 + 1) is UNDEFINED
    assert render("{{ payload.missing | js_date_ms }}") is UNDEFINED


def test_a_js_date_feeds_the_other_time_filters() -> None:
    assert render("{{ payload.v | js_date | unix_seconds }}", v="Mon, 15 Jan 2024 10:00:00 GMT") == 1705312800


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{ 'america/new_york' | tz_name }}", "America/New_York"),
        ("{{ ' UTC ' | tz_name }}", "UTC"),
        ("{{ 'Mars/Olympus' | tz_name }}", UNDEFINED),
        ("{{ payload.missing | tz_name }}", UNDEFINED),
        ("{{ 'AMERICA/NEW_YORK' | tz_short_name('2024-01-15') }}", "EST"),
        ("{{ 'America/New_York' | tz_short_name('2024-07-04T12:00:00Z') }}", "EDT"),
        ("{{ 'America/New_York' | tz_short_name }}", "EST"),  # at the render's now (January)
        ("{{ 'Europe/Paris' | tz_short_name('2024-01-15') }}", "GMT+1"),
        ("{{ 'asia/kolkata' | tz_short_name('2024-01-15') }}", "GMT+5:30"),
        ("{{ 'Europe/London' | tz_short_name('2024-01-15') }}", "GMT"),
        ("{{ 'Etc/UTC' | tz_short_name('2024-01-15') }}", "UTC"),
        ("{{ 'Mars/Olympus' | tz_short_name('2024-01-15') }}", UNDEFINED),
        ("{{ 'UTC' | tz_short_name('not a date') }}", UNDEFINED),
        ("{{ 'asia/KOLKATA' | tz_offset('2024-01-15T00:00:00Z') }}", 330),
    ],
)
def test_zones(text: str, expected: Any) -> None:
    assert render(text) == expected


def test_tz_short_name_without_a_moment_reads_the_renders_now() -> None:
    renderer = compile_template("{{ 'America/New_York' | tz_short_name }}")
    assert renderer(make_context({}, {}, now=dt.datetime(2024, 7, 4, tzinfo=dt.UTC))) == "EDT"
    assert renderer(make_context({}, {}, now=NOW)) == "EST"
    assert compile_template("{{ 'x' ~ ('America/New_York' | tz_short_name) }}")(make_context({}, {}, now=NOW)) == "xEST"
