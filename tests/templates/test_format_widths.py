"""Digits in a string are text: only the widths of format strings are bounded (issue 13 item 3).

Method calls on strings that hold phone numbers, ids or Unix timestamps render, on the generated
(`fastexpr`) path and on Jinja's alike; the bound on `%` and `str.format` widths still holds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.templates import TemplateRenderError, compile_template, make_context

PAYLOAD = {
    "phone": "+4915112345678",
    "id": "order 12345678",
    "ts": "1700000000",
    "ms": "1700000000123",
}


def both(text: str, payload: dict[str, object]) -> list[object]:
    ctx = make_context(payload, {})
    return [compile_template(text)(ctx), compile_template(text, fast=False)(ctx)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{ '1700000000'.isdigit() }}", True),
        ("{{ payload.phone.startswith('+') }}", True),
        ("{{ 'order 12345678'.upper() }}", "ORDER 12345678"),
        ("{{ payload.id.upper() }}", "ORDER 12345678"),
        ("{{ payload.ts.isdigit() and payload.ms.isdigit() }}", True),
        ("{{ payload.phone.replace('+49', '0') }}", "015112345678"),
        ("{{ payload.phone[1:].lstrip('49') }}", "15112345678"),
        ("{{ payload.ms.split('0') | length }}", 9),
        ("{{ payload.ts.zfill(12) }}", "001700000000"),
        ("{{ 'id %s 12345678' % payload.ts }}", "id 1700000000 12345678"),
        ("{{ '{} at 1700000000'.format(payload.phone) }}", "+4915112345678 at 1700000000"),
        ("{{ 'x 99999999 %s' | format(payload.ts) }}", "x 99999999 1700000000"),
        ("{{ '%10s|' % payload.ts }}", "1700000000|"),
    ],
)
def test_strings_with_many_digits_take_method_calls(text: str, expected: object) -> None:
    assert both(text, PAYLOAD) == [expected, expected]


@given(st.from_regex(r"\+?[0-9]{7,20}", fullmatch=True))
def test_any_phone_number_or_id(number: str) -> None:
    assert both("{{ payload.n.startswith('+') ~ '|' ~ payload.n.strip('+').isdigit() ~ '|' ~ payload.n.upper() }}",
                {"n": number}) == [f"{str(number.startswith('+')).lower()}|true|{number}"] * 2


@pytest.mark.parametrize(
    "text",
    [
        "{{ '%999999999d' % 1 }}",
        "{{ '%.99999999f' % 1 }}",
        "{{ '%(a)99999999s' % {'a': 1} }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ '{0:>999999999}'.format_map({}) }}",
        "{{ '{:{}}'.format(1, 2) ~ '{:>{}}'.format(1, 3) ~ '{:>99999999}'.format(1) }}",
        "{{ '%99999999s' | format('x') }}",
    ],
)
def test_format_widths_are_still_bounded(text: str) -> None:
    for fast in (True, False):
        with pytest.raises(TemplateRenderError) as info:
            compile_template(text, fast=fast)(make_context({}, {}))
        assert info.value.message == "format widths may be at most 1000000"
