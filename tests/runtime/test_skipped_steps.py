"""An action whose every step is skipped (each `when` false) sends nothing and is filtered, not failed: Segment's
perform that returns without a request succeeds (Mixpanel's identify without anonymous id and traits)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from engine.delivery.client import Deliverer
from engine.delivery.retry import RetryPolicy
from engine.runtime.deliver import run_action
from engine.runtime.destination import compile_document
from engine.spec.loader import load_text

SPEC = """
spec_version: 1
name: Stepper
slug: stepper
description: Two optional steps.
mode: cloud
accepts: [identify]
settings: {}
presets:
  - {name: Identify, subscribe: type = "identify", action: identify}
actions:
  identify:
    title: Identify
    fields:
      anon: {label: Anon, type: string, default: {"@path": "$.anonymousId"}}
      traits: {label: Traits, type: object, default: {"@path": "$.traits"}}
    steps:
      - id: link
        when: "{{ payload.anon }}"
        request: {method: POST, url: "https://api.stepper.test/link", json: {anon: "{{ payload.anon }}"}}
      - id: profile
        when: "{{ payload.traits is mapping and payload.traits | length > 0 }}"
        request: {method: POST, url: "https://api.stepper.test/profile", json: "{{ payload.traits }}"}
"""


def _run(event: dict[str, Any]) -> tuple[Any, list[str]]:
    dest = compile_document(load_text(SPEC, "stepper.yaml"))
    sent: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json={})

    async def go() -> Any:
        [sub] = dest.subscriptions()
        payload = dest.prepare(event, sub).payload
        async with Deliverer(httpx.MockTransport(handle), RetryPolicy(attempts=1), concurrency=1) as deliverer:
            return await run_action(dest, sub.action.runnable, payload, {}, deliverer, action="identify",
                                    preset="Identify")

    return asyncio.run(go()), sent


def test_every_step_skipped_is_filtered_and_sends_nothing() -> None:
    verdict, sent = _run({"type": "identify", "userId": "u1", "traits": {}})
    assert sent == []
    assert verdict.status.value == "filtered"
    assert "no step ran" in (verdict.reason or "")


def test_a_step_that_runs_decides_the_verdict() -> None:
    verdict, sent = _run({"type": "identify", "userId": "u1", "traits": {"plan": "pro"}})
    assert sent == ["/profile"]
    assert verdict.status.value == "delivered"
