"""Hypothesis strategies for Segment events: realistic values mixed with hostile ones.

    from hypothesis import given
    from engine.fuzz import segment_events

    @given(segment_events())
    def test_my_spec_never_crashes(event): ...

`segment_events()` draws every call type (track, identify, page, screen, group, alias) and, now and
then, an event without a type or with a wrong one. Fields may be missing, null or of the wrong type
(numbers, big integers, booleans, arrays, objects where a string is expected; strings or arrays where an
object is expected); text includes the astral plane, right-to-left scripts, control characters and huge
strings; objects nest deeply; floats are finite (JSON has no NaN); timestamps and URLs are valid and odd;
the `integrations` object is sometimes present (All, the destination's name, wrong types).
Every value is JSON-compatible, as events are after parsing.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = [
    "CALL_TYPES",
    "hostile_text",
    "ids",
    "json_values",
    "segment_events",
    "timestamps",
    "urls",
]

CALL_TYPES = ("track", "identify", "page", "screen", "group", "alias")

SAMPLES = [
    "user-1", "anon-1", "Ada Lovelace", "ada@example.com", "pro", "", " ", "null", "undefined", "0",
    "usér/1 ü", "משתמש 😀", "مرحبا بالعالم", "\u202eevil\u202c", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "👩‍👩‍👧‍👦", "\U0010ffff",
    "a\x00b", "tab\tnew\nline", "{{ settings.apiKey }}", "${jndi:x}", "../../etc/passwd", "%2e%2e%2f", "?&=#",
    "<script>alert(1)</script>", "' OR 1=1 --", "\\", "\"", "Ω" * 300,
]


def hostile_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Realistic and hostile text: samples, any Unicode (astral plane included), and huge strings."""
    return st.one_of(
        st.sampled_from(SAMPLES),
        st.text(max_size=max_size),
        st.text(alphabet=st.characters(min_codepoint=0x10000), max_size=8),       # astral plane
        st.text(alphabet=st.characters(min_codepoint=0x590, max_codepoint=0x6FF), max_size=12),  # Hebrew, Arabic
        st.integers(10_000, 300_000).map(lambda n: "x" * n),                          # huge
    )


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.booleans(), st.integers(-(2**31), 2**31),
        st.integers(-(2**80), 2**80),                                   # beyond 2**53 and 2**64
        st.floats(allow_nan=False, allow_infinity=False), hostile_text(),
    )


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value (NaN-free), nested."""
    return st.recursive(
        _scalars(),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text(12), children, max_size=4),
        max_leaves=max_leaves,
    )


def _deep(depth: int, leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = {"n": value} if i % 3 else [value]
    return value


deep_values = st.builds(_deep, st.integers(20, 120), st.sampled_from([1, "x", None, {}]))


def _maybe_wrong(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly `good`, sometimes null or a value of another type."""
    return st.one_of(good, good, good, good, good, good, st.none(), st.booleans(), st.integers(), st.lists(st.integers(), max_size=2),
                     st.dictionaries(st.sampled_from(["a", "id"]), st.integers(), max_size=2))


def ids() -> st.SearchStrategy[Any]:
    """User, anonymous and group ids: realistic strings, hostile text, and wrong types."""
    realistic = st.sampled_from(["user-1", "user-2", "anon-1", "grp-1", "5f3b2c1a-0d4e-4f6a-9b8c-7d6e5f4a3b2c"])
    return st.one_of(
        realistic, realistic, realistic, realistic, realistic, realistic, hostile_text(),
        st.none(), st.booleans(), st.integers(), st.integers(2**53, 2**70), st.floats(allow_nan=False, allow_infinity=False),
        st.lists(st.text(max_size=3), max_size=2), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    )


def timestamps() -> st.SearchStrategy[Any]:
    """ISO-8601 timestamps, odd ones (impossible dates, no zone, far years), epoch numbers and junk."""
    return st.one_of(
        st.datetimes().map(lambda d: d.isoformat() + "Z"),
        st.sampled_from([
            "2024-03-01T12:00:00.000Z", "2024-03-01T12:00:00+05:30", "2024-03-01", "2024-02-30T25:61:00Z",
            "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "1970-01-01T00:00:00Z", "not a date", "",
            "2024-03-01T12:00:00.123456789Z", "Fri, 01 Mar 2024 12:00:00 GMT", "1709294400",
        ]),
        st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False), st.none(), st.booleans(),
    )


def urls() -> st.SearchStrategy[Any]:
    """Valid, odd and invalid URLs (relative, no scheme, IDN, ports, spaces, javascript:, huge)."""
    return st.one_of(
        st.sampled_from([
            "https://example.com/pricing?plan=pro", "http://localhost:8080/", "https://Bücher.example:8443/a b?q=1",
            "//no-scheme.example.com/x", "/relative/path", "not a url", "", "javascript:alert(1)",
            "http://[::1]:99999/", "https://ex ample.com", "https://user:pass@example.com/#frag", "ftp://example.com/",
            "https://例え.テスト/パス", "http://", "https://example.com/" + "a" * 5000, "mailto:a@example.com",
        ]),
        st.builds(lambda host, path: f"https://{host}/{path}", hostile_text(12), hostile_text(12)),
        st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2),
    )


TIMEZONES = ["Europe/Berlin", "Asia/Kolkata", "America/New_York", "UTC", "Pacific/Chatham", "Mars/Olympus", "",
             "UTC+2", "../../etc/passwd", "Etc/GMT+12", "europe/berlin"]


def _traits() -> st.SearchStrategy[Any]:
    known = st.fixed_dictionaries({}, optional={
        "email": _maybe_wrong(st.sampled_from(["ada@example.com", "a@b", "not-an-email", "📧@example.com"]) | hostile_text()),
        "name": _maybe_wrong(hostile_text()),
        "first_name": _maybe_wrong(hostile_text()), "firstName": _maybe_wrong(hostile_text()),
        "last_name": _maybe_wrong(hostile_text()), "lastName": _maybe_wrong(hostile_text()),
        "created_at": _maybe_wrong(timestamps()), "createdAt": _maybe_wrong(timestamps()),
        "phone": _maybe_wrong(hostile_text()),
        "gender": _maybe_wrong(st.sampled_from(["m", "Female", "U", "other", ""])),
        "timezone": _maybe_wrong(st.sampled_from(TIMEZONES)),
        "address": st.one_of(hostile_text(), json_values(6), st.fixed_dictionaries({}, optional={
            k: _maybe_wrong(hostile_text()) for k in ("street", "city", "state", "postal_code", "country")})),
        "employees": _maybe_wrong(st.integers(0, 10**6)), "description": _maybe_wrong(hostile_text()),
        "plan": json_values(4), "logins": st.integers(), "nested": deep_values,
    })
    extra = st.dictionaries(hostile_text(12), json_values(4), max_size=3)
    obj = st.builds(lambda a, b: {**b, **a}, known, extra)
    return st.one_of(obj, obj, obj, obj, obj, st.none(), st.just({}), hostile_text(),
                     st.lists(json_values(3), max_size=3), st.integers(), st.booleans())


def _properties() -> st.SearchStrategy[Any]:
    known = st.fixed_dictionaries({}, optional={
        "email": _maybe_wrong(hostile_text()), "created_at": _maybe_wrong(timestamps()),
        "timezone": _maybe_wrong(st.sampled_from(TIMEZONES)), "url": urls(), "path": _maybe_wrong(hostile_text()),
        "name": _maybe_wrong(hostile_text()), "total": st.floats(allow_nan=False, allow_infinity=False),
        "items": st.lists(json_values(4), max_size=3), "first_name": _maybe_wrong(hostile_text()),
        "last_name": _maybe_wrong(hostile_text()), "deep": deep_values,
    })
    obj = st.builds(lambda a, b: {**b, **a}, known, st.dictionaries(hostile_text(12), json_values(4), max_size=3))
    return st.one_of(obj, obj, obj, obj, obj, st.none(), st.just({}), hostile_text(),
                     st.lists(json_values(3), max_size=3), st.integers())


def _context() -> st.SearchStrategy[Any]:
    page = st.fixed_dictionaries({}, optional={
        "url": urls(), "path": _maybe_wrong(hostile_text()), "referrer": urls(), "search": _maybe_wrong(hostile_text()),
        "title": _maybe_wrong(hostile_text()),
    })
    screen = st.fixed_dictionaries({}, optional={
        "width": _maybe_wrong(st.integers(-10, 10_000) | st.floats(0, 1e6)),
        "height": _maybe_wrong(st.integers(-10, 10_000) | st.floats(0, 1e6)),
        "density": _maybe_wrong(st.floats(0, 5)),
    })
    ctx = st.fixed_dictionaries({}, optional={
        "page": _maybe_wrong(page), "screen": _maybe_wrong(screen),
        "userAgent": _maybe_wrong(st.sampled_from([
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
            "Safari/537.36", "curl/8.0", ""]) | hostile_text()),
        "locale": _maybe_wrong(st.sampled_from(["en-US", "de", "", "xx_YY"])),
        "ip": _maybe_wrong(st.sampled_from(["203.0.113.7", "::1", "999.1.1.1", ""])),
        "timezone": _maybe_wrong(st.sampled_from(TIMEZONES)),
        "campaign": _maybe_wrong(st.dictionaries(st.sampled_from(["source", "medium", "name", "term", "content"]),
                                                 _maybe_wrong(hostile_text()), max_size=5)),
        "device": _maybe_wrong(st.dictionaries(st.sampled_from(["name", "model", "type"]), _maybe_wrong(hostile_text()),
                                               max_size=3)),
        "os": _maybe_wrong(st.fixed_dictionaries({}, optional={"name": _maybe_wrong(hostile_text())})),
        "traits": _traits(),
        "personas": st.just({"computation_class": "audience", "computation_key": "k"}),
    })
    return st.one_of(ctx, ctx, ctx, ctx, ctx, st.none(), hostile_text(), st.lists(st.integers(), max_size=2))


def _integrations(names: tuple[str, ...]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(["All", *names, "Segment.io", "other"])
    return st.one_of(
        st.just({}), st.just({}), st.just({"All": True}), st.dictionaries(keys, st.one_of(st.booleans(), st.none(), st.dictionaries(st.text(max_size=3), st.booleans(),
                                                                                    max_size=2)), max_size=3),
        st.none(), st.lists(st.booleans(), max_size=2), hostile_text(), st.booleans(),
    )


_PER_TYPE = {
    "track": {"event": lambda: _maybe_wrong(st.sampled_from(["Signed Up", "Order Completed", ""]) | hostile_text()),
              "properties": _properties},
    "identify": {"traits": _traits},
    "page": {"name": lambda: _maybe_wrong(hostile_text()), "category": lambda: _maybe_wrong(hostile_text()),
             "properties": _properties},
    "screen": {"name": lambda: _maybe_wrong(hostile_text()), "properties": _properties},
    "group": {"groupId": ids, "traits": _traits},
    "alias": {"previousId": ids},
}


def _event(call_type: Any, names: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    own = _PER_TYPE.get(call_type, _PER_TYPE["track"])
    optional: dict[str, st.SearchStrategy[Any]] = {
        "userId": ids(), "anonymousId": ids(), "messageId": _maybe_wrong(st.uuids().map(str)),
        "timestamp": timestamps(), "sentAt": timestamps(), "context": _context(),
        "integrations": _integrations(names), "email": _maybe_wrong(hostile_text()),
    }
    optional.update({k: make() for k, make in own.items()})
    required: dict[str, st.SearchStrategy[Any]] = {}
    if call_type is not _NO_TYPE:
        required["type"] = st.just(call_type)
    return st.fixed_dictionaries(required, optional=optional)


_NO_TYPE = object()


def segment_events(types: list[str] | tuple[str, ...] | None = None, *,
                   integration_names: tuple[str, ...] = ()) -> st.SearchStrategy[dict[str, Any]]:
    """Segment events of the given call types (default: all six, plus a few without a type or with a
    wrong one). `integration_names` are keys the `integrations` object may use (e.g. the spec's `name`)."""
    chosen = tuple(types) if types else CALL_TYPES
    strategies = [_event(t, integration_names) for t in chosen]
    if types is None:  # the hostile ones: about one event in nine (distinct objects: one_of drops duplicates)
        strategies += [_event(t, integration_names) for _ in range(3) for t in chosen]
        strategies += [_event(_NO_TYPE, integration_names), _event("TRACK", integration_names),
                       _event(42, integration_names)]
    return st.one_of(*strategies)
