"""`engine new`: the scaffold validates, and never overwrites."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main


def test_new_then_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "acme", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == (f"wrote {tmp_path / 'acme.yaml'}\nwrote {tmp_path / 'acme.tests.yaml'}\n"
                                       f"wrote {tmp_path / 'destination.schema.json'}\n")
    assert main(["validate", str(tmp_path / "acme.yaml")]) == 0
    assert "0 errors, 0 warnings (ok)" in capsys.readouterr().err


def _schema_line(spec: Path) -> str:
    first = spec.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    return first.split("$schema=", 1)[1]


def test_schema_line_points_at_a_schema_that_exists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.spec.schema import schema_path

    # outside the repository: the installed schema is written beside the spec
    assert main(["new", "acme", "--dir", str(tmp_path / "mine")]) == 0
    target = tmp_path / "mine" / _schema_line(tmp_path / "mine" / "acme.yaml")
    assert target.read_text() == schema_path().read_text()
    # a second scaffold in the same folder reuses it
    assert main(["new", "other", "--dir", str(tmp_path / "mine")]) == 0
    assert "destination.schema.json" not in capsys.readouterr().out.split("other.tests.yaml")[1]
    # in a project laid out as this repository (specs/ beside schemas/): the project's schema
    (tmp_path / "proj" / "schemas").mkdir(parents=True)
    (tmp_path / "proj" / "schemas" / "destination.schema.json").write_text("{}")
    assert main(["new", "acme", "--dir", str(tmp_path / "proj" / "specs")]) == 0
    line = _schema_line(tmp_path / "proj" / "specs" / "acme.yaml")
    assert line == "../schemas/destination.schema.json"
    assert (tmp_path / "proj" / "specs" / line).is_file()
    assert not (tmp_path / "proj" / "specs" / "destination.schema.json").exists()


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
