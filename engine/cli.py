"""The `engine` command line: one sub-command per module in `engine.commands`.

Each module there defines `register(subparsers)`, which adds its parser and sets
`func(args) -> int` as the parser default. Exit codes: 0 success, 1 the input was
judged and found wanting (invalid spec, failed delivery), 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import engine.commands

DESCRIPTION = """\
A declarative destination engine. Destinations are YAML specs (settings, presets with
triggers, actions with field mappings, request templates); one generic engine validates
them, shows what request an event becomes, and delivers events with retries.

Start with:
  engine validate specs/            check every spec, with file:line:col for each problem
  engine plan usermotion events.jsonl   show the requests events become (nothing is sent)
  engine <command> --help           what a command takes and prints
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engine",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("engine")
    except PackageNotFoundError:  # run from a checkout that is not installed
        installed = "unknown"
    parser.add_argument("--version", action="version", version=f"engine {installed}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(engine.commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"engine.commands.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    # argparse fills an optional positional (the input FILE) early, so `engine send DEST --opt X FILE`
    # leaves FILE over; give it to `input` when that is still at its default.
    if len(extras) == 1 and (extras[0] == "-" or not extras[0].startswith("-")) and getattr(args, "input", None) == "-":
        args.input, extras = extras[0], []
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("engine: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
