"""`engine plan`'s per-event work compiled once per destination, subscriptions, settings and masker.

`LinePlanner(dest, settings, subs, masker)(event)` is `results_line(dest.plan_event(event, settings, subs), masker)`,
the same bytes, for a command whose settings stay as they are (they are copied when the planner is made). What the
settings alone decide is worked out once: for a subscription whose action is one request with a JSON body, no query,
and a URL and headers that read only settings (the ones `CompiledRequest` caches per settings value), the result's
bytes up to the body (`{"action":..,"preset":..,"status":"ok","error":null,"requests":[{"method":..,"url":..,
"headers":..,"body":`) are made and masked once. Per event: the triggers, the mapping, the validation, the body's
template, one orjson encode (of the body without undefined entries, when a filter left some) and the masking of the
body's bytes.

Anything else (an event that maps, validates or renders with an error, a body that is undefined or not plain JSON, a
subscription without such a request) goes through `plan_event` and `results_line` for the whole event, so the line
is theirs. tests/runtime/test_plan_event_fast.py pins the two together over random events, settings, triggers
and secrets, for the four specs and a spec of every request shape.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from engine.delivery.models import DISPLAY_JSON
from engine.jsvalues import UNDEFINED
from engine.mapping import MappingRuntimeError
from engine.mapping.compile import strip_undefined
from engine.payload import PayloadError
from engine.runtime import destination as _destination
from engine.runtime.destination import _DISPLAY_KEYS, Destination, Subscription, _result_head, results_line
from engine.templates import TemplateError
from engine.templates.compile import settings_key
from engine.trigger import Trigger

_EMPTY = b'{"results":[]}\n'


@dataclass(slots=True)
class _Route:
    """One subscription, ready for the per-event loop (`body` None: the subscription takes the general path)."""

    trigger: Callable[[dict[str, Any]], bool] | None
    types: frozenset[str] | None
    mapping: Callable[[dict[str, Any]], Any]
    validate: Callable[..., Any]
    body: Callable[[dict[str, Any]], Any] | None
    prefix: bytes


class LinePlanner:
    """Callable: an event (a dict) -> `engine plan`'s output line for it, newline included."""

    __slots__ = ("dest", "settings", "subs", "masker", "routes", "fast", "_now", "_utc")

    def __init__(self, dest: Destination, settings: dict[str, Any], subs: list[Subscription], masker: Any) -> None:
        self.dest = dest
        self.settings = copy.deepcopy(settings)  # a change to the caller's settings cannot stale what is made here
        self.subs = list(subs)
        self.masker = masker
        self._now, self._utc = _destination._now, _destination._UTC
        # With a secret spelled like a display key, results_line masks whole displays: nothing is made ahead then.
        self.fast = not masker or masker.keeps(_DISPLAY_KEYS)
        self.routes = [self._route(sub) for sub in self.subs]

    def _route(self, sub: Subscription) -> _Route:
        trigger = sub.trigger
        types = trigger.types if type(trigger) is Trigger else None
        route = _Route(trigger, types, sub.mapping, sub.action.validate, None, b"")
        if not self.fast:
            return route
        steps = sub.action.runnable.steps
        if len(steps) != 1 or steps[0].when is not None or steps[0].reads_steps:
            return route
        request = steps[0].request
        if (request.body_kind != "json" or request.query is not None or request.header_cache is None
                or request.method_render is not None or request.headers_render is not None
                or not (request.url_cache is not None or request.url_constant)):
            return route
        context = {"payload": {}, "settings": self.settings, "steps": {}, "now": self._now(self._utc)}
        key = settings_key(context)
        if key is None:  # settings that are not plain JSON: rendered per event, as the general path does
            return route
        try:
            url = request._url(context, key)
            headers = request._headers(context, key)
        except TemplateError:
            return route
        if not any(name in headers for name in request.content_type):
            headers["Content-Type"] = "application/json"  # as a JSON body's render adds it
        try:
            head = orjson.dumps({"method": request.method.upper(), "url": url, "headers": headers}, option=DISPLAY_JSON)
        except TypeError:
            return route
        masker = self.masker
        if masker:
            head = masker.mask_json(head)
        route.prefix = _result_head(sub.action.key, sub.name, "ok") + b"[" + head[:-1] + b',"body":'
        route.body = request.body
        return route

    def general(self, event: dict[str, Any]) -> bytes:
        """The line by `plan_event` and `results_line`."""
        return results_line(self.dest.plan_event(event, self.settings, self.subs), self.masker)

    def __call__(self, event: dict[str, Any]) -> bytes:
        if not self.dest.allows(event):
            return _EMPTY
        kind = event.get("type")
        routed = type(kind) is str
        pieces: list[bytes] = []
        settings, masker, now, utc = self.settings, self.masker, self._now, self._utc
        for route in self.routes:
            trigger = route.trigger
            if trigger is not None:
                types = route.types if routed else None
                if types is not None:
                    if kind not in types:
                        continue
                elif not trigger(event):
                    continue
            body = route.body
            if body is None:
                return self.general(event)
            try:
                mapped = route.mapping(event)
            except MappingRuntimeError:
                return self.general(event)
            if mapped is UNDEFINED or not isinstance(mapped, dict):
                mapped = {}
            try:
                payload = route.validate(mapped)
                data = body({"payload": payload, "settings": settings, "steps": {}, "now": now(utc)})
                if data is UNDEFINED:
                    return self.general(event)
                try:
                    raw = orjson.dumps(data, option=DISPLAY_JSON)
                except TypeError:  # undefined in objects a filter built: shown as sent, without those keys
                    raw = orjson.dumps(strip_undefined(data), option=DISPLAY_JSON)
            except (PayloadError, TemplateError, TypeError):
                return self.general(event)
            pieces += (b"," if pieces else b"", route.prefix, masker.mask_json(raw) if masker else raw, b"}]}")
        if not pieces:
            return _EMPTY
        return b'{"results":[' + b"".join(pieces) + b"]}\n"


__all__ = ["LinePlanner"]
