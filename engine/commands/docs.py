"""`engine docs`: write a destination's catalog page (Markdown) from its spec."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """\
examples:
  engine docs usermotion                      the page on standard output
  engine docs usermotion --out usermotion.md
  engine docs --all --out docs/catalog/       one page per spec in specs/, named <slug>.md

The page lists what the destination accepts, its name for the integrations object, the
settings, the presets (name, trigger, default action) and every action with its default
trigger and fields. An invalid spec is refused with its problems (as engine validate prints them).
Exit status: 0 written, 1 a spec is invalid, 2 usage or I/O error.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "docs", help="write a destination's catalog page in Markdown",
        description="Write the catalog page of a destination (or of every spec with --all) in Markdown.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dest", nargs="?", metavar="DEST", help="a spec name in specs/ (e.g. usermotion) or a path to a spec file")
    p.add_argument("--all", action="store_true", help="every spec in --specs; needs --out FOLDER")
    p.add_argument("--out", metavar="FILE|FOLDER", help="write here instead of standard output (a folder with --all)")
    p.add_argument("--specs", default="specs", metavar="FOLDER", help="with --all: where the specs are (default: specs/)")
    p.set_defaults(func=run)


def _err(message: str) -> None:
    print(f"engine docs: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from engine.authoring.docs import InvalidSpec, page_for
    from engine.runtime.destination import resolve_spec_path
    from engine.spec.validate import spec_files

    if args.all == bool(args.dest):
        _err("give one DEST, or --all (not both)")
        return 2
    if args.all:
        if not args.out:
            _err("--all needs --out FOLDER")
            return 2
        if not Path(args.specs).is_dir():
            _err(f"{args.specs}: no such folder")
            return 2
        jobs = [(p, Path(args.out) / f"{p.name.split('.')[0]}.md") for p in spec_files([args.specs])]
    else:
        try:
            path = resolve_spec_path(args.dest)
        except FileNotFoundError as exc:
            _err(str(exc))
            return 2
        jobs = [(path, Path(args.out) if args.out else None)]
    status = 0
    for path, out in jobs:
        try:
            page = page_for(path)
        except InvalidSpec as exc:
            for diag in exc.diagnostics:
                print(diag, file=sys.stderr)
            _err(f"{exc}; fix it first (engine validate)")
            status = 1
            continue
        if out is None:
            sys.stdout.write(page)
            continue
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(page, encoding="utf-8")
        except OSError as exc:
            _err(f"{out}: {exc.strerror}")
            return 2
        print(f"wrote {out}", file=sys.stderr)
    return status
