"""docs/catalog/ is what `engine docs --all` writes from specs/: regenerate it when a spec changes
(`engine docs --all --out docs/catalog/`)."""

from __future__ import annotations

from pathlib import Path

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_committed_catalog_matches_the_specs(tmp_path: Path, capsys) -> None:
    assert main(["docs", "--all", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.md")}
    committed = {p.name: p.read_text() for p in (ROOT / "docs" / "catalog").glob("*.md")}
    assert sorted(fresh) == sorted(committed) == ["usercom.md", "usermaven.md", "usermotion.md", "userpilot.md"]
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"docs/catalog is stale for {stale}: run engine docs --all --out docs/catalog/"
