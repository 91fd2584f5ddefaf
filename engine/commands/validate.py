"""`engine validate`: report every problem in spec files, each with file:line:col."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from engine.spec.validate import spec_files, validate_path

EPILOG = """\
examples:
  engine validate                      every spec under specs/
  engine validate specs/usermotion.yaml
  engine validate --format json specs/ | jq .

Each problem is printed as FILE:LINE:COL: KEY.PATH: message, sorted by position.
Exit status: 0 all specs valid (warnings allowed unless --strict), 1 a spec is invalid,
2 a path does not exist or cannot be read.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "validate", help="check spec files and report every problem with its position",
        description="Check destination specs against the spec format and report every problem at once.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="*", default=["specs"], metavar="PATH", help="spec files or folders (default: specs/)")
    p.add_argument("--format", choices=["text", "json"], default="text", help="text for people (default), json lines for tools")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        for p in missing:
            print(f"engine validate: {p}: no such file or folder", file=sys.stderr)
        return 2
    files = spec_files(args.paths)
    if not files:
        print(f"engine validate: no spec files (*.yaml) in {', '.join(args.paths)}", file=sys.stderr)
        return 2
    errors = warnings = 0
    for path in files:
        for diag in validate_path(path):
            if diag.severity == "warning":
                warnings += 1
            else:
                errors += 1
            if args.format == "json":
                sys.stdout.write(orjson.dumps(diag.to_json()).decode() + "\n")
            else:
                print(diag)
    if args.format == "text":
        status = "ok" if not errors and not (args.strict and warnings) else "invalid"
        print(f"{len(files)} spec{'s' if len(files) != 1 else ''} checked: {errors} error{'s' if errors != 1 else ''}, "
              f"{warnings} warning{'s' if warnings != 1 else ''} ({status})", file=sys.stderr)
    return 1 if errors or (args.strict and warnings) else 0
