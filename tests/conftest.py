"""Shared test set-up: make `tests/` importable (the emulators package lives there), and load the
hypothesis profile of the suite: no deadlines (tests assert behaviour, never speed; speed lives in bench/,
and a busy 2-core machine must not fail a property by taking 268 ms for an example)."""

import sys
from pathlib import Path

from hypothesis import settings

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

settings.register_profile("engine", deadline=None)
settings.load_profile("engine")

import pytest  # noqa: E402


@pytest.fixture
def pg_schema():
    """(dsn, schema) of a fresh PostgreSQL schema for this test, dropped afterwards (see postgres_helpers)."""
    from postgres_helpers import fresh_schema

    with fresh_schema() as found:
        yield found
