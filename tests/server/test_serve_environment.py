"""Bad environments give one-sentence errors and lose nothing acknowledged: a queue folder that cannot be
created, a read-only one, a damaged queue file (PRAGMA quick_check at start), a disk that fills while
serving (503, then everything answered 200 is delivered). `engine serve`, `engine dlq list` and `engine config
check` say so without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from emulators import UserMotionEmulator, serve_in_thread
from serve_helpers import ROOT, WRITE_KEY, AppServer, wait_until, write_config

from engine.queue import SQLiteQueue

UM_KEY = "um-env-key-3"
DEST = f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n"


def engine(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    err = result.stderr.strip()
    assert "Traceback" not in err and err.count("\n") == 0, err
    return err


def config_with_queue(tmp_path: Path, queue_path: Path) -> Path:
    config = write_config(tmp_path, DEST, {"api.usermotion.com": "sandbox"})
    config.write_text(config.read_text().replace("path: data", f"path: {queue_path}"))
    return config


def all_three(config: Path) -> list[str]:
    """The messages of serve, dlq list and config check on `config` (each one sentence, failing)."""
    serve = engine("serve", "--config", str(config), "--port", "0")
    dlq = engine("dlq", "list", "--config", str(config))
    check = engine("config", "check", "--config", str(config))
    assert serve.returncode == 2 and dlq.returncode == 2 and check.returncode == 1, (serve, dlq, check)
    return [one_sentence(serve), one_sentence(dlq), one_sentence(check)]


def test_queue_folder_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder")
    config = config_with_queue(tmp_path, tmp_path / "afile" / "data")
    serve = engine("serve", "--config", str(config), "--port", "0")
    check = engine("config", "check", "--config", str(config))
    assert serve.returncode == 2 and check.returncode == 1
    for err in (one_sentence(serve), one_sentence(check)):
        assert f"cannot create the queue folder {tmp_path / 'afile' / 'data'}" in err
    assert (tmp_path / "afile").read_text() == "not a folder"


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[tuple[Path, callable]]:
    """A folder holding a queue with 50 accepted events, then made read-only; yields (folder, make_writable)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = False
    if os.geteuid() == 0:  # root writes through permissions: a read-only mount instead
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)]).returncode != 0:
            pytest.skip("root without mount: cannot make a read-only folder")
        mounted = True
    with SQLiteQueue(folder) as queue:
        queue.enqueue([{"type": "track", "event": f"E{i}", "messageId": f"m{i}"} for i in range(50)], ["um"])

    def make_writable() -> None:
        if mounted:
            subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)
        else:
            folder.chmod(0o755)
            (folder / "queue.db").chmod(0o644)

    if mounted:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    else:
        (folder / "queue.db").chmod(0o444)
        folder.chmod(0o555)
    try:
        yield folder, make_writable
    finally:
        make_writable()
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


def test_read_only_queue_folder(tmp_path: Path, read_only_folder) -> None:
    folder, make_writable = read_only_folder
    config = config_with_queue(tmp_path, folder)
    for err in all_three(config):
        assert str(folder) in err and ("read-only" in err or "not writable" in err or "writable by" in err), err
    make_writable()
    with SQLiteQueue(folder) as queue:  # nothing accepted was lost
        assert queue.depth() == {"um": 50}


def test_damaged_queue_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with SQLiteQueue(data) as queue:
        for start in range(0, 3000, 500):
            queue.enqueue([{"type": "track", "event": "E" * 200, "messageId": f"m{i}"}
                           for i in range(start, start + 500)], ["um"])
        queue._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = data / "queue.db"
    size = db.stat().st_size
    with open(db, "r+b") as f:  # a damaged page in the middle of the file
        f.seek((size // 4096 // 2) * 4096)
        f.write(os.urandom(4096))
    config = config_with_queue(tmp_path, data)
    for err in all_three(config):
        assert f"{db} is damaged" in err and "restore a backup" in err and ".recover" in err, err
    assert db.stat().st_size == size  # refused, not written to


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "queue.db").write_bytes(b"this is not SQLite" * 300)
    for err in all_three(config_with_queue(tmp_path, data)):
        assert "queue.db is damaged" in err, err


def test_disk_filling_while_serving_answers_503_and_loses_nothing_answered_200(tmp_path: Path) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    emu.faults.add(delay=0.3, times=None)  # slow deliveries: the worker frees little space while the disk fills
    with serve_in_thread(emu) as s:
        config = write_config(tmp_path, DEST, {"api.usermotion.com": s.base_url})
        with AppServer(config) as server:
            conns = [server.queue._conn, server.queue.nowait()._conn]  # every connection that writes sees it
            pages = conns[0].execute("PRAGMA page_count").fetchone()[0]
            for conn in conns:
                conn.execute(f"PRAGMA max_page_count = {pages + 40}")  # the disk is nearly full: SQLITE_FULL soon
            accepted: set[str] = set()
            refused = 0
            for b in range(200):
                if refused >= 3:
                    break
                batch = [{"type": "track", "userId": "u", "event": f"E{b}-{i}", "messageId": f"m{b}-{i}",
                          "properties": {"pad": "x" * 2000}} for i in range(20)]
                r = httpx.post(server.base_url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=30)
                assert r.status_code in (200, 503), r.text
                if r.status_code == 200:
                    accepted.update(e["event"] for e in batch)
                else:
                    refused += 1
                    assert r.json()["code"] == "queue_unavailable"
                    ready = httpx.get(server.base_url + "/ready")  # only enqueues change it: none since
                    assert ready.status_code == 503 and "full" in ready.json()["reason"], ready.text
            assert refused > 0 and accepted, (refused, len(accepted))
            for conn in conns:
                conn.execute("PRAGMA max_page_count = 1073741823")  # space is back
            wait_until(lambda: accepted <= {r.json["event"] for r in list(emu.received) if r.path == "/v1/track"},
                       timeout=60)
            r = httpx.post(server.base_url + "/v1/track", json={"userId": "u", "event": "After"}, auth=(WRITE_KEY, ""))
            assert r.status_code == 200
            assert httpx.get(server.base_url + "/ready").status_code == 200
