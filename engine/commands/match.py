"""`engine match`: run a trigger (Segment FQL) on JSON-lines events, one true/false line per event."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import orjson

DESCRIPTION = """\
Test a trigger (Segment's FQL subscription language, as in a preset's `subscribe`) against
events. Input is JSON lines, one event object per line, from FILE or stdin (blank lines are
skipped). Each input line gives one output line:
  true | false              whether the trigger matches the event
  {"error": "line N: ..."}  the line is not JSON or not an object (processing goes on)

By default the trigger is compiled strictly: a trigger Segment would reject, or would silently
read differently from how it is written (mixed and/or without parentheses, upper-case AND,
match() without *, unknown fields, ...), exits 2 with the column and an explanation.
With --segment the trigger is evaluated exactly as Segment does, misreads included.
"""

EPILOG = """\
examples:
  echo '{"type": "track", "properties": {"total": 10}}' | engine match 'type = "track" and properties.total > 5'
  true
  engine match 'event = "Order Completed" or event = "Signed Up"' events.jsonl
  engine match --segment 'type = "identify" and event = "X" or userId = "u1"' events.jsonl

exit status: 0 all input processed, 2 invalid trigger or unreadable FILE. See docs/triggers.md.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "match",
        help="test a trigger (FQL) against JSON-lines events",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("trigger", metavar="TRIGGER", help='a trigger, e.g. \'type = "track"\'')
    parser.add_argument("file", metavar="FILE", nargs="?", default="-",
                        help="JSON lines input, or - for stdin (default)")
    parser.add_argument("--segment", action="store_true",
                        help="evaluate exactly as Segment does (misreads included) instead of refusing them")
    parser.set_defaults(func=run)


def _segment_predicate(text: str) -> Callable[[dict[str, Any]], bool]:
    from engine.trigger import match_segment, parse_segment

    ast = parse_segment(text)
    if "error" in ast:
        print(f"engine: trigger: Segment rejects this trigger ({ast['error']}); it matches no event",
              file=sys.stderr)
    return lambda event: match_segment(ast, event)


def run(args: argparse.Namespace) -> int:
    from engine.trigger import SegmentTypeError, TriggerError, compile_trigger

    if args.segment:
        predicate = _segment_predicate(args.trigger)
    else:
        try:
            predicate = compile_trigger(args.trigger)
        except TriggerError as err:
            print(f"engine: trigger: {err}", file=sys.stderr)
            return 2
    try:
        source = getattr(sys.stdin, "buffer", sys.stdin) if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as err:
        print(f"engine: match: cannot read {args.file}: {err.strerror or err}", file=sys.stderr)
        return 2
    out: list[str] = []
    write = sys.stdout.write
    with source:
        for number, raw in enumerate(source, start=1):
            if not raw.strip():
                continue
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError as err:
                out.append(orjson.dumps({"error": f"line {number}: invalid JSON: {err}"}).decode())
            else:
                if type(event) is not dict:
                    kind = {list: "an array", str: "a string", type(None): "null"}.get(type(event), "a scalar")
                    out.append(orjson.dumps({"error": f"line {number}: expected an event object, got {kind}"})
                               .decode())
                else:
                    try:
                        out.append("true" if predicate(event) else "false")
                    except SegmentTypeError as err:
                        out.append(orjson.dumps({"error": f"line {number}: TypeError: {err}"}).decode())
            if len(out) >= 1024:
                write("\n".join(out) + "\n")
                out.clear()
    if out:
        write("\n".join(out) + "\n")
    sys.stdout.flush()
    return 0
