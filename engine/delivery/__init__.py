"""Delivery: send prepared requests with retries, through pluggable transports, and summarise.

The public face is small; the modules behind it are private rooms:

    PreparedRequest, Response         what goes out, what later steps see   (models)
    RetryPolicy, ErrorRule            when to retry and how long to wait    (retry)
    make_transport, RouteTransport,   which pool, `--route`, in-process sink (transports);
    SinkTransport, parse_routes       the default aiohttp pool is driven directly by the Deliverer
    Deliverer, Outcome                send one request, get a verdict       (client)
    Verdict, VerdictStatus, Summary   per-event verdicts, end-of-run summary (verdicts)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names are loaded from their module on first use (PEP 562), so that importing `engine.delivery.models` (the plan
# path: `engine plan` sends nothing) does not load aiohttp and httpx: ~0.25 s of start-up.
_HOMES = {
    "Deliverer": "client", "Outcome": "client",
    "PreparedRequest": "models", "Response": "models",
    "ErrorRule": "retry", "RetryPolicy": "retry", "parse_errors_table": "retry",
    "CapturedRequest": "transports", "RouteTransport": "transports", "SinkTransport": "transports",
    "make_transport": "transports", "parse_route": "transports", "parse_routes": "transports",
    "Summary": "verdicts", "Verdict": "verdicts", "VerdictStatus": "verdicts",
}

if TYPE_CHECKING:
    from engine.delivery.client import Deliverer, Outcome
    from engine.delivery.models import PreparedRequest, Response
    from engine.delivery.retry import ErrorRule, RetryPolicy, parse_errors_table
    from engine.delivery.transports import (
        CapturedRequest,
        RouteTransport,
        SinkTransport,
        make_transport,
        parse_route,
        parse_routes,
    )
    from engine.delivery.verdicts import Summary, Verdict, VerdictStatus


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'engine.delivery' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"engine.delivery.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CapturedRequest",
    "Deliverer",
    "ErrorRule",
    "Outcome",
    "PreparedRequest",
    "Response",
    "RetryPolicy",
    "RouteTransport",
    "SinkTransport",
    "Summary",
    "Verdict",
    "VerdictStatus",
    "make_transport",
    "parse_errors_table",
    "parse_route",
    "parse_routes",
]
