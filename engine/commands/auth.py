"""`engine auth`: check a destination's credentials with the spec's test_authentication."""

from __future__ import annotations

import argparse

from engine.commands._common import (
    add_delivery_options,
    add_dest_options,
    load_for_command,
    run_once,
)

EPILOG = """\
examples:
  engine auth userpilot --settings '{"apiKey": "..."}'
  engine auth usercom --settings @usercom.json
  engine auth usermotion --settings @um.json --route api.usermotion.com=http://127.0.0.1:9000

Runs the spec's test_authentication (a request or steps). Exit status: 0 the credentials work,
1 the destination refused them (the reason and the spec's hint are printed), 2 usage errors or
invalid settings. A spec without test_authentication only checks that the settings are complete.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "auth", help="check a destination's credentials",
        description="Check that the settings (credentials) of a destination work, with the spec's test_authentication.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dest_options(p, events=False)
    add_delivery_options(p, concurrency=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    loaded = load_for_command(args)
    if isinstance(loaded, int):
        return loaded
    dest, settings, _, masker = loaded
    if dest.test_authentication is None:
        print(f"{dest.name}: settings complete; the spec defines no test_authentication request, so nothing was sent")
        return 0
    return run_once(args, dest, settings, masker, dest.test_authentication, {}, action="test_authentication",
                    success="credentials accepted", failure="credentials not accepted")
