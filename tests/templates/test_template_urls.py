"""URL templates: hosts only from the spec or settings; path and query values encoded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.templates import TemplateCompileError, check_url, compile_url, make_context

CTX = make_context(
    {"userId": "a/b c", "q": "x=1&y=2", "region": "eu", "n": 5, "flag": True, "missing_ok": None},
    {"sub": "acme", "endpoint": "https://api.test/", "region": "eu", "account": "a b"},
    {"lookup": {"json": {"id": "7?"}}},
)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(
    "template, expected",
    [
        ("https://{{ settings.sub }}.user.com/api/public/users-by-id/{{ payload.userId }}/", "https://acme.user.com/api/public/users-by-id/a%2Fb%20c/"),
        ("{{ settings.endpoint }}v1/identify", "https://api.test/v1/identify"),
        ("https://x.test/search?q={{ payload.q }}&n={{ payload.n }}", "https://x.test/search?q=x%3D1%26y%3D2&n=5"),
        ("https://x.test/acct/{{ settings.account }}/{{ steps.lookup.json.id }}", "https://x.test/acct/a%20b/7%3F"),
        ("https://x.test/{{ payload.flag }}/{{ payload.nothing }}/{{ payload.missing_ok }}", "https://x.test/true//null"),
        ("https://x.test/{{ payload.userId | urlencode }}", "https://x.test/a%2Fb%20c"),
        ("https://x.test/{{ payload.userId | upper }}", "https://x.test/A%2FB%20C"),
        ("https://{{ settings.region }}.x.test{{ '/v' ~ 2 }}/u/{{ payload.userId }}", "https://eu.x.test/v2/u/a%2Fb%20c"),
        (
            "{% if settings.region == 'eu' %}https://eu.x.test{% else %}https://x.test{% endif %}/u/{{ payload.userId }}",
            "https://eu.x.test/u/a%2Fb%20c",
        ),
        ("https://x.test/u{% if payload.flag %}/{{ payload.userId }}{% endif %}", "https://x.test/u/a%2Fb%20c"),
        ("https://x.test/items", "https://x.test/items"),
    ],
)
def test_render(template: str, expected: str, fast: bool) -> None:
    assert check_url(template) == []
    assert compile_url(template, fast=fast)(CTX) == expected


@pytest.mark.parametrize(
    "template, read",
    [
        ("https://{{ payload.region }}.x.test/", "payload.region"),
        ("https://api.test:{{ payload.n }}/", "payload.n"),
        ("{{ payload.base }}/v1", "payload.base"),
        ("{{ steps.lookup.json.next }}", "steps.lookup.json.next"),
        ("{{ settings.endpoint }}{{ payload.userId }}", "payload.userId"),
        ("https://x{{ payload['tld'] }}/", "payload.tld"),
        ("{% if payload.flag %}https://a.test{% endif %}/v1", "payload.flag"),
        ("{% set h = payload.region %}https://{{ h }}.x.test/", "payload.region"),
        ("https://{{ settings.hosts[payload.n] }}/", "payload.n"),
    ],
)
def test_host_from_event_is_refused(template: str, read: str) -> None:
    message = f"the URL's host depends on {read}; hosts may come only from the spec or its settings"
    assert check_url(template)[0] == message
    with pytest.raises(TemplateCompileError) as info:
        compile_url(template)
    assert info.value.message == message


def test_every_problem_is_reported() -> None:
    assert check_url("{{ payload.scheme }}://{{ h }}.x.test/{{ payload.ok }}") == [
        "the URL's host depends on payload.scheme; hosts may come only from the spec or its settings",
        "the URL's host depends on h; hosts may come only from the spec or its settings",
    ]
    assert check_url("https://{{ loop_var }}.x.test/") == [
        "the URL's host depends on loop_var; hosts may come only from the spec or its settings"
    ]


def test_check_url_reports_syntax_errors() -> None:
    assert check_url("https://x.test/{{ payload.id }") == ["template syntax error: unexpected '}'"]
    assert check_url("https://plain.test/") == []


@settings(max_examples=100, deadline=None)
@given(value=st.text(max_size=20))
def test_encoded_path_value_round_trips_and_stays_in_one_segment(value: str) -> None:
    from urllib.parse import unquote

    for fast in (True, False):
        url = compile_url("https://x.test/u/{{ payload.v }}/end?k={{ payload.v }}", fast=fast)(make_context({"v": value}))
        assert url.startswith("https://x.test/u/")
        segment = url[len("https://x.test/u/") :].split("/")[0]
        assert unquote(segment) == value
        assert url.count("?") == 1 and "#" not in url and url.count("&") == 0
