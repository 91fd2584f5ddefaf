"""A non-editable build ships schemas/ and specs/ inside the package (engine/data), and the engine finds them there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _build(tmp_path: Path) -> Path:
    lib = tmp_path / "lib"
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(lib)], cwd=ROOT, check=True,
                   capture_output=True)
    return lib


def test_build_copies_every_schema_and_spec(tmp_path: Path) -> None:
    data = _build(tmp_path) / "engine" / "data"
    assert sorted(p.name for p in data.glob("*.json")) == sorted(p.name for p in (ROOT / "schemas").glob("*.json"))
    assert sorted(p.name for p in (data / "specs").glob("*.yaml")) == sorted(p.name for p in (ROOT / "specs").glob("*.yaml"))
    assert (data / "specs" / "usermotion.yaml").read_bytes() == (ROOT / "specs" / "usermotion.yaml").read_bytes()


def test_built_package_resolves_specs_and_schemas_from_its_data(tmp_path: Path) -> None:
    lib = _build(tmp_path)
    probe = (
        "from engine.runtime.destination import resolve_spec_path, load_destination\n"
        "from engine.spec.schema import schema_path\n"
        "from engine.config.load import config_schema\n"
        "print(resolve_spec_path('usermaven'))\n"
        "print(schema_path())\n"
        "print(load_destination('usermotion').name, sorted(config_schema()))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(lib)}
    work = tmp_path / "elsewhere"
    work.mkdir()
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(lib)!r})\n" + probe],
                         cwd=work, env=env, check=True, capture_output=True, text=True).stdout.splitlines()
    assert out[0] == str(lib / "engine" / "data" / "specs" / "usermaven.yaml")
    assert out[1] == str(lib / "engine" / "data" / "destination.schema.json")
    assert out[2].startswith("UserMotion (Actions) ")
