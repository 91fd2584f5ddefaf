"""The masker's fast path (orjson bytes searched for every secret form; only containers holding one are
walked and copied) gives exactly what the plain walk gives: every string through the secrets regex."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote, quote_plus

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.delivery.models import PreparedRequest
from engine.secrets import MASK, MIN_SUBSTRING_LENGTH, Masker, _form_regex, secret_forms

SECRET = "sk_live/9f+Ab=c&d"


class Reference:
    """The masker as it was before the fast path: walk and copy everything, regex on every string."""

    def __init__(self, secrets: list[str]) -> None:
        secrets = [s for s in secrets if isinstance(s, str) and s]
        self.secrets = set(secrets)
        self.short = {s for s in secrets if len(s) < MIN_SUBSTRING_LENGTH}
        forms: set[str] = set()
        for s in secrets:
            if len(s) >= MIN_SUBSTRING_LENGTH:
                forms |= secret_forms(s)
        ordered = sorted(forms, key=lambda f: (-len(f), f))
        self.pattern = re.compile("|".join(_form_regex(f) for f in ordered)) if forms else None
        self.pattern_bytes = re.compile("|".join(_form_regex(f) for f in ordered).encode()) if forms else None

    def text(self, text: str) -> str:
        if text in self.short or text in self.secrets:
            return MASK
        return self.pattern.sub(MASK, text) if self.pattern else text

    def mask(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.mask(k) if isinstance(k, str) else k: self.mask(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.mask(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self.mask(v) for v in obj)
        if isinstance(obj, (bytes, bytearray)):
            data = bytes(obj)
            if data.decode("utf-8", "replace") in self.short:
                return MASK.encode()
            return self.pattern_bytes.sub(MASK.encode(), data) if self.pattern_bytes else data
        return obj


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (a tuple is not a list, True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


# --- the cases named one by one -------------------------------------------------------------------------

def test_secret_in_a_header_only():
    m = Masker(["test-key-123"])
    token = base64.b64encode(b"test-key-123:").decode()
    headers = {"Authorization": f"Basic {token}", "x-source": "Segment"}
    body = {"event": "x", "context": {"ip": "1.2.3.4", "tags": ["a", "b"]}}
    shown = PreparedRequest("post", "https://api.example.com/v1/track", headers, None, body).to_display(m)
    assert shown == {"method": "POST", "url": "https://api.example.com/v1/track",
                     "headers": {"Authorization": "Basic ****Og==", "x-source": "Segment",
                                 "content-type": "application/json"},
                     "body": body}
    assert shown["body"] is body  # nothing to mask there: not copied


def test_secret_in_a_nested_body_value():
    m = Masker([SECRET])
    untouched = {"deep": ["x", {"y": 1}]}
    body = {"a": untouched, "b": {"c": [1, {"d": f"key {SECRET} end"}], "e": "plain"}}
    out = m.mask(body)
    assert out == {"a": untouched, "b": {"c": [1, {"d": f"key {MASK} end"}], "e": "plain"}}
    assert out["a"] is untouched
    assert body["b"]["c"][1]["d"] == f"key {SECRET} end"  # the input is not changed


def test_secret_in_a_key():
    m = Masker([SECRET, "ab"])
    assert m.mask({"x": {SECRET: 1, "ab": 2, "abc": 3}}) == {"x": {MASK: 2, "abc": 3}}  # two keys masked into one: the later wins


def test_secret_in_a_url_query_in_every_encoding():
    m = Masker([SECRET])
    lower_hex = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(SECRET, safe=""))
    for encoded in (quote(SECRET, safe=""), lower_hex, quote_plus(SECRET), SECRET):
        req = PreparedRequest("get", f"https://api.example.com/x?key={encoded}&b=1")
        assert req.to_display(m)["url"] == f"https://api.example.com/x?key={MASK}&b=1"
    mixed = quote(SECRET, safe="").replace("%2F", "%2f")  # %2f, %2B: either case in one value
    assert m.mask({"q": [f"?k={mixed}"]}) == {"q": [f"?k={MASK}"]}


def test_secret_absent_returns_the_input_itself():
    m = Masker([SECRET])
    data = {"a": [1, 2.5, None, True, "text", {"b": ("t", "u")}], "c": "%2f%2F sk_live"}
    assert m.mask(data) is data
    assert Masker.empty().mask(data) is data
    req = PreparedRequest("post", "https://x.example/y", {"a": "b"}, None, data)
    assert req.to_display(m)["body"] is data and req.to_display()["body"] is data


def test_json_escaped_and_control_characters():
    secret = 'pa"ss\\wo\nrd\x01é'
    m = Masker([secret])
    import json
    escaped = json.dumps(secret)[1:-1]
    escaped_ascii = json.dumps(secret, ensure_ascii=False)[1:-1]
    data = {"raw": f"<{secret}>", "json": f"<{escaped}>", "json2": [escaped_ascii], "k": {"n": 1}}
    assert m.mask(data) == {"raw": f"<{MASK}>", "json": f"<{MASK}>", "json2": [MASK], "k": {"n": 1}}


def test_many_keys_with_the_separator_inside_texts():
    m = Masker([SECRET])
    body = {f"k{i}": f"v\x00{i}" for i in range(20)}
    body["k7"] = f"\x00{SECRET}\x00"
    body[f"\x00{SECRET}"] = "\x00"
    out = m.mask(body)
    assert out["k7"] == f"\x00{MASK}\x00" and out[f"\x00{MASK}"] == "\x00" and out["k3"] == "v\x003"


def test_short_secret_spelled_like_a_display_key():
    m = Masker(["url", "GET"])
    shown = PreparedRequest("get", "https://x.example/url", {"url": "url"}, None, {"body": "url"}).to_display(m)
    assert shown == {"method": MASK, MASK: "https://x.example/url", "headers": {MASK: MASK, "content-type": "application/json"},
                     "body": {"body": MASK}}


def test_not_json_to_orjson_still_masked():
    m = Masker([SECRET])
    data = {1: SECRET, "big": 2**70, "b": SECRET.encode(), "t": (SECRET,), "s": {"x": [b"y", f"{SECRET}"]}}
    assert m.mask(data) == {1: MASK, "big": 2**70, "b": MASK.encode(), "t": (MASK,), "s": {"x": [b"y", MASK]}}
    surrogate = {"a": "\ud800" + SECRET}
    assert m.mask(surrogate) == {"a": "\ud800" + MASK}


def test_subclasses_come_back_as_plain_types_as_before():
    from collections import OrderedDict

    m = Masker([SECRET])
    out = m.mask({"o": OrderedDict(a="x")})
    assert type(out["o"]) is dict and out == {"o": {"a": "x"}}


# --- fast path against the reference on random data ---------------------------------------------------

secret_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=10) | st.sampled_from(
    ["sk_live/9f+Ab=c&d", 'q"\\x', "a%2Fb", "ab", "ü/+=", "\x00\x1fz?", "Σa%2F"])


def variants(secret: str) -> list[str]:
    forms = sorted(secret_forms(secret)) if len(secret) >= MIN_SUBSTRING_LENGTH else [secret]
    out = list(forms)
    out += [re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in forms]
    for user in ("u", "us", "use"):
        out.append("Basic " + base64.b64encode(f"{user}:{secret}".encode("utf-8", "surrogatepass")).decode())
    return out


@st.composite
def data_with_secrets(draw: st.DrawFn) -> tuple[list[str], Any]:
    secrets = draw(st.lists(secret_text, min_size=1, max_size=3))
    pieces = [v for s in secrets for v in variants(s)]
    plain = st.text(st.characters(codec="utf-8"), max_size=12)
    texts = plain | st.builds(lambda a, p, b: a + p + b, plain, st.sampled_from(pieces), plain) | st.sampled_from(pieces)
    leaves = texts | st.integers(-(2**70), 2**70) | st.floats() | st.none() | st.booleans() | st.binary(max_size=8)
    keys = texts | st.integers(0, 3)
    tree = st.recursive(leaves, lambda kids: st.lists(kids, max_size=12) | st.tuples(kids, kids)
                        | st.dictionaries(keys, kids, max_size=12), max_leaves=40)
    return secrets, draw(tree)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(case=data_with_secrets())
def test_fast_path_equals_the_reference(case):
    secrets, data = case
    expected = Reference(secrets).mask(data)
    got = Masker(secrets).mask(data)
    assert same(got, expected), (got, expected)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(case=data_with_secrets())
def test_to_display_equals_the_reference(case):
    secrets, data = case
    req = PreparedRequest("post", "https://api.example.com/p?x=" + str(data)[:30], {"h": str(data)[:40]}, None, data)
    expected = Reference(secrets).mask({"method": "POST", "url": req.url, "headers": req.wire_headers(), "body": data})
    assert same(req.to_display(Masker(secrets)), expected)
