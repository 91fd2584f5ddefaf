"""`engine queue migrate`: create or upgrade the queue's schema (the SQLite file or the PostgreSQL tables)."""

from __future__ import annotations

import argparse
import sys

from engine.commands._common import load_config_for_command, print_error
from engine.commands.config import add_config_option

EPILOG = """\
examples:
  engine queue migrate --config engine.yaml

Creates the queue the config names if it is not there yet, or upgrades its schema to this engine's
version (each upgrade in one transaction; several nodes starting together upgrade it once). `engine
serve` does the same when it starts; run this before rolling out a new engine to many nodes, so that
none of them starts with an old schema. A schema newer than this engine is refused: upgrade the engine.
Exit status: 0 done, 2 configuration error or queue unreachable.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("queue", help="manage the queue's schema (migrate)",
                              description="The runner's durable queue.", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="queue_command", metavar="SUBCOMMAND")
    migrate = sub.add_parser("migrate", help="create the queue or upgrade its schema to this engine's version",
                             epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_option(migrate)
    migrate.set_defaults(func=run_migrate)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def run_migrate(args: argparse.Namespace) -> int:
    from engine.queue import QueueError

    config = load_config_for_command(args.config)
    if isinstance(config, int):
        return config
    where = config.queue.describe()
    try:
        if config.queue.kind == "postgres":
            from engine.queue.postgres import PostgresQueue

            queue = PostgresQueue(config.queue.dsn or "", schema=config.queue.schema, migrate=False,
                                  maintenance=False)
            with queue:
                before, after = queue.migrate()
        else:
            from engine.queue.sqlite import SCHEMA_VERSION, SQLiteQueue

            existed = (config.queue.path / "queue.db").exists()
            with SQLiteQueue(config.queue.path):
                pass
            before, after = (SCHEMA_VERSION if existed else 0), SCHEMA_VERSION
    except QueueError as exc:
        print_error(str(exc))
        return 2
    if before == after:
        print(f"queue in {where}: schema version {after}, up to date", file=sys.stderr)
    elif before == 0:
        print(f"queue in {where}: created at schema version {after}", file=sys.stderr)
    else:
        print(f"queue in {where}: schema upgraded from version {before} to {after}", file=sys.stderr)
    return 0
