"""Many secrets (issue 18, defect 11): past `_AUTOMATON_FROM` forms the Masker finds them with one
Aho-Corasick automaton; masking is the same (every form, a secret inside another, overlaps). Timings: bench/masker.py."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from engine import secrets as secrets_module
from engine.secrets import MASK, Masker, _minimal


def _keys(n: int) -> list[str]:
    return [f"key-{i:06d}-{(i * 7919) % 100003:05d}" for i in range(n)]


def test_twenty_thousand_secrets_mask_every_form_and_substrings() -> None:
    keys = _keys(20_000)
    inner = "abcd1234"
    outer = f"zz{inner}zz-outer"
    masker = Masker([*keys, inner, outer])
    assert masker._large  # the automaton path
    for key in (keys[0], keys[12_345], keys[-1]):
        for form in (key, quote(key, safe=""), base64.b64encode(key.encode()).decode(), json.dumps(key)[1:-1]):
            masked = masker.mask_text(f"before {form} after")
            assert key not in masked and form not in masked and masked == f"before {MASK} after"
    assert masker.mask_text(f"x {outer} y") == f"x {MASK} y"
    assert masker.mask_text(f"x {inner} y") == f"x {MASK} y"
    assert masker.mask({"h": [f"Bearer {keys[7]}"]}) == {"h": [f"Bearer {MASK}"]}
    assert masker.mask_bytes(f"k={keys[9]}".encode()) == f"k={MASK}".encode()
    assert masker.mask_text("nothing secret here") == "nothing secret here"


def test_overlapping_secrets_are_masked_as_one(monkeypatch) -> None:
    monkeypatch.setattr(secrets_module, "_AUTOMATON_FROM", 1)
    masker = Masker(["abcdefgh", "efghijkl"])
    assert masker._large
    masked = masker.mask_text("<abcdefghijkl>")
    assert masked == f"<{MASK}>"
    assert masker.mask_text("%2Fsec%2fret") == "%2Fsec%2fret"
    slash = Masker(["sec/ret-value"])
    assert slash.mask_text("q=sec%2fret-value&") == slash.mask_text("q=sec%2Fret-value&") == f"q={MASK}&"


def test_minimal_with_many_needles_drops_those_holding_another() -> None:
    needles = {f"n{i:04d}xyz" for i in range(1100)} | {"0042x", "zzn0042xyzzz"}
    kept = set(_minimal(needles))
    assert "0042x" in kept and "n0042xyz" not in kept and "zzn0042xyzzz" not in kept
    assert "n0043xyz" in kept and len(kept) == 1100
