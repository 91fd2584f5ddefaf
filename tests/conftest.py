"""Shared test set-up: make `tests/` importable (the emulators package lives there)."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


import pytest  # noqa: E402


@pytest.fixture
def pg_schema():
    """(dsn, schema) of a fresh PostgreSQL schema for this test, dropped afterwards (see postgres_helpers)."""
    from postgres_helpers import fresh_schema

    with fresh_schema() as found:
        yield found
