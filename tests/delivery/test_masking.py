from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus, urlencode

from hypothesis import assume, given
from hypothesis import strategies as st

from engine.secrets import MASK, Masker

SECRET = "sk_live/9f+Ab=c&d"


def test_raw_occurrences_are_masked_everywhere_in_text():
    m = Masker([SECRET])
    assert m.mask(f"key={SECRET}; again {SECRET}") == f"key={MASK}; again {MASK}"


def test_url_encoded_forms_are_masked():
    m = Masker([SECRET])
    for encoded in (quote(SECRET, safe=""), quote(SECRET), quote_plus(SECRET), urlencode({"k": SECRET})):
        masked = m.mask(f"https://api.example.com/x?{encoded}")
        assert SECRET not in masked and encoded.split("=")[-1] not in masked, masked
    lower = quote(SECRET, safe="").replace("%2F", "%2f")
    assert MASK in m.mask(lower)


def test_base64_alone_and_inside_basic_auth_at_every_alignment():
    m = Masker([SECRET])
    assert m.mask(base64.b64encode(SECRET.encode()).decode()) == MASK
    assert m.mask(base64.urlsafe_b64encode(SECRET.encode()).decode()) == MASK
    for user in ("u", "us", "use", "user"):
        token = base64.b64encode(f"{user}:{SECRET}".encode()).decode()
        masked = m.mask(f"Basic {token}")
        assert MASK in masked
        assert token not in masked


def test_json_escaped_form_is_masked():
    secret = 'pa"ss\\word'
    m = Masker([secret])
    text = json.dumps({"password": secret})
    assert secret not in m.mask(text) and json.dumps(secret)[1:-1] not in m.mask(text)


def test_recursive_over_json_like_data_and_bytes():
    m = Masker([SECRET])
    data = {"a": [SECRET, {"b": f"x{SECRET}x", SECRET: 1}], "n": 3, "t": (SECRET,), "z": None}
    assert m.mask(data) == {"a": [MASK, {"b": f"x{MASK}x", MASK: 1}], "n": 3, "t": (MASK,), "z": None}
    assert m.mask(f"<{SECRET}>".encode()) == f"<{MASK}>".encode()


def test_short_secrets_only_mask_whole_values():
    m = Masker(["ab", "x"])
    assert m.mask({"k": "ab", "l": "abc", "m": "a lab about x", "n": "x"}) == {
        "k": MASK,
        "l": "abc",
        "m": "a lab about x",
        "n": MASK,
    }


def test_empty_masker_and_empty_secrets_change_nothing():
    for m in (Masker.empty(), Masker(["", None])):
        assert not m
        assert m.mask({"a": "anything ****"}) == {"a": "anything ****"}


def test_with_secrets_keeps_old_ones():
    m = Masker(["first-secret"]).with_secrets(["second-secret"])
    assert m.mask("first-secret second-secret") == f"{MASK} {MASK}"


def test_longer_secret_wins_over_a_shorter_one_it_contains():
    m = Masker(["token", "token-extended-value"])
    assert m.mask("a token-extended-value b") == f"a {MASK} b"


printable = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=4, max_size=40)


@given(secret=printable, before=st.text(max_size=20), after=st.text(max_size=20))
def test_property_secret_never_survives_in_text(secret, before, after):
    assume(set(secret) != {"*"})  # a secret made of stars is spelled by the mask itself ("****")
    masked = Masker([secret]).mask(before + secret + after)
    assert secret not in masked


@given(secret=printable, user=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=12))
def test_property_basic_auth_token_is_always_altered(secret, user):
    token = base64.b64encode(f"{user}:{secret}".encode()).decode()
    masked = Masker([secret]).mask(f"Basic {token}")
    assert MASK in masked and token not in masked
