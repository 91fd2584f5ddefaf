"""Each filter and test, through templates (so registration is covered) and directly for edge cases."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.jsvalues import UNDEFINED
from engine.templates import TemplateRenderError, compile_template, make_context
from engine.templates import filters as f

NOW = dt.datetime(2024, 1, 15, 8, 0, tzinfo=dt.UTC)
CTX = make_context(
    {"a": {"x": 1, "y": 2}, "b": {"y": 3, "z": None}, "s": "a/b c=d&e", "n": None, "t": "2024-01-15T08:00:00Z"},
    {"key": "user:pass"},
    now=NOW,
)


def render(text: str):
    return compile_template(text)(CTX)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{ payload.a | merge(payload.b) }}", {"x": 1, "y": 3, "z": None}),
        ("{{ payload.a | merge(payload.missing, payload.n, {'x': 0}) }}", {"x": 0, "y": 2}),
        ("{{ payload.missing | merge(payload.b) }}", {"y": 3, "z": None}),
        ("{{ payload.a | omit('x') }}", {"y": 2}),
        ("{{ payload.a | omit('x', 'y', 'q') }}", {}),
        ("{{ payload.a | pick('y', 'q', 'x') }}", {"y": 2, "x": 1}),
        ("{{ payload.b | compact }}", {"y": 3}),
        ("{{ {'e': '', 'u': payload.missing, 'z': 0, 'f': false} | compact }}", {"z": 0, "f": False}),
        ("{{ {'e': '', 'n': none} | compact(empty_strings=false) }}", {"e": ""}),
        ("{{ ['', none, 0, 'x'] | compact }}", [0, "x"]),
        ("{{ 'https://API.Example.com:8443/v1?q=1' | url_host }}", "api.example.com:8443"),
        ("{{ 'https://API.Example.com:443/v1' | url_host }}", "api.example.com"),
        ("{{ 'https://bücher.example/x' | url_host }}", "xn--bcher-kva.example"),
        ("{{ 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15' | user_agent }}",
         {"browser_family": "Safari", "browser_version": "17.0", "os_family": "Mac OS X", "os_version": "10.15.7",
          "device_family": "Mac"}),
        ("{{ '' | user_agent }}", UNDEFINED),
        ("{{ 'not a url' | url_host }}", UNDEFINED),
        ("{{ payload.s | urlencode }}", "a%2Fb%20c%3Dd%26e"),
        ("{{ {'q': 'a b', 'skip': payload.missing, 'n': 1} | urlencode }}", "q=a%20b&n=1"),
        ("{{ settings.key | b64encode }}", "dXNlcjpwYXNz"),
        ("{{ 'ü?>' | b64encode(urlsafe=true) }}", "w7w_Pg=="),
        ("{{ 'dXNlcjpwYXNz' | b64decode }}", "user:pass"),
        ("{{ 'w7w_Pg' | b64decode }}", "ü?>"),
        ("{{ '@@@' | b64decode }}", UNDEFINED),
        ("{{ payload.b | tojson }}", '{"y":3,"z":null}'),
        ("{{ {'u': payload.missing, 'l': [payload.missing, 1.0]} | tojson }}", '{"l":[null,1.0]}'),
        ("{{ payload.missing | tojson }}", UNDEFINED),
        ("{{ payload.t | unix_seconds }}", 1705305600),
        ("{{ now | unix_seconds }}", 1705305600),
        ("{{ 1705305600.9 | unix_seconds }}", 1705305600),
        ("{{ '2024-01-15T09:00:00+01:00' | unix_seconds }}", 1705305600),
        ("{{ 'yesterday' | unix_seconds }}", UNDEFINED),
        ("{{ now | iso8601 }}", "2024-01-15T08:00:00.000Z"),
        ("{{ '2024-01-15T09:00:00.5+01:00' | iso8601 }}", "2024-01-15T08:00:00.500Z"),
        ("{{ 0 | iso8601 }}", "1970-01-01T00:00:00.000Z"),
        ("{{ 'x' | iso8601 }}", UNDEFINED),
        ("{{ 'Europe/Paris' | tz_offset(now) }}", 60),
        ("{{ 'America/New_York' | tz_offset('2024-07-01T00:00:00Z') }}", -240),
        ("{{ 'Asia/Kolkata' | tz_offset(now) }}", 330),
        ("{{ 'Mars/Olympus' | tz_offset }}", UNDEFINED),
        ("{{ 'userId' | snake_case }}", "user_id"),
        ("{{ 'HTTPServer error 2' | snake_case }}", "http_server_error_2"),
        ("{{ '--Foo-Bar--' | snake_case }}", "foo_bar"),
        ("{{ 'https://x.test/a' is absolute_url }}", True),
        ("{{ 'ftp://x.test/a' is absolute_url }}", False),
        ("{{ '/relative' is absolute_url }}", False),
        ("{{ 'https://' is absolute_url }}", False),
        ("{{ payload.missing is undefined }}", True),
        ("{{ payload.n is defined }}", True),
        ("{{ payload.missing | default('d') }}", "d"),
    ],
)
def test_filter_through_template(text: str, expected: object) -> None:
    result = render(text)
    assert result == expected
    assert type(result) is type(expected)


def test_random_digits_and_uuid4() -> None:
    digits = render("{{ 6 | random_digits }}")
    assert re.fullmatch(r"[0-9]{6}", digits)
    assert re.fullmatch(r"[0-9]{3}", render("{{ random_digits(3) }}"))
    assert render("{{ 0 | random_digits }}") == ""
    uuid_re = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    assert re.fullmatch(uuid_re, render("{{ uuid4() }}"))
    assert re.fullmatch(uuid_re, render("{{ none | uuid4 }}"))
    assert render("{{ uuid4() }}") != render("{{ uuid4() }}")


def test_random_digits_rejects_bad_counts() -> None:
    with pytest.raises(TemplateRenderError) as info:
        render("{{ 5000 | random_digits }}")
    assert info.value.message == "random_digits needs a whole number from 0 to 1000, got '5000'"


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{ payload.a | merge('x') }}", "merge needs an object, got a string"),
        ("{{ [1] | omit('x') }}", "omit needs an object, got an array"),
        ("{{ 3 | compact }}", "compact needs an object or an array, got a number"),
    ],
)
def test_filter_type_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateRenderError) as info:
        render(text)
    assert info.value.message == message


def test_nothing_passes_through_object_filters() -> None:
    assert f.omit(None, "a") is None
    assert f.pick(UNDEFINED, "a") is UNDEFINED
    assert f.compact(None) is None


def test_tz_offset_defaults_to_now() -> None:
    assert f.tz_offset("UTC") == 0
    assert f.tz_offset("Etc/GMT-3") == 180


def test_system_has_time_zone_database() -> None:
    assert "Europe/Paris" in zoneinfo.available_timezones()


def test_url_host_invalid_port_is_undefined() -> None:
    assert f.url_host("https://x.test:99999/") is UNDEFINED
    assert f.url_host(5) is UNDEFINED
    assert f.is_absolute_url(" https://x.test") is False


# plain http(s) URLs (the fast path) are drawn as often as odd ones, so both sides of every check get reached
_URL_SCHEMES = st.one_of(
    st.sampled_from(["http", "https", "HTTP", "hTtPs"]),
    st.sampled_from(["httpx", "ftp", "ws", "", " http", "h\ttp"]),
)
_URL_SEPARATORS = st.one_of(st.just("://"), st.sampled_from([":/", ":", "//", ":///", "://\t", "://user@", "://u:p@"]))
_HOST_TEXT = st.one_of(
    st.text(alphabet="aZ09.-_", max_size=12),
    st.text(alphabet="aZ09.-_%@[]:ü\t\n /?#Ａ١", max_size=12),
)
_PORTS = st.one_of(
    st.none(),
    st.sampled_from(["80", "443"]),
    st.integers(0, 70000).map(str),
    st.sampled_from(["", "80", "443", "080", "0443", "65535", "65536", "00000080", "99999", "١", "+1", " 1", "1 "]),
)
_TAILS = st.one_of(st.sampled_from(["", "/", "?q", "#f"]), st.text(alphabet="/?#a1 \t\n:@%", max_size=8))


@st.composite
def _urls(draw: st.DrawFn) -> str:
    port = draw(_PORTS)
    url = draw(_URL_SCHEMES) + draw(_URL_SEPARATORS) + draw(_HOST_TEXT) + ("" if port is None else ":" + port)
    return url + draw(_TAILS)


@settings(max_examples=1000, deadline=None)
@given(value=st.one_of(_urls(), _urls(), _urls(), st.text(max_size=30), st.integers(), st.none()))
def test_url_host_fast_path_gives_what_urlsplit_gives(value: object) -> None:
    fast, general = f.url_host(value), f._url_host_general(value)
    assert fast is general if general is UNDEFINED else fast == general


@pytest.mark.parametrize(
    "url",
    [
        "https://Example.COM",
        "http://a.test:80/x",
        "https://a.test:80/x",
        "http://a.test:0443?q",
        "https://a.test:65536/",
        "https://a.test:/",
        "https://a.test:99999#f",
        "https://a.test /",
        "https://user@a.test/",
        "http://a_b.test#",
        "HTTPS://A.TEST:8443",
        "https://a.test\n",
    ],
)
def test_url_host_fast_path_edges(url: str) -> None:
    fast, general = f.url_host(url), f._url_host_general(url)
    assert fast is general if general is UNDEFINED else fast == general
    assert f._PLAIN_HTTP_URL.match(url) is not None or url in ("https://a.test:/", "https://a.test /",
                                                                  "https://user@a.test/", "https://a.test\n")


def test_unix_seconds_of_naive_datetime_is_utc() -> None:
    assert f.unix_seconds(dt.datetime(1970, 1, 2)) == 86400
    assert f.unix_seconds(float("inf")) is UNDEFINED
    assert f.unix_seconds(True) is UNDEFINED


def test_tojson_refuses_unserializable() -> None:
    with pytest.raises(TemplateRenderError) as info:
        f.tojson({"x": object()})
    assert info.value.message == "tojson failed: Type is not JSON serializable: object"


def test_text_of_unserializable_container_falls_back_to_js_string() -> None:
    ctx = make_context({"o": {"x": object()}, "l": [1, None, "a"]})
    assert compile_template("o={{ payload.o }}")(ctx) == "o=[object Object]"
    assert compile_template("o={{ payload.o }}", fast=False)(ctx) == "o=[object Object]"


def test_fail_refuses_the_event_with_the_specs_own_message() -> None:
    from engine.templates import EventRejected, compile_value

    render = compile_value({"host": "{{ (payload.url | url_host) or fail('Invalid URL: ' ~ payload.url) }}"})
    assert render({"payload": {"url": "https://a.example:8080/x"}}) == {"host": "a.example:8080"}
    with pytest.raises(EventRejected) as info:
        render({"payload": {"url": "not a url"}})
    assert info.value.message == "Invalid URL: not a url"


@pytest.mark.parametrize("text", ["{{ 10 | random_digits }}", "{{ random_digits(10) }}", "{{ 0 | uuid4 }}",
                                  "{{ uuid4() }}", "{{ {'id': 10 | random_digits} }}", "x-{{ 10 | random_digits }}"])
def test_random_values_are_drawn_per_render_not_folded_at_compile_time(text: str) -> None:
    from engine.templates import compile_value

    render = compile_value(text)
    values = {str(render({"payload": {}})) for _ in range(5)}
    assert len(values) == 5


@settings(max_examples=200, deadline=None)
@given(obj=st.dictionaries(st.one_of(st.text(max_size=2), st.integers(-2, 2), st.booleans()), st.integers(), max_size=6),
       keys=st.lists(st.one_of(st.text(max_size=2), st.integers(-2, 2), st.booleans(), st.floats(0, 1)), max_size=5))
def test_omit_of_a_plain_dict_is_the_comprehension(obj: dict, keys: list) -> None:
    """`omit` copies a plain dict and deletes the keys: the same keys, values and order as the general
    comprehension (keys compare as in a set: 1, 1.0 and True are one key)."""
    drop = set(keys)
    expected = {k: v for k, v in obj.items() if k not in drop}
    got = f.omit(obj, *keys)
    assert list(got.items()) == list(expected.items())
    assert got is not obj


def test_omit_refuses_an_unhashable_key_alike() -> None:
    for obj in ({}, {"a": 1}):
        with pytest.raises(TypeError, match="unhashable type: 'list'"):
            f.omit(obj, "a", [])


def test_random_digits_keep_leading_zeros_and_cover_every_value(monkeypatch) -> None:
    """One draw below 10**n, zero-padded: the smallest and largest draws give all zeros and all nines, and over real
    draws every two-digit string turns up (a missed value in 3,000 draws has odds of about 1 in 10**11)."""
    from engine.templates import filters

    assert {filters.random_digits(2) for _ in range(3000)} == {f"{i:02d}" for i in range(100)}
    assert len(filters.random_digits(1000)) == 1000
    monkeypatch.setattr(filters.secrets, "randbelow", lambda n: 0)
    assert filters.random_digits(10) == "0" * 10
    monkeypatch.setattr(filters.secrets, "randbelow", lambda n: n - 1)
    assert filters.random_digits(7) == "9" * 7
    monkeypatch.setattr(filters.secrets, "randbelow", lambda n: 42)
    assert filters.random_digits(5) == "00042"


def test_unknown_zones_are_looked_up_once_and_remembered_within_bounds(monkeypatch) -> None:
    """An unknown zone name (from the event) costs a disk search in zoneinfo; it is remembered (bounded), so the
    next event with it does not search again; known zones still work and the set never grows past its bound."""
    import zoneinfo

    from engine.templates import filters

    monkeypatch.setattr(filters, "_UNKNOWN_ZONES", set())
    looked: list[str] = []
    real = zoneinfo.ZoneInfo

    def counting(name: str) -> zoneinfo.ZoneInfo:
        looked.append(name)
        return real(name)

    monkeypatch.setattr(filters.zoneinfo, "ZoneInfo", counting)
    assert filters.tz_offset("Mars/Base") is UNDEFINED and filters.tz_offset("Mars/Base") is UNDEFINED
    assert looked == ["Mars/Base"]
    assert filters.tz_offset("UTC", "2024-07-01T00:00:00Z") == 0
    assert filters.tz_offset("Europe/Paris", "2024-07-01T00:00:00Z") == 120
    for i in range(filters._UNKNOWN_ZONES_KEPT + 10):
        filters.tz_offset(f"Nowhere/Zone{i}")
    assert len(filters._UNKNOWN_ZONES) <= filters._UNKNOWN_ZONES_KEPT


def test_hmac_signs_the_text_as_node_crypto_does() -> None:
    # Node: crypto.createHmac('sha1', 'shh').update(JSON.stringify({a: 'ü', b: [1, 2.5]}), 'utf8').digest('hex')
    template = compile_template("{{ payload.d | tojson | hmac(settings.k, 'sha1') }}")
    assert template(make_context({"d": {"a": "ü", "b": [1, 2.5]}}, {"k": "shh"})) == \
        "3a8505a3da48967efe43900c7dcb9c72bd61a440"
    assert render("{{ 'hello' | hmac('k') }}") == f.hmac("hello", "k", "sha256") != f.hmac("hello", "k", "sha512")


@pytest.mark.parametrize("key", ["", None, UNDEFINED])
def test_hmac_without_a_key_or_text_is_undefined(key: object) -> None:
    assert f.hmac("text", key, "sha1") is UNDEFINED
    assert f.hmac(UNDEFINED, "k", "sha1") is UNDEFINED


def test_hmac_unknown_digest_is_a_render_error() -> None:
    with pytest.raises(TemplateRenderError, match="unknown digest 'md5'"):
        render("{{ 'x' | hmac('k', 'md5') }}")
