"""Runtime stage: a compiled Destination turns events into payloads, requests and verdicts."""

from engine.runtime.destination import ActionResult, Destination, load_destination, resolve_spec_path

__all__ = ["ActionResult", "Destination", "load_destination", "resolve_spec_path"]
