"""`engine fuzz`: generated Segment events through a destination; every result must be a verdict."""

from __future__ import annotations

import argparse
import json

from engine.commands._common import given_settings, load_dest, print_error

EPILOG = """\
examples:
  engine fuzz usermotion                      200 generated events, a fixed sequence
  engine fuzz specs/acme.yaml --examples 2000 --seed 7
  engine fuzz usercom --settings '{"apiKey": "k", "appSubdomain": "acme"}'

Each example is a generated Segment event (every call type, realistic and hostile values: missing,
null and wrong-typed ids, astral-plane and right-to-left text, huge strings, deep nesting, odd
timestamps and URLs, integrations objects) and a few mocked HTTP answers (200, 404, 429, 500 with small
JSON bodies). The event runs through the spec's presets in plan mode (ok/invalid/error) and through the
real delivery code against the mocked answers, two attempts each (delivered/filtered/invalid/failed).
A Python exception, an unknown status or a failing verdict without a message is an internal error:
the minimal failing example (shrunk by hypothesis) is printed and the exit status is 1.
Messages that leak Python internals (e.g. '_Undefined') are listed as warnings.
Settings not given are filled with placeholders. Without --seed the run is the same every time.
Exit status: 0 no internal error, 1 an internal error, 2 usage error (or hypothesis not installed).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fuzz", help="run generated hostile events through a destination",
        description="Run generated Segment events through a destination (plan and mocked delivery) and check "
                    "that every result is a verdict with a clear message, never an internal error.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dest", metavar="DEST", help="a spec name in specs/ (e.g. usermotion) or a path to a spec file")
    p.add_argument("--examples", type=int, default=200, metavar="N", help="generated events (default 200)")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="random seed (default: a fixed sequence)")
    p.add_argument("--settings", metavar="JSON|@FILE", help="the destination's settings (default: placeholders)")
    p.set_defaults(func=run)


def _short(value: object, limit: int = 2000) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def run(args: argparse.Namespace) -> int:
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        print_error("engine fuzz needs the hypothesis package (pip install hypothesis, or the 'test' extra)")
        return 2
    from engine.fuzz.runner import fuzz, placeholder_settings

    if args.examples < 1:
        print_error("--examples must be at least 1")
        return 2
    dest = load_dest(args)
    if isinstance(dest, int):
        return dest
    resolved = given_settings(args, dest, base=placeholder_settings(dest.settings_spec))
    if isinstance(resolved, int):
        return resolved
    _, settings = resolved
    report = fuzz(dest, settings, examples=args.examples, seed=args.seed)
    plan = ", ".join(f"{k} {v}" for k, v in sorted(report.plan.items())) or "none"
    delivery = ", ".join(f"{k} {v}" for k, v in sorted(report.delivery.items())) or "none"
    print(f"{dest.slug}: {report.examples} events")
    print(f"  plan:     {plan}")
    print(f"  delivery: {delivery}")
    for message, event in report.unclear.items():
        print(f"  warning: a verdict's message leaks Python internals: {message}")
        print(f"           for example: {_short(event, 400)}")
    if report.failure is None:
        print("  no internal error")
        return 0
    failure = report.failure
    print(f"  INTERNAL ERROR: {failure.error}")
    print(f"  minimal event: {_short(failure.event)}")
    print(f"  mocked answers: {_short(failure.answers, 400)}")
    print("  " + "\n  ".join(failure.traceback.rstrip().splitlines()[-12:]))
    return 1
