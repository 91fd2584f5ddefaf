"""`engine serve`'s per-event delivery, compiled once per configured instance (its destination, settings and
subscriptions), as `engine plan`'s `LinePlanner` is for the plan path.

`await Dispatcher(dest, settings, subs, deliverer)(event)` gives the verdicts of
`deliver_event(dest, event, settings, subs, deliverer)`: the same requests go through the same `deliverer.send`,
in the same order, and the same verdicts come back. What the settings alone decide is made once: for a
subscription whose action is one request with a JSON body, no query, and a URL and headers that read only settings
(the ones `CompiledRequest` caches per settings value), the method, URL (its path already checked), headers and
timeout are ready; per event only the triggers, the mapping, the validation, the body's template and one encode
run before `deliverer.send`. Anything else (multi-step actions, query or form requests, settings that are not
plain JSON, OAuth2 destinations, a URL or headers that fail to render) goes through `run_action` as in
`deliver_event`, subscription by subscription.

The settings are copied when the dispatcher is made: a configured instance's settings do not change while it
is served. tests/runtime/test_dispatcher.py pins the two paths together over every spec's fixture cases.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.delivery.models import PreparedRequest, encode_json
from engine.delivery.verdicts import DELIVERED, FAILED, FILTERED, Verdict
from engine.jsvalues import UNDEFINED
from engine.mapping.compile import strip_undefined
from engine.runtime.deliver import _first_sentence, prepare_failed, run_action
from engine.runtime.destination import Destination, Subscription, template_failure
from engine.runtime.requests import _encode_plain, check_path
from engine.runtime.steps import CompiledStep
from engine.templates import EventRejected, TemplateError
from engine.templates.compile import settings_key
from engine.trigger import Trigger


@dataclass(slots=True)
class _Request:
    """What the settings decide of a subscription's one request."""

    method: str
    url: str
    headers: dict[str, str]  # as rendered (for an undefined body)
    json_headers: dict[str, str]  # with the Content-Type a JSON body adds
    timeout: float | None
    step: CompiledStep
    body: Callable[[dict[str, Any]], Any]


@dataclass(slots=True)
class _Route:
    sub: Subscription
    types: frozenset[str] | None  # a trigger that only tests the event's type
    request: _Request | None  # None: the action runs through `run_action`


class Dispatcher:
    """Callable: an event -> (awaitable) its verdicts, as `deliver_event` gives them."""

    __slots__ = ("dest", "settings", "deliverer", "routes")

    def __init__(self, dest: Destination, settings: dict[str, Any], subs: list[Subscription], deliverer: Any) -> None:
        self.dest = dest
        self.settings = copy.deepcopy(settings)
        self.deliverer = deliverer
        fast = getattr(dest, "oauth2", None) is None  # an access token is part of every render: the general path
        self.routes = [self._route(sub, fast) for sub in subs]

    def _route(self, sub: Subscription, fast: bool) -> _Route:
        trigger = sub.trigger
        route = _Route(sub, trigger.types if type(trigger) is Trigger else None, None)
        steps = sub.action.runnable.steps
        if not fast or len(steps) != 1 or steps[0].when is not None or steps[0].reads_steps:
            return route
        step = steps[0]
        request = step.request
        if (request.body_kind != "json" or request.query is not None or request.header_cache is None
                or request.method_render is not None or request.headers_render is not None  # read the event
                or not (request.url_cache is not None or request.url_constant)):
            return route
        context = self.dest.context({}, self.settings)
        key = settings_key(context)
        if key is None:  # settings that are not plain JSON: rendered per event, as the general path does
            return route
        try:
            url = request._url(context, key)
            if not request.url_constant:
                check_path(url)
            headers = request._headers(context, key)
        except TemplateError:  # the general path says so, per event
            return route
        json_headers = dict(headers)
        if not any(name in headers for name in request.content_type):
            json_headers["Content-Type"] = "application/json"
        route.request = _Request(request.method, url, headers, json_headers, request.timeout, step, request.body)  # type: ignore[arg-type]
        return route

    async def __call__(self, event: dict[str, Any]) -> list[Verdict]:
        dest, deliverer, settings = self.dest, self.deliverer, self.settings
        verdicts: list[Verdict] = []
        if dest.allows(event):
            kind = event.get("type")
            routed = type(kind) is str
            for route in self.routes:
                sub = route.sub
                trigger = sub.trigger
                if trigger is not None:
                    types = route.types if routed else None
                    if types is not None:
                        if kind not in types:
                            continue
                    elif not trigger(event):
                        continue
                result = dest.prepare(event, sub)
                if result.status != "ok":
                    verdicts.append(prepare_failed(result, deliverer))
                    continue
                action, payload = sub.action, result.payload
                request = route.request
                if request is None:
                    verdicts.append(await run_action(dest, action.runnable, payload, settings, deliverer,
                                                     action=action.key, preset=sub.name))
                    continue
                verdicts.append(await self._send(request, payload, action.key, sub.name))
        if not verdicts:
            reason = "excluded by the integrations object or event type" if not dest.allows(event) else "no subscription matched"
            verdicts.append(Verdict(FILTERED, reason=reason))
        return verdicts

    async def _send(self, request: _Request, payload: Any, action: str, preset: str | None) -> Verdict:
        """`run_action` for a one-request action whose URL and headers are made: render the body, send, judge."""
        deliverer = self.deliverer
        context = self.dest.context(payload, self.settings)
        step = request.step
        try:
            data = request.body(context)
        except TemplateError as exc:
            message = deliverer.masker.mask_text(template_failure(exc))
            reason = message if isinstance(exc, EventRejected) else "template failed"
            return Verdict(FAILED, action, preset, error=message, reason=_first_sentence(reason))
        if data is UNDEFINED:
            prepared = PreparedRequest(request.method, request.url, dict(request.headers), None, UNDEFINED,
                                       request.timeout, step.id)
        else:
            try:  # orjson refuses UNDEFINED: when it encodes, there is nothing to remove
                body = _encode_plain(data)
            except TypeError:
                data = strip_undefined(data)
                prepared = PreparedRequest(request.method, request.url, dict(request.json_headers), encode_json(data),
                                           data, request.timeout, step.id)
            else:
                prepared = PreparedRequest(request.method, request.url, dict(request.json_headers), body, data,
                                           request.timeout, step.id, (data, body))
        outcome = await deliverer.send(prepared, expect=step.expects)
        if outcome.ok:
            return Verdict(DELIVERED, action, preset, attempts=outcome.attempts)
        return Verdict.from_outcome(outcome, action=action, preset=preset)


__all__ = ["Dispatcher"]
