"""The project carries everything its tests need: no file under engine/, tests/, bench/ or docs/ names the
reference folder that lives outside the repository (a fresh clone has no `shared/` beside it)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = ["../" + "shared", "/work" + "/", "shared" + "/reference", "shared" + "/seeds"]


def _files() -> list[Path]:
    return [p for top in ("engine", "tests", "bench", "docs") for p in sorted((ROOT / top).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".db"}]


@pytest.mark.parametrize("needle", OUTSIDE)
def test_no_file_names_a_path_outside_the_repository(needle: str) -> None:
    naming = [str(p.relative_to(ROOT)) for p in _files() if needle in p.read_text(encoding="utf-8", errors="replace")]
    assert naming == []


def test_recorded_vectors_are_in_the_repository() -> None:
    for path in ("tests/mapping/vectors_mapping.jsonl", "tests/payload/vectors_validation.jsonl",
                 "tests/trigger/vectors_fql.jsonl"):
        assert (ROOT / path).read_text(encoding="utf-8").count("\n") > 50
