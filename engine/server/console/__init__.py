"""The operator console of `engine serve` at /console: the app (pages and API), its access rules, and the
in-memory record of recent events and deliveries it shows."""

from engine.server.console.app import Console
from engine.server.console.recorder import Recorder, RecordingDeliverer

__all__ = ["Console", "Recorder", "RecordingDeliverer"]
