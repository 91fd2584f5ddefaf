"""`mask_json` looks for needles holding a rare character by that character, then compares only the needles whose
next characters match the text there: texts crowded with those characters and with near-misses of the needles
give exactly what the walk gives."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.secrets import Masker, secret_forms


def walked(masker: Masker, data: Any) -> bytes:
    return orjson.dumps(masker.mask(data))


@st.composite
def crowded(draw: st.DrawFn) -> tuple[list[str], Any]:
    secrets = draw(st.lists(st.text(st.sampled_from("QZXJqzab12-"), min_size=4, max_size=9), min_size=1, max_size=3))
    forms = sorted({f for s in secrets for f in secret_forms(s)})
    # pieces of forms cut anywhere (near-misses around the anchor), whole forms, and the rare characters alone
    cut = st.builds(lambda f, i, j: f[min(i, j):max(i, j)], st.sampled_from(forms), st.integers(0, 20),
                    st.integers(0, 20))
    piece = cut | st.sampled_from(forms) | st.sampled_from(list("QZXJVQZZ")) | st.text("abQZ", max_size=3)
    texts = st.lists(piece, max_size=12).map("".join)
    data = st.recursive(texts, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(texts, kids, max_size=5),
                        max_leaves=20)
    return secrets, draw(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(case=crowded())
def test_crowded_anchor_characters_give_the_walk(case):
    secrets, data = case
    masker = Masker(secrets)
    assert masker.mask_json(orjson.dumps(data)) == walked(masker, data)


def test_needles_sharing_an_anchor_are_told_apart_by_what_follows_it():
    masker = Masker(["aZbc", "aZcd", "xZbcq"])
    text = "Z" * 40 + " aZcd " + "aZb" * 5 + " xZbcq aZbc"
    out = orjson.loads(masker.mask_json(orjson.dumps({"t": text})))["t"]
    assert out == masker.mask_text(text) == "Z" * 40 + " **** " + "aZb" * 5 + " **** ****"
