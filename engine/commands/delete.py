"""`engine delete`: ask a destination to delete a user, with the spec's on_delete."""

from __future__ import annotations

import argparse

from engine.commands._common import (
    add_delivery_options,
    add_dest_options,
    load_for_command,
    print_error,
    run_once,
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
    return run_once(args, dest, settings, masker, dest.on_delete, {"userId": args.user_id}, action="on_delete",
                    success=f"deletion of user {args.user_id!r} accepted", failure="deletion failed")
