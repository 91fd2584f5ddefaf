"""Per-event verdicts and the end-of-run summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from engine.delivery.client import Outcome
from engine.secrets import Masker


class VerdictStatus(StrEnum):
    DELIVERED = "delivered"  # every request of the action got a result
    FILTERED = "filtered"  # no subscription matched, or the destination does not accept the type
    INVALID = "invalid"  # the mapped payload failed validation; nothing was sent
    FAILED = "failed"  # a request failed (after retries when retryable)


DELIVERED = VerdictStatus.DELIVERED
FILTERED = VerdictStatus.FILTERED
INVALID = VerdictStatus.INVALID
FAILED = VerdictStatus.FAILED


@dataclass(slots=True)
class Verdict:
    """What happened to one event (for one subscription). Read-only by convention (not frozen: one is made per
    delivered event, and a frozen dataclass's construction costs several times a plain one's)."""

    status: VerdictStatus
    action: str | None = None
    preset: str | None = None
    error: str | None = None
    hint: str | None = None
    attempts: int = 0
    response_excerpt: str | None = None
    reason: str | None = None  # groupable cause; defaults to `error`
    retryable: bool = False  # a failed request of a retryable kind (network, timeout, 429, 5xx): try again later

    @classmethod
    def from_outcome(
        cls,
        outcome: Outcome,
        *,
        action: str | None = None,
        preset: str | None = None,
        step: str | None = None,
    ) -> Verdict:
        """The verdict for an event whose deciding request ended with `outcome` (already masked)."""
        if outcome.ok:
            return cls(DELIVERED, action, preset, attempts=outcome.attempts)
        error = outcome.error
        if step and error:
            error = f"step {step}: {error}"
        return cls(
            FAILED,
            action,
            preset,
            error=error,
            hint=outcome.hint,
            attempts=outcome.attempts,
            response_excerpt=outcome.response_excerpt,
            reason=outcome.reason,
            retryable=outcome.retryable,
        )

    def masked(self, masker: Masker) -> Verdict:
        """A copy with every text field masked (for verdicts built from unmasked text)."""
        return Verdict(
            self.status,
            self.action,
            self.preset,
            masker.mask(self.error),
            masker.mask(self.hint),
            self.attempts,
            masker.mask(self.response_excerpt),
            masker.mask(self.reason),
            self.retryable,
        )

    @property
    def group_key(self) -> str:
        return self.reason or self.error or self.status.value

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status.value}
        for name in ("action", "preset", "error", "hint", "response_excerpt", "reason"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.attempts:
            out["attempts"] = self.attempts
        return out


@dataclass
class FailureGroup:
    status: VerdictStatus
    reason: str
    count: int = 0
    hint: str | None = None
    actions: Counter[str] = field(default_factory=Counter)
    example_error: str | None = None
    example_excerpt: str | None = None


class Summary:
    """Counts verdicts and groups the failed and invalid ones by reason."""

    ORDER = (DELIVERED, FILTERED, INVALID, FAILED)

    def __init__(self) -> None:
        self.counts: Counter[VerdictStatus] = Counter()
        # events behind the verdicts, when the caller counts them (an event may match several actions)
        self.events: int | None = None
        self.groups: dict[tuple[VerdictStatus, str], FailureGroup] = {}

    def add(self, verdict: Verdict) -> None:
        self.counts[verdict.status] += 1
        if verdict.status not in (FAILED, INVALID):
            return
        key = (verdict.status, verdict.group_key)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = FailureGroup(
                verdict.status,
                verdict.group_key,
                hint=verdict.hint,
                example_error=verdict.error,
                example_excerpt=verdict.response_excerpt,
            )
        group.count += 1
        if verdict.action:
            group.actions[verdict.action] += 1

    def extend(self, verdicts: list[Verdict]) -> None:
        for v in verdicts:
            self.add(v)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def has_failures(self) -> bool:
        return bool(self.counts[FAILED] or self.counts[INVALID])

    def failure_groups(self) -> list[FailureGroup]:
        """Failed groups first, then invalid; larger groups first within each."""
        return sorted(
            self.groups.values(),
            key=lambda g: (0 if g.status is FAILED else 1, -g.count, g.reason),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "counts": {s.value: self.counts[s] for s in self.ORDER},
            "failures": [
                {
                    "status": g.status.value,
                    "reason": g.reason,
                    "count": g.count,
                    "hint": g.hint,
                    "actions": dict(g.actions),
                    "example_error": g.example_error,
                    "example_response": g.example_excerpt,
                }
                for g in self.failure_groups()
            ],
        }

    def render_text(self) -> str:
        """A short human summary: one counts line, then one block per failure reason."""
        noun = "event" if self.total == 1 else "events"
        counts = ", ".join(f"{self.counts[s]} {s.value}" for s in self.ORDER)
        head = f"{self.total} {noun}"
        if self.events is not None and self.events != self.total:
            head = f"{self.events} event{'s' if self.events != 1 else ''}, {self.total} results"
        lines = [f"{head}: {counts}"]
        for g in self.failure_groups():
            actions = ", ".join(f"{a} ×{n}" if n > 1 else a for a, n in sorted(g.actions.items()))
            line = f"  {g.status.value} ×{g.count}: {g.reason}"
            if actions:
                line += f" [{actions}]"
            lines.append(line)
            if g.example_error and g.example_error != g.reason:
                lines.append(f"      {g.example_error}")
            if g.hint:
                lines.append(f"      hint: {g.hint}")
            if g.example_excerpt:
                lines.append(f"      response: {g.example_excerpt}")
        return "\n".join(lines)
