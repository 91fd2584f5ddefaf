"""`engine config check`: validate a runner configuration and the specs it names."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """\
examples:
  engine config check                          checks ./engine.yaml
  engine config check --config examples/engine.yaml
  engine config check --format json | jq .

Checks the YAML, ${VAR} substitutions (a missing variable is named), the config schema
(schemas/config.schema.json), that every spec named exists and is valid, each instance's settings,
its mappings (at most 50; triggers, actions, fields and mapping values) and the routes.
Each problem is printed as FILE:LINE:COL: KEY.PATH: message. Secrets are never printed.
Exit status: 0 valid (warnings allowed), 1 invalid, 2 the file does not exist or cannot be read.
"""


def add_config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="engine.yaml", metavar="FILE",
                   help="the runner configuration (default: ./engine.yaml)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "config", help="check a runner configuration (engine.yaml)",
        description="Work with the runner configuration (engine.yaml).",
    )
    sub = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    check = sub.add_parser(
        "check", help="validate the configuration and the specs it names",
        description="Validate a runner configuration and report every problem at once, with its position.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_option(check)
    check.add_argument("--format", choices=["text", "json"], default="text",
                       help="text for people (default), json lines for tools")
    check.set_defaults(func=run_check)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def run_check(args: argparse.Namespace) -> int:
    import orjson

    from engine.config import check_config

    path = Path(args.config)
    if not path.is_file():
        print(f"engine config check: {path}: no such file", file=sys.stderr)
        return 2
    config, diags = check_config(path)
    errors = [d for d in diags if d.severity == "error"]
    if errors and len(errors) == 1 and errors[0].message.startswith("cannot read the file"):
        print(errors[0], file=sys.stderr)
        return 2
    for diag in diags:
        if args.format == "json":
            sys.stdout.write(orjson.dumps(diag.to_json()).decode() + "\n")
        else:
            print(diag)
    queue_problem = None
    if config is not None:  # the queue must be reachable and writable (nothing is created to check it)
        from engine.queue.sqlite import check_queue_path

        if config.queue.kind == "postgres":
            from engine.queue.postgres import check_postgres

            queue_problem = check_postgres(config.queue.dsn or "", config.queue.schema)
        else:
            queue_problem = check_queue_path(config.queue.path)
        if queue_problem:
            key = "queue.dsn" if config.queue.kind == "postgres" else "queue.path"
            print(f"{path}: {key}: {queue_problem}", file=sys.stderr)
            return 1
    if args.format == "text":
        warnings = len(diags) - len(errors)
        if config is not None:
            enabled = len(config.enabled_destinations)
            print(f"{path}: ok: {len(config.sources)} source{'s' if len(config.sources) != 1 else ''}, "
                  f"{len(config.destinations)} destination instance{'s' if len(config.destinations) != 1 else ''} "
                  f"({enabled} enabled), {len(config.routes)} route{'s' if len(config.routes) != 1 else ''}, "
                  f"queue in {config.queue.describe()}"
                  + (f"; {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""), file=sys.stderr)
        else:
            print(f"{path}: invalid: {len(errors)} error{'s' if len(errors) != 1 else ''}"
                  + (f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""), file=sys.stderr)
    return 1 if errors else 0
