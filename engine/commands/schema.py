"""`engine schema`: print the JSON Schema of the spec format (for editors and tools)."""

from __future__ import annotations

import argparse
import sys

from engine.spec.schema import schema_path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "schema", help="print the JSON Schema of the spec format",
        description="Print schemas/destination.schema.json. Editors use it for completion: put\n"
                    "  # yaml-language-server: $schema=../schemas/destination.schema.json\n"
                    "as the first line of a spec.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_path().read_text(encoding="utf-8"))
    return 0
