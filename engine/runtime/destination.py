"""A destination compiled from its spec: presets (trigger + mapping closures), actions
(payload validator + runnable), settings. Per event: route, map, validate, render.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from engine.delivery.models import DISPLAY_JSON, PreparedRequest, encode_json
from engine.diagnostics import Diagnostic, SpecError
from engine.jsvalues import UNDEFINED, truthy
from engine.mapping import MappingError, MappingRuntimeError, compile_mapping
from engine.payload import PayloadError, compile_fields
from engine.runtime.batching import BatchPolicy, compile_batch
from engine.runtime.oauth import OAuth2, compile_oauth2
from engine.runtime.steps import Plan, Runnable, compile_runnable
from engine.spec.loader import Document, load_file
from engine.spec.macro_checks import spec_macros
from engine.spec.validate import check_document
from engine.templates import EventRejected, TemplateError
from engine.templates.macros import using_macros
from engine.trigger import Trigger, compile_trigger

_now, _UTC = _dt.datetime.now, _dt.UTC
_PACKAGE = Path(__file__).resolve().parent.parent
# The project's specs/ in a checkout (editable install); a built wheel carries them as engine/data/specs.
SPECS_DIR = next((d for d in (_PACKAGE.parent / "specs", _PACKAGE / "data" / "specs") if d.is_dir()),
                 _PACKAGE.parent / "specs")


def resolve_spec_path(dest: str) -> Path:
    """DEST is a path to a spec file, or a name looked up in ./specs and then the project's specs/."""
    path = Path(dest)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"{dest}: no such spec file")
        return path
    for folder in (Path("specs"), SPECS_DIR):
        candidate = folder / f"{dest}.yaml"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no spec named '{dest}' (looked for specs/{dest}.yaml)")


@dataclass
class Action:
    key: str
    title: str
    fields: dict[str, Any]
    defaults: dict[str, Any]
    validate: Callable[..., dict[str, Any]]
    runnable: Runnable
    default_mapping: Callable[[dict[str, Any]], Any]
    batch: BatchPolicy | None = None  # the action's batch request, when it has one

    def mapping_with(self, overrides: dict[str, Any] | None) -> Callable[[dict[str, Any]], Any]:
        if not overrides:
            return self.default_mapping
        return compile_mapping({**self.defaults, **overrides})


@dataclass
class Preset:
    name: str
    trigger: Callable[[dict[str, Any]], bool]
    action: Action
    mapping: Callable[[dict[str, Any]], Any]


@dataclass
class Subscription:
    """What an event runs: a preset, a config mapping, or an action named on the command line."""

    name: str | None
    action: Action
    mapping: Callable[[dict[str, Any]], Any]
    trigger: Callable[[dict[str, Any]], bool] | None = None


@dataclass(slots=True)
class ActionResult:
    action: str
    preset: str | None
    status: str  # "ok" | "invalid" | "error"
    error: str | None = None
    payload: Any = UNDEFINED
    plan: Plan | None = None

    def to_json(self, masker: Any) -> dict[str, Any]:
        plan = self.plan
        out: dict[str, Any] = {"action": self.action, "preset": self.preset, "status": self.status,
                               "error": masker.mask_text(self.error) if self.error else None,
                               "requests": [r.to_display(masker) for r in plan.requests] if plan else []}
        if plan and plan.unplanned:
            out["unplanned"] = plan.unplanned
        return out


_DISPLAY_KEYS = ("method", "url", "headers", "body")


def _requests_json(requests: list[PreparedRequest], masker: Any, out: list[bytes]) -> None:
    """Append the pieces of `[r.to_display() ...]` as JSON, masked, to `out`: per request, the method, URL and headers
    (the same every event: `mask_json_memo`) and the body (the wire bytes when the JSON body path made them as the
    display encodes them, see `PreparedRequest.encoded`) are masked apart. TypeError when a part is not plain JSON
    data (`out` may then hold some pieces: the caller drops them)."""
    opening = b"["
    for r in requests:
        head = masker.mask_json_memo(orjson.dumps({"method": r.method.upper(), "url": r.url,
                                                   "headers": r.wire_headers()}, option=DISPLAY_JSON))
        out += (opening, head[:-1], b',"body":', masker.mask_json(r.display_body_json()), b"}")
        opening = b","
    out.append(b"]")


def results_line(results: list[ActionResult], masker: Any) -> bytes:
    """`engine plan`'s output line for one event: `{"results": [r.to_json(masker) ...]}` as JSON, newline included.

    A result without an error is written from pieces joined once: its head (the same bytes for the same action,
    preset and status: `_result_head`) and its requests, encoded unmasked (a JSON body's wire bytes are reused) and
    masked as bytes by `masker.mask_json` (spliced where a secret occurs). Other results, and requests that are not
    plain JSON data, go through `to_json`. After parsing the line equals the `to_json` line; its bytes are orjson's."""
    if not masker:
        return encode_json({"results": [r.to_json(masker) for r in results]}) + b"\n"
    # A secret spelled like a display key would change the keys: the whole display is masked by `to_json` then.
    split = masker.keeps(_DISPLAY_KEYS)
    pieces = [b'{"results":[']
    for number, result in enumerate(results):
        if number:
            pieces.append(b",")
        if not result.error:
            plan = result.plan
            mark = len(pieces)
            pieces.append(_result_head(result.action, result.preset, result.status))
            try:
                if not plan or not plan.requests:
                    pieces.append(b"[]")
                elif split:
                    _requests_json(plan.requests, masker, pieces)
                else:
                    pieces.append(masker.mask_json(orjson.dumps([r.to_display() for r in plan.requests],
                                                                option=DISPLAY_JSON)))
            except TypeError:  # not plain JSON data: masked as it is walked, below
                del pieces[mark:]
            else:
                if plan and plan.unplanned:
                    pieces += (b',"unplanned":', orjson.dumps(plan.unplanned), b"}")
                else:
                    pieces.append(b"}")
                continue
        pieces.append(encode_json(result.to_json(masker)))  # integers beyond 64 bits: written exactly
    pieces.append(b"]}\n")
    return b"".join(pieces)


_HEADS: dict[tuple[str, str | None, str], bytes] = {}


def _result_head(action: Any, preset: Any, status: Any) -> bytes:
    """`{"action":..,"preset":..,"status":..,"error":null,"requests":` as orjson writes it; remembered for text
    values (a spec has few actions, presets and statuses; bounded all the same)."""
    exact = type(action) is str and type(status) is str and (preset is None or type(preset) is str)
    head = _HEADS.get((action, preset, status)) if exact else None
    if head is None:
        head = orjson.dumps({"action": action, "preset": preset, "status": status, "error": None})[:-1] + b',"requests":'
        if exact:
            if len(_HEADS) >= 256:
                _HEADS.clear()
            _HEADS[(action, preset, status)] = head
    return head


@dataclass
class Destination:
    doc: Document
    name: str
    slug: str
    accepts: frozenset[str]
    settings_spec: dict[str, dict[str, Any]]
    actions: dict[str, Action]
    presets: list[Preset]
    errors: dict[int, dict[str, Any]]
    test_authentication: Runnable | None = None
    on_delete: Runnable | None = None
    oauth2: OAuth2 | None = None  # how to refresh the access token, when the destination uses OAuth2
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def spec(self) -> dict[str, Any]:
        return self.doc.data

    def allows(self, event: dict[str, Any]) -> bool:
        """The event's type is accepted and its integrations object does not exclude us."""
        kind = event.get("type")
        if self.accepts and (not isinstance(kind, str) or kind not in self.accepts):  # a list would not hash
            return False
        integrations = event.get("integrations")
        if isinstance(integrations, dict):
            if self.name in integrations:
                return truthy(integrations[self.name])
            return integrations.get("All", True) is not False
        return True

    def subscriptions(self, action: str | None = None, mapping: dict[str, Any] | None = None) -> list[Subscription]:
        """The presets, or one action on its defaults plus `mapping` (no trigger)."""
        if action is None:
            return [Subscription(p.name, p.action, p.mapping, p.trigger) for p in self.presets]
        if action not in self.actions:
            raise KeyError(f"no action '{action}' in {self.slug}; actions: {', '.join(self.actions)}")
        act = self.actions[action]
        unknown = [str(key) for key in (mapping or {}) if key not in act.fields]
        if unknown:
            from engine.spec.schema import suggest

            names = ", ".join(f"'{key}'{suggest(key, list(act.fields))}" for key in unknown)
            raise KeyError(f"mapping: no field {names} in action '{action}' of {self.slug}; "
                           f"fields: {', '.join(act.fields) or 'none'}")
        return [Subscription(None, act, act.mapping_with(mapping))]

    def matching(self, event: dict[str, Any], subs: list[Subscription]) -> Iterator[Subscription]:
        if not self.allows(event):
            return
        for sub in subs:
            if sub.trigger is None or sub.trigger(event):
                yield sub

    def prepare(self, event: dict[str, Any], sub: Subscription) -> ActionResult:
        """Map and validate: the payload, or an invalid/error result."""
        try:
            mapped = sub.mapping(event)
        except MappingRuntimeError as exc:
            return ActionResult(sub.action.key, sub.name, "error", f"mapping failed: {exc}")
        if mapped is UNDEFINED or not isinstance(mapped, dict):
            mapped = {}
        try:
            payload = sub.action.validate(mapped)
        except PayloadError as exc:
            return ActionResult(sub.action.key, sub.name, "invalid", str(exc))
        return ActionResult(sub.action.key, sub.name, "ok", payload=payload)

    def context(self, payload: Any, settings: dict[str, Any]) -> dict[str, Any]:
        return {"payload": payload, "settings": settings, "steps": {}, "now": _dt.datetime.now(_dt.UTC)}

    def plan_event(self, event: dict[str, Any], settings: dict[str, Any], subs: list[Subscription]) -> list[ActionResult]:
        """Per matching subscription (`matching`), in order: `prepare`, then plan the action's requests over
        `context(payload, settings)`. The same steps written out as one loop (the per-event path of `engine plan`)."""
        results: list[ActionResult] = []
        accepts = self.accepts  # `allows`, inline
        kind = event.get("type")
        if accepts and (not isinstance(kind, str) or kind not in accepts):
            return results
        integrations = event.get("integrations")
        if isinstance(integrations, dict):
            name = self.name
            if not (truthy(integrations[name]) if name in integrations else integrations.get("All", True) is not False):
                return results
        append = results.append
        routed = type(kind) is str  # a trigger that only tests the type is `kind in trigger.types` then
        for sub in subs:
            trigger = sub.trigger
            if trigger is not None:
                types = trigger.types if routed and type(trigger) is Trigger else None
                if types is not None:
                    if kind not in types:
                        continue
                elif not trigger(event):
                    continue
            action = sub.action
            try:
                mapped = sub.mapping(event)
            except MappingRuntimeError as exc:
                append(ActionResult(action.key, sub.name, "error", f"mapping failed: {exc}"))
                continue
            if mapped is UNDEFINED or not isinstance(mapped, dict):
                mapped = {}
            try:
                payload = action.validate(mapped)
            except PayloadError as exc:
                append(ActionResult(action.key, sub.name, "invalid", str(exc)))
                continue
            try:
                plan = action.runnable.plan({"payload": payload, "settings": settings, "steps": {},
                                             "now": _now(_UTC)})
            except TemplateError as exc:  # render errors are the spec's problem, shown per event
                append(ActionResult(action.key, sub.name, "error", template_failure(exc), payload))
                continue
            append(ActionResult(action.key, sub.name, "ok", None, payload, plan))
        return results


def template_failure(exc: TemplateError) -> str:
    """The error text of an event whose template failed: the spec's own words for `fail(...)`."""
    return exc.message if isinstance(exc, EventRejected) else f"template failed: {exc}"


def _fail(doc: Document, diags: list[Diagnostic]) -> None:
    errors = [d for d in diags if d.severity == "error"]
    if errors:
        raise SpecError(errors)


def compile_document(doc: Document) -> Destination:
    """Check a loaded spec fully, then compile it; SpecError lists every problem."""
    diags = check_document(doc)
    _fail(doc, diags)
    with using_macros(spec_macros(doc)):  # every template below may call the spec's macros
        return _compile_checked(doc, diags)


def _compile_checked(doc: Document, diags: list[Diagnostic]) -> Destination:
    data = doc.data
    actions: dict[str, Action] = {}
    for key, spec in data["actions"].items():
        fields = spec.get("fields") or {}
        defaults = {k: f["default"] for k, f in fields.items() if "default" in f}
        actions[key] = Action(
            key=key, title=spec["title"], fields=fields, defaults=defaults,
            validate=compile_fields(fields), runnable=compile_runnable(spec, data),
            default_mapping=compile_mapping(defaults),
            batch=compile_batch(spec["batch"], data) if "batch" in spec else None,
        )
    presets = []
    for p in data.get("presets") or []:
        action = actions[p["action"]]
        presets.append(Preset(p["name"], compile_trigger(p["subscribe"]), action, action.mapping_with(p.get("mapping"))))
    return Destination(
        doc=doc, name=data["name"], slug=data["slug"], accepts=frozenset(data.get("accepts") or ()),
        settings_spec=data.get("settings") or {}, actions=actions, presets=presets,
        errors={int(k): v for k, v in (data.get("errors") or {}).items()},
        test_authentication=compile_runnable(data["test_authentication"], data) if "test_authentication" in data else None,
        on_delete=compile_runnable(data["on_delete"], data) if "on_delete" in data else None,
        oauth2=compile_oauth2(data["oauth2"], data) if "oauth2" in data else None,
        warnings=[d for d in diags if d.severity == "warning"],
    )


def load_destination(dest: str | Path) -> Destination:
    """Load, check and compile a spec by name or path (raises SpecError, FileNotFoundError)."""
    path = resolve_spec_path(str(dest))
    return compile_document(load_file(path))


__all__ = ["Action", "ActionResult", "Destination", "MappingError", "Preset", "Subscription",
           "compile_document", "load_destination", "resolve_spec_path", "results_line"]
