"""Every standard encoding of a password is masked (issue 18, defect 6): URL per RFC 3986 (either hex case),
per JavaScript's encodeURIComponent, form encoding, URL-encoded twice, JSON as Python, Go, PHP and JavaScript
escape it, base64 standard and URL-safe with and without padding, and inside Basic's `user:password`."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

import orjson
import pytest

from engine.secrets import MASK, Masker, secret_forms

PASSWORDS = ["tok!en (js)*x'y", "a&b<c>d/e+f=g", "pässwörd€", "pass word with spaces", "s3cr3t~key_value.-"]


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def _encode_uri_component(text: str) -> str:
    # JavaScript leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ) as they are.
    return quote(text, safe="!~*'()")


def encodings(secret: str) -> dict[str, str]:
    """The encodings of `secret` as the encoders themselves write them (not via the masker's code)."""
    rfc = quote(secret, safe="")
    py_json = json.dumps(secret)[1:-1]
    raw_json = json.dumps(secret, ensure_ascii=False)[1:-1]
    go = raw_json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    php = py_json.replace("/", "\\/")
    basic = base64.b64encode(f"user:{secret}".encode()).decode()
    forms = {
        "raw": secret,
        "rfc3986": rfc,
        "rfc3986 lower hex": _lower_hex(rfc),
        "path": quote(secret),
        "encodeURIComponent": _encode_uri_component(secret),
        "encodeURIComponent lower hex": _lower_hex(_encode_uri_component(secret)),
        "form": quote_plus(secret),
        "form (WHATWG)": quote_plus(secret, safe="*"),
        "double": quote(rfc, safe=""),
        "double lower hex": _lower_hex(quote(_lower_hex(rfc), safe="")),
        "double encodeURIComponent": _encode_uri_component(_encode_uri_component(secret)),
        "double form": quote_plus(quote_plus(secret)),
        "json ascii": py_json,
        "json ascii upper hex": re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), py_json),
        "json raw": raw_json,
        "json go": go,
        "json php": php,
        "json php unescaped unicode": raw_json.replace("/", "\\/"),
        "orjson": orjson.dumps(secret).decode()[1:-1],
        "base64": base64.b64encode(secret.encode()).decode(),
        "base64 no padding": base64.b64encode(secret.encode()).decode().rstrip("="),
        "base64 url-safe": base64.urlsafe_b64encode(secret.encode()).decode(),
        "base64 url-safe no padding": base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
        "basic": basic,
        "basic url-safe": base64.urlsafe_b64encode(f"user:{secret}".encode()).decode(),
        "basic other alignment": base64.b64encode(f"ab:{secret}".encode()).decode(),
    }
    return forms


CASES = [(secret, name, form) for secret in PASSWORDS for name, form in encodings(secret).items()]


def _survives(text: str, secret: str, form: str) -> bool:
    """Whether `form` (or the secret itself) is still in the masked text."""
    return form in text or secret in text


@pytest.mark.parametrize(("secret", "name", "form"), CASES, ids=[f"{s!r}-{n}" for s, n, _ in CASES])
def test_every_encoding_is_masked_in_text(secret: str, name: str, form: str) -> None:
    masker = Masker([secret])
    text = f"GET https://api.example/v1?token={form}&x=1 echoed: {form}."
    masked = masker.mask(text)
    assert not _survives(masked, secret, form), (name, masked)
    assert MASK in masked
    assert masked.startswith("GET https://api.example/v1?token=")


@pytest.mark.parametrize(("secret", "name", "form"), CASES, ids=[f"{s!r}-{n}" for s, n, _ in CASES])
def test_every_encoding_is_masked_in_json_and_bytes(secret: str, name: str, form: str) -> None:
    masker = Masker([secret])
    data = {"url": f"https://api.example/?k={form}", "headers": {"authorization": f"Bearer {form}"},
            "body": {"echo": f"[{form}]", "n": 1}}
    encoded = orjson.dumps(data)
    for out in (masker.mask_json(encoded), orjson.dumps(masker.mask(data)), masker.mask_bytes(form.encode())):
        text = out.decode()
        assert form not in text and secret not in text, (name, text)
        # and as it looks once decoded from the JSON text
        if out is not None and text.startswith("{"):
            assert form not in json.dumps(orjson.loads(out), ensure_ascii=False)
    # a body that is itself JSON text, held in a JSON string (the echoed request in a dead letter)
    nested = orjson.dumps({"response": f'{{"token":"{form}"}}'})
    assert form not in orjson.loads(masker.mask_json(nested))["response"]


@pytest.mark.parametrize("secret", PASSWORDS)
def test_forms_are_few_and_listed_once(secret: str) -> None:
    """Hex case is left to matching: no form is another one with its percent-escapes in another case."""
    forms = secret_forms(secret)
    assert len(forms) <= 40
    assert len({_lower_hex(f).lower() if "%" in f else f for f in forms}) == len(forms)


def test_many_secrets_mask_the_same_forms() -> None:
    """Above the automaton's threshold the same encodings are masked."""
    secrets = [f"filler-secret-{i:04d}" for i in range(200)] + PASSWORDS
    masker = Masker(secrets)
    for secret in PASSWORDS:
        for name, form in encodings(secret).items():
            masked = masker.mask(f"x {form} y")
            assert not _survives(masked, secret, form), (name, masked)
