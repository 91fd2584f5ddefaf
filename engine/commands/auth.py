"""`engine auth`: check a destination's credentials with the spec's test_authentication."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.commands._common import (
    add_delivery_options,
    add_dest_options,
    load_for_command,
    make_deliverer,
    print_error,
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
A spec with oauth2 first refreshes the access token (the token itself is printed as ****) and
then runs test_authentication with it; a refused refresh exits 1 with the token endpoint's answer.
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
    if dest.oauth2 is not None:
        return _run_oauth(args, dest, settings, masker)
    if dest.test_authentication is None:
        print(f"{dest.name}: settings complete; the spec defines no test_authentication request, so nothing was sent")
        return 0
    return run_once(args, dest, settings, masker, dest.test_authentication, {}, action="test_authentication",
                    success="credentials accepted", failure="credentials not accepted")


def _run_oauth(args: argparse.Namespace, dest: Any, settings: dict[str, Any], masker: Any) -> int:
    """Refresh the access token, say so, then run test_authentication (when the spec has one) with it."""
    import asyncio
    import time

    from engine.runtime.deliver import run_action
    from engine.runtime.oauth import RefreshFailed, manager_for

    async def go() -> int:
        async with make_deliverer(args, dest, masker) as deliverer:
            manager = manager_for(deliverer, dest)
            try:
                token = await manager.token(settings, deliverer)
            except RefreshFailed as exc:
                print(f"{dest.name}: {deliverer.masker.mask_text(exc.message)}", file=sys.stderr)
                excerpt = getattr(exc.outcome, "response_excerpt", None)
                if excerpt:
                    print(f"response: {excerpt}", file=sys.stderr)
                return 1
            left = (manager.expires_at or time.time()) - time.time()
            print(deliverer.masker.mask_text(f"{dest.name}: OAuth2 access token refreshed ({token}), "
                                             f"valid for {left:.0f} s"))
            if dest.test_authentication is None:
                return 0
            verdict = await run_action(dest, dest.test_authentication, {}, settings, deliverer,
                                       action="test_authentication")
            if verdict.status.value == "delivered":
                print(f"{dest.name}: credentials accepted")
                return 0
            print(f"{dest.name}: credentials not accepted: {verdict.error}", file=sys.stderr)
            if verdict.response_excerpt:
                print(f"response: {verdict.response_excerpt}", file=sys.stderr)
            return 1

    try:
        return asyncio.run(go())
    except ValueError as exc:
        print_error(str(exc))
        return 2
