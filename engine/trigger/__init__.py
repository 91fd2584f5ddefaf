"""Segment's trigger language (FQL subscriptions), in Jinja-style stages.

    lexer.py    text -> tokens, exactly as Segment's fql-ts cuts them
    segment.py  Segment-exact layer: parse_segment (parseFql) and match_segment (validate), misreads included
    parser.py   tokens -> the strict tree; refuses what Segment would misread
    compile.py  strict tree -> a Trigger (closures), checked against Segment's own reading

Everything in the engine uses `compile_trigger(text)(event)`. See docs/triggers.md.
"""

from engine.trigger.compile import OPERATORS, Trigger, compile_trigger
from engine.trigger.errors import TriggerError
from engine.trigger.segment import SegmentTypeError, match_segment, parse_segment

__all__ = [
    "OPERATORS",
    "SegmentTypeError",
    "Trigger",
    "TriggerError",
    "compile_trigger",
    "match_segment",
    "parse_segment",
]
