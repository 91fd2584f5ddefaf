"""`engine auth`: check a destination's credentials with the spec's test_authentication."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from engine.commands._common import (
    add_delivery_options,
    add_dest_options,
    load_for_command,
    make_deliverer,
    print_error,
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
    try:
        verdict = asyncio.run(_check(args, dest, settings, masker))
    except ValueError as exc:
        print_error(str(exc))
        return 2
    if verdict.status.value == "delivered":
        print(f"{dest.name}: credentials accepted")
        return 0
    print(f"{dest.name}: credentials not accepted: {verdict.error}", file=sys.stderr)
    if verdict.hint:
        print(f"hint: {verdict.hint}", file=sys.stderr)
    if verdict.response_excerpt:
        print(f"response: {verdict.response_excerpt}", file=sys.stderr)
    return 1


async def _check(args: argparse.Namespace, dest: Any, settings: dict[str, Any], masker: Any) -> Any:
    from engine.runtime.deliver import run_action

    async with make_deliverer(args, dest, masker) as deliverer:
        return await run_action(dest, dest.test_authentication, {}, settings, deliverer, action="test_authentication")
