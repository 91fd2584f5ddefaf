"""Delivery: send prepared requests with retries, through pluggable transports, and summarise.

The public face is small; the modules behind it are private rooms:

    PreparedRequest, Response         what goes out, what later steps see   (models)
    RetryPolicy, ErrorRule            when to retry and how long to wait    (retry)
    make_transport, RouteTransport,   which pool, `--route`, in-process sink (transports);
    SinkTransport, parse_routes       the default aiohttp pool is driven directly by the Deliverer
    Deliverer, Outcome                send one request, get a verdict       (client)
    Verdict, VerdictStatus, Summary   per-event verdicts, end-of-run summary (verdicts)
"""

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
