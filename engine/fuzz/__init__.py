"""Fuzzing: hypothesis strategies for Segment events (`segment_events`) and the `engine fuzz` runner.

Needs the `hypothesis` package (in the `test` extra). Authors use the strategy in their own tests:

    from hypothesis import given
    from engine.fuzz import segment_events

    @given(segment_events(["track"]))
    def test_track(event): ...
"""

from engine.fuzz.strategies import (
    CALL_TYPES,
    hostile_text,
    ids,
    json_values,
    segment_events,
    timestamps,
    urls,
)

__all__ = ["CALL_TYPES", "hostile_text", "ids", "json_values", "segment_events", "timestamps", "urls"]
