"""What only the PostgreSQL queue has: its versioned schema, retention in batches, the DSN's password
kept out of every message, a clear sentence when the server is not there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from engine.queue import QueueError
from engine.queue.postgres import SCHEMA_VERSION, PostgresQueue, QueueSchemaError, QueueUnavailable, mask_dsn

ROOT = Path(__file__).resolve().parents[2]


def test_mask_dsn_hides_every_password_form() -> None:
    assert mask_dsn("postgresql://engine:s3cret@db:5432/q") == "postgresql://engine:****@db:5432/q"
    assert mask_dsn("host=db password=s3cret user=engine") == "host=db password=**** user=engine"
    assert mask_dsn("postgresql://db/q?user=engine&password=s3cret") == "postgresql://db/q?user=engine&password=****"
    assert mask_dsn("postgresql://engine@db/q") == "postgresql://engine@db/q"


def test_unreachable_server_is_one_sentence_without_password() -> None:
    with pytest.raises(QueueUnavailable) as info:
        PostgresQueue("postgresql://engine:s3cret-pw@127.0.0.1:1/q", timeout=2)
    message = str(info.value)
    assert "s3cret-pw" not in message and "postgresql://engine:****@127.0.0.1:1/q" in message
    assert "\n" not in message and isinstance(info.value, QueueError)


def test_schema_created_versioned_and_newer_refused(pg_schema) -> None:
    dsn, schema = pg_schema
    with PostgresQueue(dsn, schema=schema, migrate=False, maintenance=False) as q:
        assert q.migrate() == (0, SCHEMA_VERSION)
        assert q.migrate() == (SCHEMA_VERSION, SCHEMA_VERSION)
        assert q.enqueue([{"messageId": "m"}], ["a"]) == 1
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("INSERT INTO {}.engine_schema (version) VALUES (%s)").format(sql.Identifier(schema)),
                     (SCHEMA_VERSION + 1,))
    with pytest.raises(QueueSchemaError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this engine"):
        PostgresQueue(dsn, schema=schema)


def test_expired_message_ids_pruned_in_bounded_batches(pg_schema) -> None:
    dsn, schema = pg_schema
    now = [1_700_000_000.0]
    with PostgresQueue(dsn, schema=schema, clock=lambda: now[0], dedup_window=100, maintenance=False,
                       prune_batch=40) as q:
        q.enqueue([{"messageId": f"old{i}"} for i in range(100)], ["a"])
        now[0] += 50
        q.enqueue([{"messageId": f"new{i}"} for i in range(10)], ["a"])
        now[0] += 60  # old* are outside the window, new* inside
        assert q.prune(max_batches=1) == 40  # one bounded batch
        assert q.prune() == 60
        assert q.prune() == 0
        with psycopg.connect(dsn) as conn:
            left = conn.execute(sql.SQL("SELECT count(*) FROM {}.seen").format(sql.Identifier(schema))).fetchone()[0]
        assert left == 10
        assert q.enqueue([{"messageId": "new1"}, {"messageId": "old1"}], ["a"]) == 1  # still deduplicated: new1


def test_queue_migrate_command_and_masked_output(pg_schema, tmp_path: Path) -> None:
    dsn, schema = pg_schema
    secret_dsn = dsn.replace("postgresql://postgres@", "postgresql://postgres:pw-never-shown@")
    config = tmp_path / "engine.yaml"
    config.write_text("sources: [{name: web, write_key: wk-12345678}]\n"
                      "destinations: [{id: um, spec: usermotion, settings: {apiKey: k-1234567}}]\n"
                      "routes: {api.usermotion.com: sandbox}\n"
                      f"queue: {{kind: postgres, dsn: '${{ENGINE_QUEUE_DSN}}', schema: {schema}}}\n")
    env = {"ENGINE_QUEUE_DSN": secret_dsn, "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "engine"]
    first = subprocess.run([*run, "queue", "migrate", "--config", str(config)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert f"created at schema version {SCHEMA_VERSION}" in first.stderr
    again = subprocess.run([*run, "queue", "migrate", "--config", str(config)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert "up to date" in again.stderr
    check = subprocess.run([*run, "config", "check", "--config", str(config)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "PostgreSQL at" in check.stderr
    down = dict(env, ENGINE_QUEUE_DSN="postgresql://postgres:pw-never-shown@127.0.0.1:1/test")
    serve = subprocess.run([*run, "serve", "--config", str(config), "--port", "0"], cwd=ROOT, env=down,
                           capture_output=True, text=True, timeout=60)
    assert serve.returncode == 2
    assert "engine serve: the PostgreSQL queue at postgresql://postgres:****@127.0.0.1:1/test is unavailable" \
        in serve.stderr
    for result in (first, again, check, serve):
        assert "pw-never-shown" not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr


def test_engine_dlq_reads_the_shared_queue(pg_schema, tmp_path: Path) -> None:
    dsn, schema = pg_schema
    with PostgresQueue(dsn, schema=schema, maintenance=False) as node:  # a node dead-letters two jobs
        node.enqueue([{"messageId": "m1", "type": "track", "event": "A", "userId": "u"},
                      {"messageId": "m2", "type": "track", "event": "B", "userId": "u"}], ["um"])
        for job in node.lease(10, 30):
            node.dead_letter(job.id, {"status": "failed", "reason": f"HTTP 40{job.message_id[-1]}"})
    config = tmp_path / "engine.yaml"
    config.write_text("sources: [{name: web, write_key: wk-12345678}]\n"
                      "destinations: [{id: um, spec: usermotion, settings: {apiKey: k-1234567}}]\n"
                      "routes: {api.usermotion.com: sandbox}\n"
                      f"queue: {{kind: postgres, dsn: '{dsn}', schema: {schema}}}\n")
    run = [sys.executable, "-m", "engine", "dlq"]
    listed = subprocess.run([*run, "list", "--config", str(config), "--reason", "http 402", "--format", "json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert [line.count('"message_id":"m2"') for line in listed.stdout.splitlines()] == [1]
    replay = subprocess.run([*run, "replay", "--config", str(config), "--instance", "um"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0 and "replayed 2 dead letters" in replay.stderr
    with PostgresQueue(dsn, schema=schema, maintenance=False) as other:
        assert other.depth() == {"um": 2} and other.dlq.count() == 0


def test_only_promises_wait_for_the_server_flush(pg_schema) -> None:
    dsn, schema = pg_schema
    with PostgresQueue(dsn, schema=schema, maintenance=False) as q:
        with q._tx() as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "off"
        with q._tx(promise=True) as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
    with PostgresQueue(dsn, schema=schema, maintenance=False, durability="normal") as q:
        with q._tx(promise=True) as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "off"


def test_schema_1_database_upgrades_to_tokens(pg_schema) -> None:
    """A database made by an engine at schema version 1 (no tokens table) is upgraded when a node opens it."""
    from engine.queue.postgres import MIGRATIONS

    dsn, schema = pg_schema
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute("CREATE TABLE engine_schema (version INTEGER PRIMARY KEY, "
                     "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        conn.execute(MIGRATIONS[0])
        conn.execute("INSERT INTO engine_schema (version) VALUES (1)")
        assert conn.execute("SELECT to_regclass('tokens')").fetchone()[0] is None
    with PostgresQueue(dsn, schema=schema, migrate=False, maintenance=False) as q:
        assert q.migrate() == (1, SCHEMA_VERSION)
        q.put_token("inst", "tok", 1_700_000_000.0)
        assert q.get_token("inst") == ("tok", 1_700_000_000.0)
    with PostgresQueue(dsn, schema=schema, maintenance=False) as q:
        assert q.schema_version == SCHEMA_VERSION and q.get_token("inst") == ("tok", 1_700_000_000.0)


def test_enqueue_taking_hands_over_jobs_created_leased(pg_schema) -> None:
    dsn, schema = pg_schema
    with PostgresQueue(dsn, schema=schema, maintenance=False) as q:
        batch = [{"type": "track", "event": "E", "messageId": f"m{i}"} for i in range(5)]
        created, taken = q.enqueue_taking(batch, ["a", "b"], {"a": 3}, 30.0)
        assert created == 10 and list(taken) == ["a"]
        assert [j.message_id for j in taken["a"]] == ["m0", "m1", "m2"]
        assert all(j.event is e for j, e in zip(taken["a"], batch, strict=False))  # nothing read back
        others = q.lease(20, 30.0)  # the taken ones are leased to the taker
        assert sorted((j.instance, j.message_id) for j in others) == (
            [("a", "m3"), ("a", "m4")] + [("b", f"m{i}") for i in range(5)])
        assert q.ack_many([j.id for j in taken["a"]]) == 3  # their ids are the rows' ids
        assert q.depth() == {"a": 2, "b": 5}
