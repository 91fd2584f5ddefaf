"""`engine delete`: ask a destination to delete a user, with the spec's on_delete."""

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
  engine delete userpilot --settings @up.json --user-id user-42
  engine delete userpilot --settings @up.json --user-id user-42 --route analytex.userpilot.io=http://127.0.0.1:9000

Runs the spec's on_delete with payload.userId set to --user-id. Exit status: 0 the deletion was
accepted, 1 it failed (the reason is printed), 2 usage errors, invalid settings, or a spec that
defines no on_delete.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "delete", help="delete a user's data at a destination",
        description="Send a destination's user deletion request (the spec's on_delete) for one user.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dest_options(p, events=False)
    p.add_argument("--user-id", required=True, metavar="ID", help="the user to delete")
    add_delivery_options(p, concurrency=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.user_id.strip():
        print_error("--user-id must not be empty")
        return 2
    loaded = load_for_command(args)
    if isinstance(loaded, int):
        return loaded
    dest, settings, _, masker = loaded
    if dest.on_delete is None:
        print_error(f"{dest.name} defines no on_delete: this destination has no deletion request")
        return 2
    try:
        verdict = asyncio.run(_delete(args, dest, settings, masker))
    except ValueError as exc:
        print_error(str(exc))
        return 2
    if verdict.status.value == "delivered":
        print(f"{dest.name}: deletion of user {args.user_id!r} accepted")
        return 0
    print(f"{dest.name}: deletion failed: {verdict.error}", file=sys.stderr)
    if verdict.hint:
        print(f"hint: {verdict.hint}", file=sys.stderr)
    return 1


async def _delete(args: argparse.Namespace, dest: Any, settings: dict[str, Any], masker: Any) -> Any:
    from engine.runtime.deliver import run_action

    async with make_deliverer(args, dest, masker) as deliverer:
        return await run_action(dest, dest.on_delete, {"userId": args.user_id}, settings, deliverer, action="on_delete")
