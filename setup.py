"""Build hook: ship the top-level `schemas/` and `specs/` inside the package as `engine/data/`.

The repository keeps them at the top level (the design card's layout, and what an editable install reads);
a wheel built from it would otherwise leave them out, and `engine validate`, `engine schema` and spec lookup
by name would fail in a non-editable install. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        data = Path(self.build_lib) / "engine" / "data"
        (data / "specs").mkdir(parents=True, exist_ok=True)
        for schema in sorted((ROOT / "schemas").glob("*.json")):
            shutil.copy2(schema, data / schema.name)
        for spec in sorted((ROOT / "specs").glob("*.yaml")):
            shutil.copy2(spec, data / "specs" / spec.name)


setup(cmdclass={"build_py": BuildWithData})
