"""`engine map`: apply a Segment mapping to JSON-lines events, one result line per event."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from engine.jsvalues import UNDEFINED

DESCRIPTION = """\
Apply a mapping (Segment mapping-kit: @path, @template, @if, @arrayPath, @liquid, ...) to
events. MAPPING is JSON text or @path/to/mapping.json. Input is JSON lines, one event object
per line (blank lines are skipped), from FILE or stdin. Each input line gives one output line:
  {"output": <value>}   the mapped value
  {}                    the mapping resolved to undefined
  {"error": "..."}      invalid JSON, a non-object event, or a runtime error of the mapping
An invalid MAPPING prints every validation problem and exits 2.
"""

EPILOG = """\
example:
  echo '{"traits": {"email": "a@b.co"}}' | engine map '{"email": {"@path": "$.traits.email"}}'
  {"output":{"email":"a@b.co"}}
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "map",
        help="apply a mapping to JSON-lines events",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("mapping", metavar="MAPPING", help="JSON text, or @file.json")
    parser.add_argument(
        "file", metavar="FILE", nargs="?", default="-", help="JSON lines input (default: stdin)"
    )
    parser.add_argument(
        "--segment",
        action="store_true",
        help="validate exactly like Segment (do not look inside arrays); default is strict",
    )
    parser.set_defaults(func=run)


def _load_mapping(text: str) -> Any:
    if text.startswith("@"):
        return orjson.loads(Path(text[1:]).read_bytes())
    return orjson.loads(text)


def _line(result: dict) -> bytes:
    try:
        return orjson.dumps(result) + b"\n"
    except TypeError as err:
        return orjson.dumps({"error": f"output is not JSON: {err}"}) + b"\n"


def run(args: argparse.Namespace) -> int:
    from engine.mapping import MappingError, MappingRuntimeError, compile_transform

    try:
        mapping = _load_mapping(args.mapping)
    except (OSError, orjson.JSONDecodeError) as err:
        print(f"engine map: cannot read MAPPING: {err}", file=sys.stderr)
        return 2
    try:
        apply = compile_transform(mapping, strict=not args.segment)
    except MappingError as err:
        for issue in err.issues:
            print(f"engine map: {issue.message}", file=sys.stderr)
        return 2
    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as err:
        print(f"engine map: cannot read {args.file}: {err}", file=sys.stderr)
        return 2
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    with source:
        for raw in source:
            if not raw.strip():
                continue
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError as err:
                result: dict = {"error": f"invalid JSON: {err}"}
            else:
                try:
                    value = apply(event)
                except MappingRuntimeError as err:
                    result = {"error": str(err)}
                else:
                    result = {} if value is UNDEFINED else {"output": value}
            line = _line(result)
            if out is not None:
                out.write(line)
            else:
                sys.stdout.write(line.decode())
    if out is not None:
        out.flush()
    return 0
