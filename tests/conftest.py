"""Shared test set-up: make `tests/` importable (the emulators package lives there)."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

# Tests assert behaviour, never speed: hypothesis' per-example deadline (200 ms) failed examples whose first call
# loads a spec when the machine is busy (FlakyFailure "Unreliable test timings").
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("engine", deadline=None)
_hypothesis_settings.load_profile("engine")
