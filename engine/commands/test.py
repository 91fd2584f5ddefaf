"""`engine test`: run the fixture cases beside each spec, with HTTP mocked."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

EPILOG = """\
examples:
  engine test                       every spec in specs/ that has a tests file
  engine test acme                  specs/acme.yaml with specs/acme.tests.yaml
  engine test acme --update         rewrite each case's expect from the current output
  engine test acme --watch          rerun whenever the spec or its tests file changes

Cases live in specs/<name>.tests.yaml (format: docs/authoring.md). Requests are mocked: a case's
`responses` answer by method and URL, anything else gets 200 {}. A failing case prints a diff of
expected vs actual; each spec ends with the actions, presets and fields no case exercised.
Exit status: 0 every case passed, 1 a case failed (or a spec or tests file is invalid), 2 usage error.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "test", help="run a spec's fixture cases with HTTP mocked",
        description="Run the cases in specs/<name>.tests.yaml through each spec, HTTP mocked, and compare.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("specs", nargs="*", metavar="SPEC", help="spec names or files (default: every spec in specs/)")
    p.add_argument("--update", action="store_true", help="rewrite expectations from the current output and show changes")
    p.add_argument("--watch", action="store_true", help="rerun when a spec or tests file changes (Ctrl-C stops)")
    p.add_argument("--interval", type=float, default=0.5, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def _err(message: str) -> None:
    print(f"engine test: {message}", file=sys.stderr)


def _resolve(names: list[str]) -> list[Path] | None:
    from engine.runtime.destination import resolve_spec_path
    from engine.spec.validate import spec_files

    if not names:
        if not Path("specs").is_dir():
            _err("no specs/ folder here; name the specs to test")
            return None
        return spec_files(["specs"])
    out: list[Path] = []
    for name in names:
        if name.endswith((".tests.yaml", ".tests.yml")):
            name = name.rsplit(".tests.", 1)[0] + ".yaml"
        if Path(name).is_dir():
            out.extend(spec_files([name]))
            continue
        try:
            out.append(resolve_spec_path(name))
        except FileNotFoundError as exc:
            _err(str(exc))
            return None
    return out


def run_once(specs: list[Path], update: bool) -> int:
    from engine.authoring.fixtures import run_spec

    passed = failed = updated = skipped = 0
    for spec in specs:
        report = run_spec(spec, update=update)
        print("\n".join(report.lines), flush=True)
        passed += report.passed
        failed += report.failed
        updated += report.updated
        skipped += report.skipped
    tested = len(specs) - skipped
    cases = passed + failed + updated
    print(f"{tested} spec{'s' if tested != 1 else ''} tested ({skipped} without tests file): "
          f"{cases} case{'s' if cases != 1 else ''}, {passed} passed, {failed} failed"
          + (f", {updated} updated" if update else ""), flush=True)
    return 1 if failed else 0


def _stamps(specs: list[Path]) -> dict[Path, float]:
    from engine.authoring.fixtures import tests_path

    out = {}
    for spec in specs:
        for path in (spec, tests_path(spec)):
            try:
                out[path] = path.stat().st_mtime_ns
            except OSError:
                out[path] = -1
    return out


def run(args: argparse.Namespace) -> int:
    if args.watch and args.update:
        _err("--watch and --update do not go together")
        return 2
    specs = _resolve(args.specs)
    if specs is None:
        return 2
    status = run_once(specs, args.update)
    if not args.watch:
        return status
    del status
    print("watching for changes (Ctrl-C stops)", file=sys.stderr, flush=True)
    stamps = _stamps(specs)
    while True:
        time.sleep(args.interval)
        now = _stamps(specs)
        if now != stamps:
            changed = ", ".join(str(p) for p in now if now[p] != stamps.get(p))
            stamps = now
            print(f"\n--- {changed} changed; rerunning ({time.strftime('%H:%M:%S')}) ---", flush=True)
            run_once(specs, False)
