"""Deliver one event to one destination: route, map, validate, run the steps, give verdicts."""

from __future__ import annotations

from typing import Any

from engine.delivery.client import Deliverer, Outcome
from engine.delivery.models import PreparedRequest
from engine.delivery.verdicts import FAILED, FILTERED, INVALID, Verdict
from engine.runtime.destination import Destination, Subscription, template_failure
from engine.runtime.steps import CompiledStep
from engine.templates import EventRejected, TemplateError


async def deliver_event(dest: Destination, event: dict[str, Any], settings: dict[str, Any],
                        subs: list[Subscription], deliverer: Deliverer) -> list[Verdict]:
    """Verdicts for every subscription the event matches (one `filtered` verdict when none does)."""
    verdicts: list[Verdict] = []
    for sub in dest.matching(event, subs):
        result = dest.prepare(event, sub)
        if result.status != "ok":
            verdicts.append(prepare_failed(result, deliverer))
            continue
        verdicts.append(await run_action(dest, sub.action.runnable, result.payload, settings, deliverer,
                                         action=sub.action.key, preset=sub.name))
    if not verdicts:
        reason = "excluded by the integrations object or event type" if not dest.allows(event) else "no subscription matched"
        verdicts.append(Verdict(FILTERED, reason=reason))
    return verdicts


def prepare_failed(result: Any, deliverer: Any) -> Verdict:
    """The verdict of a `Destination.prepare` result that is not ok: invalid (validation) or failed (mapping)."""
    return Verdict(INVALID if result.status == "invalid" else FAILED, result.action, result.preset,
                   error=deliverer.masker.mask_text(result.error or ""), reason=_first_sentence(result.error))


async def run_action(dest: Destination, runnable: Any, payload: Any, settings: dict[str, Any], deliverer: Deliverer,
                     *, action: str | None = None, preset: str | None = None) -> Verdict:
    async def send(request: PreparedRequest, step: CompiledStep) -> Outcome:
        return await deliverer.send(request, expect=step.expects)

    oauth = getattr(dest, "oauth2", None)
    manager = None
    token: str | None = None
    if oauth is not None:
        from engine.runtime.oauth import RefreshFailed, manager_for

        manager = manager_for(deliverer, dest)
        try:
            token = await manager.token(settings, deliverer)
        except RefreshFailed as exc:
            return _refresh_failed(exc, deliverer, action, preset)
    try:
        context = dest.context(payload, settings)
        if manager is not None:
            context["auth"] = {"access_token": token}
        results = await runnable.execute(context, send)
        if manager is not None and results and results[-1][1].status == 401:
            # refused with this token: refresh once (unless another task already did) and run again
            try:
                token = await manager.token(settings, deliverer, stale=token)
            except RefreshFailed as exc:
                return _refresh_failed(exc, deliverer, action, preset)
            context = dest.context(payload, settings)
            context["auth"] = {"access_token": token}
            results = await runnable.execute(context, send)
    except TemplateError as exc:
        message = deliverer.masker.mask_text(template_failure(exc))
        reason = message if isinstance(exc, EventRejected) else "template failed"
        return Verdict(FAILED, action, preset, error=message, reason=_first_sentence(reason))
    if not results:
        # nothing to send (Segment's perform returning without a request is a success, not an error): filtered,
        # so it is neither retried nor dead-lettered
        return Verdict(FILTERED, action, preset, reason="no step ran (every step's 'when' was false)")
    step, outcome = results[-1]
    multi = len(runnable.steps) > 1
    verdict = Verdict.from_outcome(outcome, action=action, preset=preset, step=step.id if multi else None)
    if outcome.ok:
        return Verdict(verdict.status, action, preset, attempts=sum(o.attempts for _, o in results))
    return verdict


def _refresh_failed(exc: Exception, deliverer: Deliverer, action: str | None, preset: str | None) -> Verdict:
    """The verdict of an event whose access token could not be refreshed: failed, not retried in a loop."""
    message = deliverer.masker.mask_text(str(exc))
    outcome = getattr(exc, "outcome", None)
    excerpt = getattr(outcome, "response_excerpt", None)
    return Verdict(FAILED, action, preset, error=message, reason="OAuth2 token refresh failed",
                   response_excerpt=excerpt, attempts=getattr(outcome, "attempts", 0) or 0)


def _first_sentence(text: str | None) -> str | None:
    if not text:
        return text
    head = text.split(". ")[0].rstrip(".")
    return head if len(head) <= 160 else head[:159] + "…"
