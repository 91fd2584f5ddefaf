"""`engine serve`: Segment-compatible ingestion (app), the delivery loop (worker), metrics and the sandbox."""

from engine.server.app import MAX_BATCH_BYTES, MAX_EVENT_BYTES, EngineApp, build_app
from engine.server.metrics import Metrics
from engine.server.sandbox import SandboxLog, SandboxTransport
from engine.server.worker import Worker, WorkerOptions, decide

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_EVENT_BYTES",
    "EngineApp",
    "Metrics",
    "SandboxLog",
    "SandboxTransport",
    "Worker",
    "WorkerOptions",
    "build_app",
    "decide",
]
