"""docs/catalog/ is what `engine docs --all` writes from specs/: regenerate it when a spec changes
(`engine docs --all --out docs/catalog/`). The project's specs are those git tracks (the four seeds when
there is no git checkout): a user's own `engine new acme` in specs/ does not make this test fail until
the spec is committed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ["usercom", "usermaven", "usermotion", "userpilot"]


def project_specs(root: Path = ROOT) -> list[str]:
    """The slugs of the specs in specs/ that the repository tracks."""
    if shutil.which("git") and (root / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "specs"], cwd=root, capture_output=True, text=True, check=False)
        if listed.returncode == 0:
            names = [Path(line).name for line in listed.stdout.splitlines()]
            return sorted(n.removesuffix(".yaml") for n in names if n.endswith(".yaml") and ".tests." not in n)
    return SEEDS


def test_committed_catalog_matches_the_specs(tmp_path: Path, capsys) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    for slug in project_specs():
        shutil.copy(ROOT / "specs" / f"{slug}.yaml", specs / f"{slug}.yaml")
    out = tmp_path / "catalog"
    assert main(["docs", "--all", "--specs", str(specs), "--out", str(out)]) == 0
    capsys.readouterr()
    fresh = {p.name: p.read_text() for p in out.glob("*.md")}
    committed = {p.name: p.read_text() for p in (ROOT / "docs" / "catalog").glob("*.md")}
    assert sorted(fresh) == sorted(committed)
    assert set(SEEDS) <= {name.removesuffix(".md") for name in fresh}
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"docs/catalog is stale for {stale}: run engine docs --all --out docs/catalog/"


def test_a_users_scaffold_in_specs_is_not_a_project_spec(tmp_path: Path, capsys) -> None:
    (tmp_path / "specs").mkdir()
    shutil.copy(ROOT / "specs" / "usermotion.yaml", tmp_path / "specs")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "specs"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    assert main(["new", "acme", "--dir", str(tmp_path / "specs")]) == 0
    capsys.readouterr()
    assert (tmp_path / "specs" / "acme.yaml").exists()
    assert project_specs(tmp_path) == ["usermotion"]
