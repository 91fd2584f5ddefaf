"""Batch requests: many validated payloads of one action in one request (Segment's performBatch).

An action's `batch` section is compiled once into a `BatchPolicy`. Per list of events of one instance,
`plan_batches` groups the payloads (action, preset, batch keys, count), cuts the groups into requests of at most
`max_count` payloads and `max_bytes` body bytes (a request over the limit is split in halves, a payload that alone
is over it fails alone) and `deliver_events` sends them, reading one verdict for the whole request or one per item
from a multi-status body. Events whose action has no batch (or has it switched off) go one by one.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from engine.delivery.models import PreparedRequest
from engine.jsvalues import UNDEFINED
from engine.runtime.requests import CompiledRequest, compile_request
from engine.templates import TemplateError, compile_template

if TYPE_CHECKING:
    from engine.delivery.verdicts import Verdict

# verdicts (and the HTTP client under them) load on first use: `engine plan` without --batch never needs them
_RETRYABLE = frozenset({408, 423, 429})


@dataclass
class BatchPolicy:
    request: CompiledRequest
    max_count: int
    max_bytes: int | None = None
    count_field: str | None = None
    enabled_field: str | None = None
    keys: tuple[str, ...] = ()
    errors: Callable[[dict[str, Any]], Any] | None = None
    index_key: str = "index"
    message_key: str = "message"
    status_key: str | None = None

    def enabled(self, payload: dict[str, Any]) -> bool:
        """Batching is on unless the enabled field says false."""
        if self.enabled_field is None:
            return True
        return payload.get(self.enabled_field, True) is not False

    def count(self, payload: dict[str, Any]) -> int:
        """max_count, lowered (never raised) by the count field's value when it is a positive integer."""
        value = payload.get(self.count_field) if self.count_field else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 1:
            return min(self.max_count, int(value))
        return self.max_count

    def group_key(self, payload: dict[str, Any]) -> tuple[Any, ...]:
        values = tuple(payload.get(k, UNDEFINED) for k in self.keys)
        try:
            return (self.count(payload), *(orjson.dumps(v) if v is not UNDEFINED else b"" for v in values))
        except TypeError:
            return (self.count(payload), *(repr(v) for v in values))


def compile_batch(spec: dict[str, Any], data: dict[str, Any]) -> BatchPolicy:
    """An action's `batch` section (already checked) as a BatchPolicy."""
    response = spec.get("response") or {}
    return BatchPolicy(
        request=compile_request(spec["request"], data.get("request_defaults") or {}),
        max_count=int(spec["max_count"]),
        max_bytes=int(spec["max_bytes"]) if spec.get("max_bytes") else None,
        count_field=spec.get("count_field"),
        enabled_field=spec.get("enabled_field"),
        keys=tuple(spec.get("keys") or ()),
        errors=compile_template(response["errors"]) if "errors" in response else None,
        index_key=response.get("index", "index"),
        message_key=response.get("message", "message"),
        status_key=response.get("status"),
    )


@dataclass
class Item:
    """One (event, subscription) whose payload goes into a batch."""

    event: int  # position of the event in the list given
    slot: int  # position of its verdict in that event's verdicts
    payload: dict[str, Any]


@dataclass
class BatchRequest:
    action: str
    preset: str | None
    items: list[Item]
    request: PreparedRequest
    policy: BatchPolicy


@dataclass
class Single:
    """One (event, subscription) sent on its own (no batch, batching off)."""

    event: int
    slot: int
    sub: Any
    payload: dict[str, Any]


@dataclass
class BatchPlan:
    """What a list of events becomes: batch requests, single sends, and verdicts known without sending."""

    batches: list[BatchRequest] = field(default_factory=list)
    singles: list[Single] = field(default_factory=list)
    verdicts: list[list[Verdict | None]] = field(default_factory=list)
    auth: dict[str, Any] | None = None  # `auth` of the templates (OAuth2 access token), when the destination has one


def _context(payloads: list[Any], settings: dict[str, Any], auth: dict[str, Any] | None) -> dict[str, Any]:
    context = {"payloads": payloads, "settings": settings, "steps": {}, "now": _dt.datetime.now(_dt.UTC)}
    if auth is not None:
        context["auth"] = auth
    return context


def _body_size(request: PreparedRequest) -> int:
    if request.body is not None:
        return len(request.body)
    return 0 if request.json is UNDEFINED else len(orjson.dumps(request.json, default=str))


def _split(policy: BatchPolicy, items: list[Item], settings: dict[str, Any], action: str, preset: str | None,
           out: BatchPlan) -> None:
    """Render `items` as one request, or split it in halves while its body is over max_bytes."""
    from engine.delivery.verdicts import FAILED, INVALID, Verdict
    try:
        request = policy.request.render(_context([i.payload for i in items], settings, out.auth), "batch")
    except TemplateError as exc:
        for item in items:
            out.verdicts[item.event][item.slot] = Verdict(FAILED, action, preset, error=f"template failed: {exc}",
                                                          reason="template failed")
        return
    if policy.max_bytes is not None and _body_size(request) > policy.max_bytes:
        if len(items) == 1:
            item = items[0]
            error = (f"the payload alone makes a batch request of {_body_size(request)} bytes, over the "
                     f"destination's max_bytes of {policy.max_bytes}")
            out.verdicts[item.event][item.slot] = Verdict(INVALID, action, preset, error=error,
                                                          reason="payload over the batch byte limit")
            return
        half = len(items) // 2
        _split(policy, items[:half], settings, action, preset, out)
        _split(policy, items[half:], settings, action, preset, out)
        return
    out.batches.append(BatchRequest(action, preset, items, request, policy))


def _pack(policy: BatchPolicy, items: list[Item], settings: dict[str, Any], action: str, preset: str | None,
          out: BatchPlan) -> None:
    """Cut `items` greedily by the JSON size of their payloads into runs under max_bytes, each rendered by
    `_split` (which halves a run whose rendered body is still over the limit)."""
    limit = policy.max_bytes
    if limit is None:
        _split(policy, items, settings, action, preset, out)
        return
    run: list[Item] = []
    size = 0
    for item in items:
        try:
            n = len(orjson.dumps(item.payload, default=str)) + 1
        except TypeError:
            n = 1
        if n > limit:  # over the limit on its own: fails alone (rendered to be sure), the run goes on
            _split(policy, [item], settings, action, preset, out)
            continue
        if run and size + n > limit:
            _split(policy, run, settings, action, preset, out)
            run, size = [], 0
        run.append(item)
        size += n
    if run:
        _split(policy, run, settings, action, preset, out)


def plan_batches(dest: Any, events: list[dict[str, Any]], settings: dict[str, Any], subs: list[Any],
                 masker: Any = None, auth: dict[str, Any] | None = None) -> BatchPlan:
    """Route, map and validate every event; group the batchable payloads and render their requests.

    `verdicts[i]` has one slot per matching subscription of event i: filled for invalid payloads, a filtered
    event, a payload over the byte limit or a failed template; None where a batch or single send decides."""
    from engine.delivery.verdicts import FAILED, FILTERED, INVALID, Verdict
    out = BatchPlan(auth=auth)
    groups: dict[tuple[Any, ...], tuple[Any, list[Item]]] = {}
    mask = masker.mask_text if masker else (lambda text: text)
    for number, event in enumerate(events):
        slots: list[Verdict | None] = []
        out.verdicts.append(slots)
        for sub in dest.matching(event, subs):
            result = dest.prepare(event, sub, getattr(sub.action, "batch", None))
            slot = len(slots)
            slots.append(None)
            if result.status != "ok":
                slots[slot] = Verdict(INVALID if result.status == "invalid" else FAILED, sub.action.key, sub.name,
                                      error=mask(result.error or ""), reason=(result.error or "").split(". ")[0])
                continue
            policy = getattr(sub.action, "batch", None)
            if policy is None or not policy.enabled(result.payload):
                out.singles.append(Single(number, slot, sub, result.payload))
                continue
            key = (sub.action.key, sub.name, *policy.group_key(result.payload))
            groups.setdefault(key, (sub, []))[1].append(Item(number, slot, result.payload))
        if not slots:
            reason = ("excluded by the integrations object or event type" if not dest.allows(event)
                      else "no subscription matched")
            slots.append(Verdict(FILTERED, reason=reason))
    for key, (sub, items) in groups.items():
        policy = sub.action.batch
        count = key[2]
        for start in range(0, len(items), count):
            _pack(policy, items[start:start + count], settings, sub.action.key, sub.name, out)
    return out


def item_verdicts(batch: BatchRequest, outcome: Any, masker: Any) -> list[Verdict]:
    """The verdict of each item of a sent batch: the outcome's for all, or per item from the errors list."""
    from engine.delivery.verdicts import DELIVERED, FAILED, Verdict
    action, preset, count = batch.action, batch.preset, len(batch.items)
    if not outcome.ok:
        verdict = Verdict.from_outcome(outcome, action=action, preset=preset)
        return [verdict] * count
    verdicts = [Verdict(DELIVERED, action, preset, attempts=outcome.attempts)] * count
    policy = batch.policy
    if policy.errors is None or outcome.response is None:
        return verdicts
    verdicts = list(verdicts)
    try:
        errors = policy.errors({"response": outcome.response.to_context(), "settings": {}})
    except TemplateError as exc:
        message = masker.mask_text(f"the batch response could not be read: {exc}")
        return [Verdict(FAILED, action, preset, error=message, reason="batch response unreadable",
                        attempts=outcome.attempts)] * count
    if not isinstance(errors, list):
        return verdicts
    for error in errors[:count * 4]:
        if not isinstance(error, dict):
            continue
        index = error.get(policy.index_key)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            continue
        message = error.get(policy.message_key)
        text = message if isinstance(message, str) else orjson.dumps(error, default=str).decode()
        status = error.get(policy.status_key) if policy.status_key else None
        retryable = isinstance(status, int) and (status in _RETRYABLE or (status >= 500 and status != 501))
        text = masker.mask_text(f"item {index} of the batch was refused: {text}")
        verdicts[index] = Verdict(FAILED, action, preset, error=text, reason="batch item refused",
                                  attempts=outcome.attempts, retryable=retryable)
    return verdicts


async def deliver_events(dest: Any, events: list[dict[str, Any]], settings: dict[str, Any], subs: list[Any],
                         deliverer: Any) -> list[list[Verdict]]:
    """Verdicts per event (as `deliver_event` gives them for one) for a list of events of one instance, the
    batchable payloads sent in batch requests. The entry point for `engine send` and the runner's worker."""
    from engine.delivery.verdicts import FAILED, Verdict
    from engine.runtime.deliver import run_action

    auth = None
    refused: str | None = None
    manager = None
    if getattr(dest, "oauth2", None) is not None:
        from engine.runtime.oauth import RefreshFailed, manager_for

        manager = manager_for(deliverer, dest)
        try:
            auth = {"access_token": await manager.token(settings, deliverer)}
        except RefreshFailed as exc:
            refused = deliverer.masker.mask_text(exc.message)
    masker = deliverer.masker
    plan = plan_batches(dest, events, settings, subs, masker, auth)
    verdicts = plan.verdicts
    if refused is not None:  # no token: every batched item fails with the refresh's reason (singles say it too)
        for b in plan.batches:
            for item in b.items:
                verdicts[item.event][item.slot] = Verdict(FAILED, b.action, b.preset, error=refused,
                                                          reason="OAuth2 token refresh failed")
        plan.batches = []

    async def single(s: Single) -> None:
        verdicts[s.event][s.slot] = await run_action(dest, s.sub.action.runnable, s.payload, settings, deliverer,
                                                     action=s.sub.action.key, preset=s.sub.name)

    async def batch(b: BatchRequest) -> None:
        outcome = await deliverer.send(b.request)
        if manager is not None and auth is not None and outcome.status == 401:
            # refused with this token: refresh once (unless another task already did) and send the batch again
            try:
                token = await manager.token(settings, deliverer, stale=auth["access_token"])
                request = b.policy.request.render(_context([i.payload for i in b.items], settings,
                                                           {"access_token": token}), "batch")
            except (RefreshFailed, TemplateError) as exc:
                error = masker.mask_text(exc.message if isinstance(exc, RefreshFailed) else f"template failed: {exc}")
                for item in b.items:
                    verdicts[item.event][item.slot] = Verdict(FAILED, b.action, b.preset, error=error,
                                                              reason="OAuth2 token refresh failed")
                return
            outcome = await deliverer.send(request)
        for item, verdict in zip(b.items, item_verdicts(b, outcome, masker), strict=True):
            verdicts[item.event][item.slot] = verdict

    await asyncio.gather(*(single(s) for s in plan.singles), *(batch(b) for b in plan.batches))
    return [[v for v in slots if v is not None] for slots in verdicts]


def plan_lines(plan: BatchPlan, settings: dict[str, Any], masker: Any) -> dict[str, Any]:
    """`engine plan --batch N`'s object for one group of events: every request it becomes (batch requests with the
    positions of their items, single sends as their planned requests) and the items that fail before sending."""
    from engine.delivery.verdicts import FAILED, FILTERED, Verdict
    requests: list[dict[str, Any]] = []
    for b in plan.batches:
        requests.append({"action": b.action, "preset": b.preset, "items": [i.event for i in b.items],
                         "request": b.request.to_display(masker)})
    for s in plan.singles:
        try:
            planned = s.sub.action.runnable.plan({"payload": s.payload, "settings": settings, "steps": {},
                                                  "now": _dt.datetime.now(_dt.UTC)})
        except TemplateError as exc:
            plan.verdicts[s.event][s.slot] = Verdict(FAILED, s.sub.action.key, s.sub.name,
                                                     error=masker.mask_text(f"template failed: {exc}"))
            continue
        for r in planned.requests:
            requests.append({"action": s.sub.action.key, "preset": s.sub.name, "items": [s.event],
                             "request": r.to_display(masker)})
    failed = [{"item": number, **v.to_json()} for number, slots in enumerate(plan.verdicts)
              for v in slots if v is not None and v.status != FILTERED]
    return {"events": len(plan.verdicts), "requests": requests, "failed": failed}
