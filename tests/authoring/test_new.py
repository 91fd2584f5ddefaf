"""`engine new`: the scaffold validates, and never overwrites."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main


def test_new_then_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "acme", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'acme.yaml'}\nwrote {tmp_path / 'acme.tests.yaml'}\n"
    assert main(["validate", str(tmp_path / "acme.yaml")]) == 0
    assert "0 errors, 0 warnings (ok)" in capsys.readouterr().err


def test_scaffold_teaches_the_format(tmp_path: Path) -> None:
    main(["new", "my-dest", "--dir", str(tmp_path)])
    spec = (tmp_path / "my-dest.yaml").read_text()
    for needle in ("name: My Dest", "slug: my-dest", "type: password", "presets:", "{{ payload.userId }}",
                   "{{ settings.apiKey }}", "https://example.com/", "# "):
        assert needle in spec


def test_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "acme.tests.yaml").write_text("# mine\n")
    assert main(["new", "acme", "--dir", str(tmp_path)]) == 2
    assert "already exists; not overwriting" in capsys.readouterr().err
    assert (tmp_path / "acme.tests.yaml").read_text() == "# mine\n"
    assert not (tmp_path / "acme.yaml").exists()


@pytest.mark.parametrize("name", ["Acme", "1acme", "ac me", "../acme", ""])
def test_bad_names(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", name, "--dir", str(tmp_path)]) == 2
    assert "is not a valid name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
