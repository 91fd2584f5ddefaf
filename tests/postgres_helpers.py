"""PostgreSQL for the tests (imported as `postgres_helpers`): the server named by ENGINE_TEST_POSTGRES_DSN
(default postgresql://postgres@127.0.0.1:5432/test), a fresh schema per test so parallel runs never meet,
and a skip with its reason when no server answers (a failure under ENGINE_REQUIRE_POSTGRES=1, as in CI)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

DSN = os.environ.get("ENGINE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_dsn() -> str:
    """The test server's DSN; skips the test (fails it under ENGINE_REQUIRE_POSTGRES=1) when unreachable."""
    import psycopg

    try:
        with psycopg.connect(DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = f"no PostgreSQL at ENGINE_TEST_POSTGRES_DSN ({DSN}): {str(exc).splitlines()[0]}"
        if os.environ.get("ENGINE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (ENGINE_REQUIRE_POSTGRES=1: PostgreSQL is required)")
        pytest.skip(reason)
    return DSN


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def fresh_schema() -> Iterator[tuple[str, str]]:
    """(dsn, schema name) of a schema nobody else uses; dropped afterwards."""
    dsn = postgres_dsn()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    try:
        yield dsn, schema
    finally:
        try:
            drop_schema(dsn, schema)
        except Exception:  # the server may be down when a test ends badly; the schema is unique anyway
            pass
