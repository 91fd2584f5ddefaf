"""Options and loading shared by the commands that run a destination (plan, send, auth, delete)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the heavy stages load only when a command runs, keeping `engine --help` fast
    from engine.runtime.destination import Destination, Subscription
    from engine.secrets import Masker


def print_error(message: str) -> None:
    print(f"engine: {message}", file=sys.stderr)


def add_dest_options(p: argparse.ArgumentParser, *, events: bool = True) -> None:
    p.add_argument("dest", metavar="DEST", help="a spec name in specs/ (e.g. usermotion) or a path to a spec file")
    p.add_argument("--settings", metavar="JSON|@FILE", help="the destination's settings as JSON text or @file")
    p.add_argument("--show-secrets", action="store_true", help="print password settings instead of ****")
    if events:
        p.add_argument("--action", metavar="NAME", help="run this action on every event (default: the spec's presets)")
        p.add_argument("--mapping", metavar="JSON|@FILE", help="with --action: overrides of the action's field defaults")
        p.add_argument("input", nargs="?", default="-", metavar="FILE", help="events file (default: standard input)")


def add_delivery_options(p: argparse.ArgumentParser, *, concurrency: bool = True) -> None:
    """Options of the commands that send requests (send, auth, delete)."""
    if concurrency:
        p.add_argument("--concurrency", type=int, default=16, metavar="N", help="requests in flight at once (default 16)")
    p.add_argument("--route", action="append", default=[], metavar="HOST=BASE_URL",
                   help="send requests for HOST to BASE_URL instead (repeatable)")
    p.add_argument("--attempts", type=int, default=5, metavar="N", help="attempts per request, retries included (default 5)")
    p.add_argument("--deadline", type=float, default=120.0, metavar="SECONDS",
                   help="give up retrying a request after this long (default 120)")
    p.add_argument("--transport", choices=["auto", "h1", "aiohttp", "httpx", "sink"], default="auto",
                   help="HTTP transport: auto (the lean HTTP/1.1 client h1), aiohttp, httpx, or sink (capture, send "
                        "nothing)")


def make_deliverer(args: argparse.Namespace, dest: Destination, masker: Masker) -> Any:
    """A Deliverer for `dest` from the delivery options (raises ValueError for a bad --route)."""
    from engine.delivery.client import Deliverer
    from engine.delivery.retry import RetryPolicy
    from engine.delivery.transports import make_transport, parse_routes

    if getattr(args, "attempts", 1) < 1 or getattr(args, "concurrency", 1) < 1:
        raise ValueError("--concurrency and --attempts must be at least 1")
    routes = parse_routes(args.route)
    concurrency = getattr(args, "concurrency", 4)
    return Deliverer(
        make_transport(routes, args.transport, max_connections=concurrency),
        RetryPolicy(attempts=args.attempts, deadline=args.deadline),
        concurrency=concurrency, masker=masker, errors_table=dest.spec.get("errors"),
        default_timeout=float((dest.spec.get("request_defaults") or {}).get("timeout", 10.0)),
        redirects=dest.spec.get("redirects"),
    )


def run_once(args: argparse.Namespace, dest: Destination, settings: dict[str, Any], masker: Masker,
             runnable: Any, payload: dict[str, Any], *, action: str, success: str, failure: str) -> int:
    """Run one runnable (test_authentication, on_delete) with retries and report the verdict:
    exit 0 with `success` printed, 1 with `failure`, the reason, the spec's hint and the response."""
    import asyncio

    from engine.runtime.deliver import run_action

    async def go() -> Any:
        async with make_deliverer(args, dest, masker) as deliverer:
            return await run_action(dest, runnable, payload, settings, deliverer, action=action)

    try:
        verdict = asyncio.run(go())
    except ValueError as exc:
        print_error(str(exc))
        return 2
    if verdict.status.value == "delivered":
        print(f"{dest.name}: {success}")
        return 0
    print(f"{dest.name}: {failure}: {verdict.error}", file=sys.stderr)
    if verdict.hint:
        print(f"hint: {verdict.hint}", file=sys.stderr)
    if verdict.response_excerpt:
        print(f"response: {verdict.response_excerpt}", file=sys.stderr)
    return 1


def load_dest(args: argparse.Namespace) -> Destination | int:
    """The destination named by DEST, checked and compiled; on a problem print it and return 2."""
    from engine.diagnostics import SpecError
    from engine.runtime.destination import load_destination

    try:
        return load_destination(args.dest)
    except FileNotFoundError as exc:
        print_error(str(exc))
        return 2
    except SpecError as exc:
        for diag in exc.diagnostics:
            print(diag, file=sys.stderr)
        print_error(f"{args.dest}: the spec is invalid ({len(exc.diagnostics)} problem{'s' if len(exc.diagnostics) != 1 else ''}); fix it first (engine validate)")
        return 2


def load_config_for_command(path: str, *, invalid_status: int = 2) -> Any:
    """The runner config at `path`, or an exit code after printing why not (every located problem)."""
    from pathlib import Path

    from engine.config import ConfigError, load_config

    if not Path(path).is_file():
        print_error(f"{path}: no such file (give the runner's configuration with --config; see examples/engine.yaml)")
        return 2
    try:
        return load_config(path)
    except ConfigError as exc:
        for diag in exc.diagnostics:
            print(diag, file=sys.stderr)
        print_error(f"{path}: the config is invalid; see engine config check --config {path}")
        return invalid_status


def given_settings(args: argparse.Namespace, dest: Destination, *, base: dict[str, Any] | None = None,
                   placeholders: bool = False) -> tuple[dict[str, Any], dict[str, Any]] | int:
    """(--settings as given over `base`, the resolved settings); with `placeholders`, missing required
    settings become `<name>` (and are said so); on a problem print it and return 2."""
    from engine.events import parse_json_arg
    from engine.runtime.settings import SettingsError, resolve_settings

    try:
        given = parse_json_arg(args.settings, "--settings") or {}
        if not isinstance(given, dict):
            raise ValueError("--settings: expected a JSON object")
        given = {**(base or {}), **given}
        if placeholders:
            missing = [k for k, s in dest.settings_spec.items()
                       if s.get("required") and given.get(k) in (None, "") and s.get("default") in (None, "")]
            if missing:
                print_error(f"settings not given: {', '.join(missing)}; showing placeholders like <{missing[0]}>")
                given = {**given, **{k: f"<{k}>" for k in missing}}
        return given, resolve_settings(dest.settings_spec, given)
    except (ValueError, SettingsError) as exc:
        print_error(str(exc))
        return 2


def load_for_command(args: argparse.Namespace, *, placeholders: bool = False
                     ) -> int | tuple[Destination, dict[str, Any], list[Subscription], Masker]:
    """Load the destination, settings and subscriptions; on a problem print it and return an exit code."""
    from engine.events import parse_json_arg
    from engine.runtime.settings import secret_values
    from engine.secrets import Masker

    dest = load_dest(args)
    if isinstance(dest, int):
        return dest
    resolved = given_settings(args, dest, placeholders=placeholders)
    if isinstance(resolved, int):
        return resolved
    given, settings = resolved
    placeheld = {k: v for k, v in given.items() if isinstance(v, str) and v == f"<{k}>"}
    secrets = [v for v in secret_values(dest.settings_spec, settings) if v not in placeheld.values()]
    masker = Masker.empty() if args.show_secrets else Masker(secrets)
    subs: list[Subscription]
    try:
        overrides = parse_json_arg(getattr(args, "mapping", None), "--mapping")
        if overrides is not None and not isinstance(overrides, dict):
            raise ValueError("--mapping: expected a JSON object of field -> mapping value")
        if overrides is not None and not getattr(args, "action", None):
            raise ValueError("--mapping needs --action (which action's fields it overrides)")
        subs = dest.subscriptions(getattr(args, "action", None), overrides)
    except (ValueError, KeyError) as exc:
        print_error(str(exc).strip("'\""))
        return 2
    except Exception as exc:  # a mapping override that does not compile
        from engine.mapping import MappingError

        if not isinstance(exc, MappingError):
            raise
        for issue in exc.issues:
            print_error(f"--mapping: {issue.message}")
        return 2
    return dest, settings, subs, masker
