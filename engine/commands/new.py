"""`engine new NAME`: scaffold a spec and its tests file."""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  engine new acme                  writes specs/acme.yaml and specs/acme.tests.yaml
  engine new acme --dir my-specs

Both files validate and pass from the start; their comments explain the format. Then:
  engine validate specs/acme.yaml && engine test acme
Existing files are never overwritten. Exit status: 0 written, 2 bad name or a file exists.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "new", help="scaffold a destination spec and its tests file",
        description="Write a commented starter spec and tests file for a new destination.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", metavar="NAME", help="the destination's slug: lower-case letters, digits, - and _")
    p.add_argument("--dir", default="specs", metavar="FOLDER", help="where to write (default: specs/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.authoring.scaffold import scaffold

    try:
        paths = scaffold(args.name, args.dir)
    except (ValueError, FileExistsError) as exc:
        print(f"engine new: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"engine new: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    spec = paths[0]
    print(f"next: engine validate {spec} && engine test {spec}", file=sys.stderr)
    return 0
