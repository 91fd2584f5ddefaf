"""Runnables: a request or a list of steps, compiled once; planned (no network) or executed.

A step reads earlier steps' results through `steps.<id>`. Planning renders every step it can
without a response and names the ones that need one; executing sends each step through a
caller-supplied `send` coroutine (the delivery layer, a fixture mock, a sink).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from engine.delivery.models import PreparedRequest
from engine.jsvalues import truthy
from engine.runtime.requests import CompiledRequest, compile_request
from engine.templates import compile_template, referenced_names


@dataclass
class CompiledStep:
    id: str
    request: CompiledRequest
    when: Callable[[dict[str, Any]], Any] | None = None
    expect: frozenset[int] | None = None  # None: any 2xx
    reads_steps: frozenset[str] = frozenset()

    def expects(self, status: int) -> bool:
        return 200 <= status < 300 if self.expect is None else status in self.expect


@dataclass
class Plan:
    requests: list[PreparedRequest] = field(default_factory=list)
    unplanned: list[str] = field(default_factory=list)


@dataclass
class StepFailure(Exception):
    step: str
    outcome: Any


Send = Callable[[PreparedRequest, CompiledStep], Awaitable[Any]]


@dataclass
class Runnable:
    steps: list[CompiledStep]

    def plan(self, context: dict[str, Any]) -> Plan:
        """Render what can be rendered without responses; name the steps that need one."""
        steps = self.steps
        if len(steps) == 1:  # one step: no other step's response to wait for
            step = steps[0]
            if step.when is None and not step.reads_steps:
                return Plan([step.request.render(context, step.id)])
        out = Plan()
        pending: set[str] = set()
        for step in self.steps:
            needs = step.reads_steps & pending if step.reads_steps else set()
            if needs:
                out.unplanned.append(f"{step.id} (needs the response of {', '.join(sorted(needs))})")
                pending.add(step.id)
                continue
            if step.when is not None and not truthy(step.when(context)):
                continue
            out.requests.append(step.request.render(context, step.id))
            pending.add(step.id)
        return out

    async def execute(self, context: dict[str, Any], send: Send) -> list[tuple[CompiledStep, Any]]:
        """Run the steps in order; `send` returns an outcome with `.ok` and `.response`.

        Returns (step, outcome) for every step that ran. Stops at the first step whose
        outcome is not ok (the caller turns that into the verdict).
        """
        results: list[tuple[CompiledStep, Any]] = []
        steps_ctx: dict[str, Any] = context.setdefault("steps", {})
        for step in self.steps:
            if step.when is not None and not truthy(step.when(context)):
                continue
            request = step.request.render(context, step.id)
            outcome = await send(request, step)
            results.append((step, outcome))
            if not outcome.ok:
                return results
            if outcome.response is not None:
                steps_ctx[step.id] = outcome.response.to_context()
        return results


def _step_reads(step: dict[str, Any]) -> frozenset[str]:
    names = referenced_names({"when": step.get("when"), "request": step.get("request")})
    return frozenset(str(path[1]) for path in names if len(path) >= 2 and path[0] == "steps")


def compile_runnable(spec: dict[str, Any], data: dict[str, Any]) -> Runnable:
    """A request or steps (procedures expanded) of an action, test_authentication or on_delete."""
    defaults = data.get("request_defaults") or {}
    if "request" in spec:
        return Runnable([CompiledStep("request", compile_request(spec["request"], defaults))])
    procedures = data.get("procedures") or {}
    compiled: list[CompiledStep] = []

    def add(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            if "use" in step:
                add(procedures[step["use"]])
                continue
            compiled.append(CompiledStep(
                id=step["id"],
                request=compile_request(step["request"], defaults),
                when=compile_template(step["when"]) if "when" in step else None,
                expect=frozenset(step["expect"]) if "expect" in step else None,
                reads_steps=_step_reads(step),
            ))

    add(spec["steps"])
    return Runnable(compiled)
