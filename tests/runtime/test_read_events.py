"""Reading JSON lines (engine/events.py): `read_events` parses each line first and looks at blank lines only when a
line does not parse; it gives what the plain reading gives (skip blank lines, parse the rest, split batch objects)
for any mix of events, batches, blank and whitespace lines, bad JSON and non-objects."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.events import InputItem, describe_json, read_events


def _plain_lines(lines: Any, start: int) -> Iterator[tuple[int, Any, Any]]:
    """The reading written plainly: strip-check every line, then parse it."""
    for number, line in enumerate(lines, start):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield (number, None, f"line {number}: invalid JSON: {exc}")
            continue
        if isinstance(value, dict) and isinstance(value.get("batch"), list):
            for i, item in enumerate(value["batch"], 1):
                if isinstance(item, dict):
                    yield (number, item, None)
                else:
                    yield (number, None, f"line {number}: item {i}: expected a JSON object, found {describe_json(item)}")
        elif isinstance(value, dict):
            yield (number, value, None)
        else:
            yield (number, None, f"line {number}: expected a JSON object, found {describe_json(value)}")


def _view(items: Iterator[InputItem]) -> list[tuple[int, Any, Any]]:
    return [(i.number, i.event, i.error) for i in items]


event = st.dictionaries(st.sampled_from(["type", "userId", "batch", "x"]),
                        st.one_of(st.none(), st.integers(0, 3), st.text(max_size=3)), max_size=3)
line = st.one_of(
    event.map(orjson.dumps),
    st.lists(st.one_of(event, st.integers(0, 2), st.none()), max_size=3).map(lambda b: orjson.dumps({"batch": b})),
    st.sampled_from([b"", b"   ", b"\t", b"\r", b"\x0c", b"\x0b", b" \x0c ", b"{", b"[]", b"1", b'"s"', b"null",
                     b"\x0c{}", b" {} ", b"{}\x0b", b'{"batch": 1}', b'{"a":1}{"b":2}', b"\xff", b"nul"]),
)


@settings(max_examples=300, deadline=None)
@given(first=event.map(orjson.dumps), rest=st.lists(line, max_size=8), crlf=st.booleans())
def test_json_lines_read_as_the_plain_reading(first: bytes, rest: list[bytes], crlf: bool) -> None:
    end = b"\r\n" if crlf else b"\n"
    data = first + end + b"".join(part + end for part in rest)
    items = _view(read_events(io.BytesIO(data)))
    assert items[0] == (1, orjson.loads(first), None)
    assert items[1:] == list(_plain_lines(list(io.BytesIO(data))[1:], 2))
