"""`Masker.mask_json` (secrets masked in the bytes of JSON text) and `results_line` (`engine plan`'s output line,
encoded once and masked as bytes) give exactly what the dict-walking masker gives: `mask` of the data, then orjson."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from typing import Any
from urllib.parse import quote, quote_plus

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.delivery.models import PreparedRequest
from engine.runtime.destination import ActionResult, results_line
from engine.runtime.steps import Plan
from engine.secrets import MASK, MIN_SUBSTRING_LENGTH, Masker, secret_forms

SECRET = "sk_live/9f+Ab=c&d"


def walked(masker: Masker, data: Any) -> bytes:
    """What the walk gives: mask the data, then encode it."""
    return orjson.dumps(masker.mask(data))


def old_line(results: list[ActionResult], masker: Masker) -> bytes:
    """`engine plan`'s line as it was written before `results_line`: `to_json` of every result, then orjson."""
    return orjson.dumps({"results": [r.to_json(masker) for r in results]}, option=orjson.OPT_APPEND_NEWLINE)


# --- the cases named one by one -------------------------------------------------------------------------

def test_strings_holding_a_form_are_masked_and_the_rest_kept():
    m = Masker([SECRET])
    data = {"url": f"https://x.example/?k={quote_plus(SECRET)}", "n": 1, "deep": [{"v": f"a {SECRET} b"}, "plain"]}
    assert m.mask_json(orjson.dumps(data)) == walked(m, data)
    assert orjson.loads(m.mask_json(orjson.dumps(data))) == {"url": f"https://x.example/?k={MASK}", "n": 1,
                                                              "deep": [{"v": f"a {MASK} b"}, "plain"]}


def test_nothing_to_mask_gives_the_bytes_back():
    data = orjson.dumps({"a": ["sk_live", "%2f"], "b": 1.5})
    assert Masker([SECRET]).mask_json(data) is data
    assert Masker.empty().mask_json(data) is data


def test_digits_of_a_secret_inside_numbers_and_literals_stay():
    m = Masker(["12345", "true", "null"])
    data = {"n": 1234567, "f": -12345.5, "t": [True, None], "s": "x12345y", "u": "true", "v": "nullable"}
    out = m.mask_json(orjson.dumps(data))
    assert out == walked(m, data)
    assert orjson.loads(out) == {"n": 1234567, "f": -12345.5, "t": [True, None], "s": f"x{MASK}y", "u": MASK,
                                 "v": f"{MASK}able"}


def test_short_secrets_only_as_whole_strings_even_next_to_structure():
    m = Masker([",", ":", "]"])
    data = {"a": ",", ":": [",", ":", "x,y", "]", ""], "b": {"]": "]"}, "c": "a:b"}
    assert m.mask_json(orjson.dumps(data)) == walked(m, data)
    assert orjson.loads(m.mask_json(orjson.dumps([",", ",", "a", ","]))) == [MASK, MASK, "a", MASK]


def test_keys_masked_into_one_merge_as_in_the_walk():
    m = Masker([SECRET, "ab"])
    data = {"x": {SECRET: 1, "ab": 2, "abc": 3}, "y": [{f"k{SECRET}": SECRET}]}
    assert m.mask_json(orjson.dumps(data)) == walked(m, data)
    assert orjson.loads(m.mask_json(orjson.dumps(data)))["x"] == {MASK: 2, "abc": 3}


def test_escaped_texts_go_through_the_walk():
    secret = 'pa"ss\\wo\nrd\x01é'
    m = Masker([secret])
    data = {"raw": f"<{secret}>", "json": f"<{json.dumps(secret)[1:-1]}>", "other": "a\\b\n\"", "k": {"n": 1}}
    assert m.mask_json(orjson.dumps(data)) == walked(m, data)
    plain = {"a": "tab\there", "b": SECRET}
    assert Masker([SECRET]).mask_json(orjson.dumps(plain)) == walked(Masker([SECRET]), plain)


def test_percent_forms_in_either_case_after_non_ascii_text():
    m = Masker([SECRET])
    lower = re.sub(r"%[0-9A-F]{2}", lambda g: g.group(0).lower(), quote(SECRET, safe=""))
    data = {"é": "ünïcode ✓ 😀", "url": f"https://x.example/é/{lower}?q=ß{quote(SECRET, safe='')}", "z": [lower]}
    out = m.mask_json(orjson.dumps(data))
    assert out == walked(m, data)
    assert orjson.loads(out)["url"] == f"https://x.example/é/{MASK}?q=ß{MASK}"
    wide = ["😀é" * 40, lower, "tail", "more", "end"]  # byte offsets run far ahead of character indexes here
    assert orjson.loads(m.mask_json(orjson.dumps(wide))) == ["😀é" * 40, MASK, "tail", "more", "end"]


def test_json_with_white_space_is_masked_alike():
    m = Masker([SECRET, "ab"])
    data = {"a": [SECRET, "ab", " ab "], "ab": {"c": f"x{SECRET}"}, "d": 5}
    spaced = json.dumps(data, indent=2, ensure_ascii=False).replace('"d": 5', '"d" : 5').encode()
    assert orjson.loads(m.mask_json(spaced)) == orjson.loads(walked(m, data))
    values = {"a": [SECRET, "ab", " ab ", ","], "d": 5}
    assert orjson.loads(m.mask_json(json.dumps(values, indent=1).encode())) == orjson.loads(walked(m, values))


def test_remembered_texts_stay_right_and_bounded():
    from engine.secrets import _CACHED_TEXTS

    m = Masker([SECRET])
    header = f"Bearer {SECRET}"
    for i in range(_CACHED_TEXTS + 50):
        data = [header, f"{i} {SECRET}", "x" * 300 + SECRET]
        assert m.mask_json(orjson.dumps(data)) == walked(m, data)
    assert len(m._masked) <= _CACHED_TEXTS


def test_secret_in_url_headers_and_body_of_a_plan_line():
    m = Masker([SECRET])
    token = base64.b64encode(f"user:{SECRET}".encode()).decode()
    req = PreparedRequest.from_json("post", f"https://api.example.com/v1/e?key={quote(SECRET, safe='')}",
                                    {"api_key": SECRET, "props": {"a": [1, f"x{SECRET}"], "b": None}},
                                    headers={"Authorization": f"Basic {token}"})
    results = [ActionResult("track", "Track", "ok", plan=Plan([req], ["later (needs the response of first)"])),
               ActionResult("identify", None, "invalid", f"bad key {SECRET}")]
    line = results_line(results, m)
    assert line == old_line(results, m)
    assert line.endswith(b"\n") and SECRET.encode() not in line and token.encode() not in line
    [first, second] = orjson.loads(line)["results"]
    assert first["requests"][0]["url"] == f"https://api.example.com/v1/e?key={MASK}"
    assert first["requests"][0]["body"] == {"api_key": MASK, "props": {"a": [1, f"x{MASK}"], "b": None}}
    assert first["unplanned"] == ["later (needs the response of first)"]
    assert second == {"action": "identify", "preset": None, "status": "invalid", "error": f"bad key {MASK}",
                      "requests": []}


def test_plan_line_fields_the_walk_leaves_alone_stay():
    m = Masker(["ok", "Track"])  # spelled like a status and a preset name: to_json never masked those
    req = PreparedRequest("get", "https://x.example/ok", {"h": "ok"}, None, {"Track": "Track", "s": "ok"})
    results = [ActionResult("Track", "Track", "ok", plan=Plan([req]))]
    line = results_line(results, m)
    assert line == old_line(results, m)
    assert orjson.loads(line)["results"][0]["preset"] == "Track"


def test_display_keys_spelled_like_a_secret():
    m = Masker(["url", "headers"])
    results = [ActionResult("a", None, "ok", plan=Plan([PreparedRequest("get", "https://x.example/url", {"url": "url"})]))]
    assert results_line(results, m) == old_line(results, m)


def test_not_plain_json_goes_the_old_way():
    from collections import OrderedDict

    m = Masker([SECRET])
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    for body in ({"when": when, "k": SECRET}, OrderedDict(k=SECRET), {"s": _Text(SECRET)}):
        results = [ActionResult("a", None, "ok", plan=Plan([PreparedRequest("post", "https://x.example/", {}, None, body)]))]
        assert results_line(results, m) == old_line(results, m)


class _Text(str):
    pass


def test_no_masker_and_no_results():
    req = PreparedRequest("post", f"https://x.example/{SECRET}", {"k": SECRET}, b"raw body")
    results = [ActionResult("a", "p", "ok", plan=Plan([req]))]
    for m in (Masker.empty(), Masker([""])):
        assert results_line(results, m) == old_line(results, m)
    assert results_line([], Masker([SECRET])) == b'{"results":[]}\n'


# --- random secrets in random requests ---------------------------------------------------------------------

# Characters that JSON, URL-encoding and base64 change, plus any other (no surrogates: orjson refuses them; no
# `*`: the mask itself could spell such a secret).
_chars = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="*")
secret_text = st.text(_chars, min_size=1, max_size=10) | st.text(st.sampled_from('"\\+/=%&?é\x00\x1f\n\tab'),
                                                               min_size=1, max_size=8)


def variants(secret: str) -> list[str]:
    """Every way the secret may be written into a request: its forms, lower-case percent-escapes, Basic tokens."""
    forms = sorted(secret_forms(secret)) if len(secret) >= MIN_SUBSTRING_LENGTH else [secret]
    out = list(forms)
    out += [re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in forms]
    for user in ("", "u", "us", "use"):
        out.append("Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode())
    return out


@st.composite
def plan_results(draw: st.DrawFn, with_secrets: bool = True) -> tuple[list[str], list[ActionResult]]:
    secrets = draw(st.lists(secret_text, min_size=1, max_size=3))
    pieces = [v for s in secrets for v in variants(s)] if with_secrets else ["plain"]
    plain = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
    texts = plain | st.builds(lambda a, p, b: a + p + b, plain, st.sampled_from(pieces), plain) | st.sampled_from(pieces)
    leaves = texts | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.none() | st.booleans()
    body = st.recursive(leaves, lambda kids: st.lists(kids, max_size=6) | st.tuples(kids, kids)
                        | st.dictionaries(texts, kids, max_size=6), max_leaves=30)
    url_part = st.tuples(st.sampled_from(pieces), st.sampled_from([str, lambda p: quote(p, safe=""), quote_plus])).map(
        lambda pf: pf[1](pf[0]))
    requests = []
    for _ in range(draw(st.integers(0, 3))):
        url = f"https://api.example.com/{draw(url_part)}/x?key={draw(url_part)}&q={draw(texts)}"
        headers = draw(st.dictionaries(texts, texts, max_size=3))
        if draw(st.booleans()):
            requests.append(PreparedRequest.from_json(draw(st.sampled_from(["get", "post"])), url, draw(body),
                                                      headers=headers))
        else:
            requests.append(PreparedRequest("post", url, headers, draw(st.one_of(st.none(), st.binary(max_size=20),
                                                                                   texts.map(str.encode)))))
    # the head of an ok result is remembered per action, preset and status: vary them (quotes, null, an error)
    preset = draw(st.sampled_from(["Preset", None, 'Pr\u00e9"set', "P\\"]))
    results = [ActionResult(draw(st.sampled_from(["act", "act2"])), preset, "ok",
                            draw(st.sampled_from([None, None, "", "failed"])),
                            plan=Plan(requests, draw(st.lists(plain, max_size=2))))]
    if draw(st.booleans()):
        results.append(ActionResult("act", None, "invalid", draw(texts)))
    return secrets, results


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(case=plan_results())
def test_results_line_equals_the_walk_and_leaves_no_form(case):
    secrets, results = case
    masker = Masker(secrets)
    line = results_line(results, masker)
    assert line == old_line(results, masker)
    shown = orjson.loads(line)["results"]
    texts = [s for r in shown for s in (*_strings(r["requests"]), r["error"] or "")]
    for secret in secrets:
        if len(secret) < MIN_SUBSTRING_LENGTH:
            assert secret not in texts
        else:
            for form in secret_forms(secret):
                assert not any(form in t for t in texts), (form, secret)
            lower_hex = {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in secret_forms(secret)}
            assert not any(f in t for f in lower_hex for t in texts)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(case=plan_results(with_secrets=False))
def test_results_line_without_a_secret_in_the_data_is_the_unmasked_line(case):
    secrets, results = case
    masker = Masker(secrets)
    unmasked = results_line(results, Masker.empty())
    assert unmasked == old_line(results, Masker.empty())
    if old_line(results, masker) == unmasked:  # random plain text may spell a random secret
        assert results_line(results, masker) == unmasked


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(case=plan_results())
def test_mask_json_equals_the_walk_on_any_json(case):
    secrets, results = case
    masker = Masker(secrets)
    for result in results:
        for req in (result.plan.requests if result.plan else []):
            shown = req.to_display()
            try:
                encoded = orjson.dumps(shown)
            except TypeError:  # bytes bodies decode to text; everything else here is JSON
                continue
            assert masker.mask_json(encoded) == walked(masker, shown)


def _opens_by_find(masker: Masker, text: str) -> set[int]:
    """Where `_json_opens` must point: every occurrence of every needle found with `str.find`."""
    opens = set()
    for needle in masker._needles:
        at = text.find(needle)
        while at >= 0:
            opens.add(at if needle[0] == '"' else text.rfind('"', 0, at))
            at = text.find(needle, at + 1)
    return opens


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(secrets=st.lists(secret_text, min_size=1, max_size=3), data=st.data())
def test_needles_found_by_a_rare_character_are_all_found(secrets, data):
    masker = Masker(secrets)
    pieces = [json.dumps(v, ensure_ascii=False)[1:-1] for s in secrets for v in variants(s)]
    filler = st.text(st.sampled_from("ZQVXJKzq\"' :,{}[]aé0"), max_size=30)  # rare characters made common
    text = "".join(data.draw(st.lists(filler | st.sampled_from(pieces), max_size=12)))
    assert masker._json_opens(text) == _opens_by_find(masker, text)


def test_needles_next_to_many_anchor_characters():
    masker = Masker(["dGVzdC1rZXktMTIz-secret"])
    [(char, *_)] = [a for a in masker._anchored if any(n.startswith("dGVz") for n, _ in a[1])][:1]
    form = base64.b64encode(b"dGVzdC1rZXktMTIz-secret").decode()
    for text in (char * 50 + "dGVzdC1rZXktMTIz-secret" + char * 3, "dGVzdC1rZXktMTIz-secret" * 9,
                 f'["{char * 40}","{form}",{char}]', "x" + "dGVzdC1rZXktMTIz-secret"[3:]):
        assert masker._json_opens(text) == _opens_by_find(masker, text)
