"""Fixtures: `specs/<name>.tests.yaml` cases run through the runtime with HTTP mocked.

A tests file is a list of cases:

    - name: a track event becomes one POST     # required, unique
      event: {type: track, ...}                # required: the Segment event ...
      events: [{type: track, ...}, ...]        # ... or several, delivered together (batch requests)
      settings: {apiKey: test-key}             # the destination's settings
      preset: Track Event                      # optional: run only this preset
      action: trackEvent                       # optional: run this action directly (no trigger) ...
      mapping: {field: mapping value}          # ... with these overrides of its field defaults
      responses:                               # optional mocks, matched by method and URL, used in
        - {method: POST, url: ..., status: 500, headers: {}, json: {}}   # order (the last repeats);
                                               # a mock that answers no request fails the case
      expect:                                  # the requests sent (headers compared as a subset) ...
        requests: [{method, url, headers, body}]
        status: delivered|filtered|invalid|error|failed   # ... and/or the verdict
        error: a substring of the verdict's error

Unmatched requests answer 200 `{}`. Each request is tried once (no retries).
"""

from __future__ import annotations

import asyncio
import difflib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.events import describe_json

CASE_KEYS = {"name", "event", "events", "settings", "preset", "action", "mapping", "responses", "expect"}
EXPECT_KEYS = {"requests", "status", "error"}
REQUEST_KEYS = {"method", "url", "headers", "body"}
STATUSES = {"delivered", "filtered", "invalid", "error", "failed"}
# Headers the HTTP client adds on its own; left out of snapshots.
CLIENT_HEADERS = {"host", "accept", "accept-encoding", "connection", "user-agent", "content-length"}


class FixtureError(ValueError):
    """The tests file (or one case of it) is malformed."""


def tests_path(spec: Path) -> Path:
    """`specs/x.yaml` -> `specs/x.tests.yaml`."""
    return spec.with_name(f"{spec.name.split('.')[0]}.tests.yaml")


def plain(value: Any) -> Any:
    """ruamel round-trip data -> plain dicts, lists and scalars."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, (int, float, bool)) else k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 120
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load_cases(path: Path) -> Any:
    """The round-trip document of a tests file (a list of cases); FixtureError when malformed."""
    from ruamel.yaml.error import YAMLError

    try:
        doc = _yaml().load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        raise FixtureError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise FixtureError(f"{path}: expected a list of cases, found {describe_json(doc)}")
    names: set[str] = set()
    for index, case in enumerate(doc):
        where = f"{path}: case {index + 1}"
        if not isinstance(case, dict):
            raise FixtureError(f"{where}: expected a mapping with name, event and expect")
        unknown = sorted(set(map(str, case)) - CASE_KEYS)
        if unknown:
            raise FixtureError(f"{where}: unknown key {', '.join(unknown)} (known: {', '.join(sorted(CASE_KEYS))})")
        name = case.get("name")
        if not isinstance(name, str) or not name:
            raise FixtureError(f"{where}: 'name' is required")
        if name in names:
            raise FixtureError(f"{where}: the name '{name}' is used twice")
        names.add(name)
        if "events" in case:
            events = case["events"]
            if "event" in case:
                raise FixtureError(f"{where} ({name}): give 'event' or 'events', not both")
            if not isinstance(events, list) or not events or not all(isinstance(e, dict) for e in events):
                raise FixtureError(f"{where} ({name}): 'events' must be a non-empty list of mappings (Segment events)")
        elif not isinstance(case.get("event"), dict):
            raise FixtureError(f"{where} ({name}): 'event' must be a mapping (a Segment event)")
        if case.get("preset") is not None and case.get("action") is not None:
            raise FixtureError(f"{where} ({name}): give 'preset' or 'action', not both")
        if case.get("mapping") is not None and case.get("action") is None:
            raise FixtureError(f"{where} ({name}): 'mapping' overrides an action's fields; it needs 'action'")
        expect = case.get("expect")
        if expect is not None:
            if not isinstance(expect, dict) or not set(map(str, expect)) <= EXPECT_KEYS:
                raise FixtureError(f"{where} ({name}): 'expect' takes {', '.join(sorted(EXPECT_KEYS))}")
            status = expect.get("status")
            if status is not None and not ((isinstance(status, str) and status in STATUSES) or (isinstance(status, list) and set(status) <= STATUSES)):
                raise FixtureError(f"{where} ({name}): expect.status must be one of {', '.join(sorted(STATUSES))}")
        for response in case.get("responses") or []:
            if not isinstance(response, dict) or "url" not in response:
                raise FixtureError(f"{where} ({name}): each response needs at least a url")
    return doc


@dataclass
class Observed:
    """What one case did: the requests sent and one verdict per matched subscription."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    actions: set[str] = field(default_factory=set)
    presets: set[str] = field(default_factory=set)
    fields: set[tuple[str, str]] = field(default_factory=set)  # (action, field)
    unused_mocks: list[str] = field(default_factory=list)  # "responses[N] (METHOD URL)" that answered nothing

    @property
    def status(self) -> str | list[str]:
        statuses = [v["status"] for v in self.verdicts]
        return statuses[0] if len(set(statuses)) == 1 else statuses

    @property
    def error(self) -> str | None:
        errors = [v["error"] for v in self.verdicts if v.get("error")]
        return "; ".join(errors) if errors else None


def _body(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def _handler(responses: list[dict[str, Any]], captured: list[dict[str, Any]],
             answered: set[int] | None = None) -> Callable[..., Any]:
    """The mock transport's handler; the index of every mock that answered a request goes into `answered`."""
    import httpx

    used: dict[int, int] = {}

    def handle(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        captured.append({
            "method": request.method,
            "url": url,
            "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw},
            "body": _body(request.content),
        })
        matches = [r for r in responses
                   if str(r.get("method", request.method)).upper() == request.method
                   and str(r["url"]) in (url, url.split("?")[0])]
        if not matches:
            return httpx.Response(200, json={})
        key = id(matches[0]) if len(matches) == 1 else hash((request.method, url))
        n = used.get(key, 0)
        used[key] = n + 1
        mock = matches[min(n, len(matches) - 1)]
        if answered is not None:
            answered.add(next(i for i, r in enumerate(responses) if r is mock))
        headers = {str(k): str(v) for k, v in (mock.get("headers") or {}).items()}
        if "json" in mock:
            return httpx.Response(int(mock.get("status", 200)), headers=headers, json=mock["json"])
        return httpx.Response(int(mock.get("status", 200)), headers=headers, text=str(mock.get("body", "")))

    return handle


def _verdict_error(error: str | None, hint: str | None) -> str | None:
    if error and hint:
        return f"{error} (hint: {hint})"
    return error or hint


async def run_case(dest: Any, case: dict[str, Any]) -> Observed:
    """Run one (plain) case through the destination; raise FixtureError for a case that cannot run."""
    import httpx

    from engine.delivery import Deliverer, RetryPolicy
    from engine.jsvalues import UNDEFINED
    from engine.mapping import MappingError
    from engine.runtime.deliver import run_action
    from engine.runtime.settings import SettingsError, resolve_settings

    try:
        settings = resolve_settings(dest.settings_spec, case.get("settings") or {})
    except SettingsError as exc:
        raise FixtureError(f"settings: {exc}") from None
    try:
        subs = dest.subscriptions(case.get("action"), case.get("mapping"))
    except KeyError as exc:
        raise FixtureError(str(exc).strip("'\"")) from None
    except MappingError as exc:
        raise FixtureError("mapping: " + "; ".join(i.message for i in exc.issues)) from None
    if case.get("preset") is not None:
        names = [s.name for s in subs]
        subs = [s for s in subs if s.name == case["preset"]]
        if not subs:
            raise FixtureError(f"no preset named '{case['preset']}' (presets: {', '.join(map(str, names)) or 'none'})")
    observed = Observed()
    responses = case.get("responses") or []
    answered: set[int] = set()
    deliverer = Deliverer(httpx.MockTransport(_handler(responses, observed.requests, answered)),
                          RetryPolicy(attempts=1), concurrency=1, errors_table=dest.spec.get("errors"))
    if "events" in case:  # several events delivered together: batch requests where the actions have them
        from engine.runtime.batching import deliver_events

        for event in case["events"]:
            for sub in dest.matching(event, subs):
                observed.actions.add(sub.action.key)
                if sub.name:
                    observed.presets.add(sub.name)
                payload = dest.prepare(event, sub).payload
                if isinstance(payload, dict):
                    observed.fields.update((sub.action.key, k) for k, v in payload.items() if v is not UNDEFINED)
        async with deliverer:
            per_event = await deliver_events(dest, case["events"], settings, subs, deliverer)
        for verdicts in per_event:
            observed.verdicts += [{"status": v.status.value, "action": v.action,
                                   "error": _verdict_error(v.error, v.hint)} for v in verdicts]
        observed.unused_mocks = [f"responses[{i}] ({str(r.get('method', 'any method')).upper()} {r['url']})"
                                 for i, r in enumerate(responses) if i not in answered]
        return observed
    event = case["event"]
    async with deliverer:
        for sub in dest.matching(event, subs):
            observed.actions.add(sub.action.key)
            if sub.name:
                observed.presets.add(sub.name)
            result = dest.prepare(event, sub)
            if isinstance(result.payload, dict):
                observed.fields.update((sub.action.key, k) for k, v in result.payload.items() if v is not UNDEFINED)
            if result.status != "ok":
                observed.verdicts.append({"status": result.status, "action": sub.action.key, "error": result.error})
                continue
            verdict = await run_action(dest, sub.action.runnable, result.payload, settings, deliverer,
                                       action=sub.action.key, preset=sub.name)
            observed.verdicts.append({"status": verdict.status.value, "action": sub.action.key,
                                      "error": _verdict_error(verdict.error, verdict.hint)})
    observed.unused_mocks = [f"responses[{i}] ({str(r.get('method', 'any method')).upper()} {r['url']})"
                             for i, r in enumerate(responses) if i not in answered]
    if not observed.verdicts:
        reason = "excluded by the integrations object or event type" if not dest.allows(event) else "no subscription matched"
        observed.verdicts.append({"status": "filtered", "action": None, "error": None, "reason": reason})
    return observed


def snapshot(observed: Observed) -> dict[str, Any]:
    """The `expect` that `--update` writes for what a case did."""
    out: dict[str, Any] = {}
    if observed.requests:
        out["requests"] = []
        for req in observed.requests:
            shown: dict[str, Any] = {"method": req["method"], "url": req["url"]}
            headers = {k: v for k, v in req["headers"].items() if k.lower() not in CLIENT_HEADERS}
            if headers:
                shown["headers"] = headers
            if req["body"] is not None:
                shown["body"] = req["body"]
            out["requests"].append(shown)
    if observed.status != "delivered" or not observed.requests:
        out["status"] = observed.status
    if observed.error:
        out["error"] = observed.error
    return out


def compare(expect: dict[str, Any], observed: Observed) -> str | None:
    """None when `observed` meets `expect`; else a unified diff of expected vs actual (pretty JSON)."""
    actual: dict[str, Any] = {}
    if "requests" in expect:
        wanted = expect["requests"] if isinstance(expect["requests"], list) else []
        view = []
        for i, req in enumerate(observed.requests):
            want = wanted[i] if i < len(wanted) and isinstance(wanted[i], dict) else {}
            shown: dict[str, Any] = {"method": req["method"], "url": req["url"]}
            if "headers" in want:
                lower = {k.lower(): v for k, v in req["headers"].items()}
                names = want["headers"] if isinstance(want["headers"], dict) else {}
                shown["headers"] = {k: lower[str(k).lower()] for k in names if str(k).lower() in lower}
            if "body" in want:
                shown["body"] = req["body"]
            view.append(shown)
        actual["requests"] = view
    if "status" in expect or "requests" in expect:
        actual["status"] = observed.status
    if "error" in expect:
        text = observed.error or ""
        ok = isinstance(expect["error"], str) and expect["error"] in text
        actual["error"] = expect["error"] if ok else (observed.error or None)
    wanted_all = dict(expect)
    if "requests" in expect and "status" not in expect:
        wanted_all["status"] = "delivered"
    wanted_all = {k: wanted_all[k] for k in ("requests", "status", "error") if k in wanted_all}
    if _same(wanted_all, actual):
        return None
    return _diff(wanted_all, actual, "expected", "actual")


def _same(a: Any, b: Any) -> bool:
    """Equality that tells 1 from 1.0 from True (a changed type is a changed value)."""
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                       and not isinstance(a, bool) and not isinstance(b, bool)):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _merge(old: Any, new: Any) -> Any:
    """`new` written into the round-trip `old` in place where both are mappings or both lists, so that the
    comments on the lines that stay (and on the keys that are rewritten) are kept; else `new`."""
    if isinstance(old, dict) and isinstance(new, dict) and hasattr(old, "ca"):
        for key in [k for k in old if k not in new]:
            del old[key]
        for key, value in new.items():
            if key in old:
                merged = _merge(old[key], value)
                if merged is not old[key]:
                    old[key] = merged
            else:
                old[key] = value
        return old
    if isinstance(old, list) and isinstance(new, list) and hasattr(old, "ca"):
        del old[len(new):]
        for index, value in enumerate(new):
            if index < len(old):
                merged = _merge(old[index], value)
                if merged is not old[index]:
                    old[index] = merged
            else:
                old.append(value)
        return old
    return new


def _like(old: Any, new: dict[str, Any]) -> Any:
    """`new` as round-trip data, in flow style when the old expect was and `new` is small."""
    from ruamel.yaml.comments import CommentedMap

    if isinstance(old, CommentedMap):
        return _merge(old, new)
    out = CommentedMap(new)
    if getattr(old, "fa", None) is not None and old.fa.flow_style() and "requests" not in new:
        out.fa.set_flow_style()
    return out


def dump_cases(doc: Any) -> str:
    """The round-trip list of cases as YAML text, its top-level items at column 0 like hand-written files."""
    buffer = io.StringIO()
    _yaml().dump(doc, buffer)
    lines = buffer.getvalue().splitlines()
    body = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if body and all(line.startswith("  ") for line in body):
        lines = [line[2:] if line.startswith("  ") and not line.lstrip().startswith("#") else line for line in lines]
    return "\n".join(lines) + "\n"


def _pretty(value: Any) -> list[str]:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str).splitlines()


def _diff(old: Any, new: Any, a: str, b: str) -> str:
    return "\n".join(difflib.unified_diff(_pretty(old), _pretty(new), a, b, lineterm="", n=3))


@dataclass
class SpecReport:
    spec: Path
    tests: Path
    lines: list[str] = field(default_factory=list)
    passed: int = 0
    failed: int = 0
    updated: int = 0
    skipped: bool = False
    uncovered: list[str] = field(default_factory=list)


def coverage(dest: Any, seen: list[Observed]) -> list[str]:
    """What no case exercised: actions, presets, and fields of the exercised-or-not actions."""
    actions = set().union(*(o.actions for o in seen)) if seen else set()
    presets = set().union(*(o.presets for o in seen)) if seen else set()
    fields = set().union(*(o.fields for o in seen)) if seen else set()
    out = [f"action {key}" for key in dest.actions if key not in actions]
    out += [f"preset {p.name}" for p in dest.presets if p.name not in presets]
    by_action: list[str] = []
    for key, action in dest.actions.items():
        missing = [f for f in action.fields if (key, f) not in fields]
        if missing:
            by_action.append(f"{', '.join(missing)} of {key}")
    if by_action:
        out.append("field " + "; field ".join(by_action))
    return out


def run_spec(spec: Path, *, update: bool = False) -> SpecReport:
    """Run every case of the spec's tests file; with `update`, rewrite the expectations that differ."""
    from engine.diagnostics import SpecError
    from engine.runtime.destination import load_destination

    report = SpecReport(spec, tests_path(spec))
    if not report.tests.exists():
        report.skipped = True
        report.lines.append(f"{spec}: no tests file ({report.tests}); skipped")
        return report
    report.lines.append(str(report.tests))
    try:
        dest = load_destination(spec)
    except SpecError as exc:
        report.lines += [f"  {d}" for d in exc.diagnostics]
        report.lines.append(f"  the spec is invalid ({len(exc.diagnostics)} problem{'s' if len(exc.diagnostics) != 1 else ''}); fix it first (engine validate)")
        report.failed += 1
        return report
    try:
        doc = load_cases(report.tests)
    except FixtureError as exc:
        report.lines.append(f"  {exc}")
        report.failed += 1
        return report
    seen: list[Observed] = []
    changed = False
    for case_rt in doc:
        case = plain(case_rt)
        name = case["name"]
        try:
            observed = asyncio.run(run_case(dest, case))
        except FixtureError as exc:
            report.failed += 1
            report.lines.append(f"  FAIL {name}: {exc}")
            continue
        seen.append(observed)
        expect = case.get("expect")
        if observed.unused_mocks:
            # a mock that answers nothing means the case no longer tests what it was written for (a URL
            # that changed): updating its expectation would turn an expected failure into a delivery
            report.failed += 1
            report.lines.append(f"  FAIL {name}: mock {', '.join(observed.unused_mocks)} matched no request"
                                " (fix its method or url; --update does not rewrite this case)")
            continue
        if update:
            new = snapshot(observed)
            if expect is None or compare(expect, observed) is not None:
                case_rt["expect"] = _like(case_rt.get("expect"), new)
                changed = True
                report.updated += 1
                report.lines.append(f"  UPDATED {name}")
                report.lines += ["      " + line for line in _diff(expect, new, "old expect", "new expect").splitlines()]
            else:
                report.passed += 1
                report.lines.append(f"  pass {name}")
            continue
        if expect is None:
            report.failed += 1
            report.lines.append(f"  FAIL {name}: no 'expect' (engine test --update writes it from the current output)")
            continue
        problem = compare(expect, observed)
        if problem is None:
            report.passed += 1
            report.lines.append(f"  pass {name}")
        else:
            report.failed += 1
            report.lines.append(f"  FAIL {name}")
            report.lines += ["      " + line for line in problem.splitlines()]
    if changed:
        report.tests.write_text(dump_cases(doc), encoding="utf-8")
    total = report.passed + report.failed + report.updated
    summary = f"  {total} case{'s' if total != 1 else ''}: {report.passed} passed, {report.failed} failed"
    if update:
        summary += f", {report.updated} updated"
    report.lines.append(summary)
    report.uncovered = coverage(dest, seen)
    report.lines.append("  uncovered: " + "; ".join(report.uncovered) if report.uncovered
                        else "  coverage: every action, preset and field is exercised")
    return report
