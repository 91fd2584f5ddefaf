"""README and docs as written: what a new user copies works (the commands README's set-up makes
available, no example that calls a real API, tables that stay tables)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_set_up_has_exactly_two_commands() -> None:
    section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    blocks = _blocks(section)
    # the install line and the test line (the section's later block is the curl that talks to the server)
    assert len(blocks) >= 2 and all(len(b.strip().splitlines()) == 1 for b in blocks[:2])
    assert blocks[0].startswith("python3 -m venv .venv && ") and blocks[1].strip() == ".venv/bin/python -m pytest"


def test_bare_engine_lines_come_after_saying_how_to_activate() -> None:
    first_bare = min(README.index(b) for b in _blocks(README) if re.match(r"engine ", b))
    assert ". .venv/bin/activate" in README[:first_bare]


def test_no_send_example_reaches_a_real_api() -> None:
    sends = [line for block in _blocks(README) for line in block.splitlines() if line.startswith("engine send")]
    assert sends
    for line in sends:
        assert "--config examples/engine.yaml" in line or re.search(r"--route \S+=http://127\.0\.0\.1", line), line


def test_docs_command_wording() -> None:
    assert "`engine docs acme` writes its catalog page" not in README
    assert "`engine docs acme` prints its catalog page" in README


def test_filters_table_is_not_split() -> None:
    section = (ROOT / "docs" / "templates.md").read_text(encoding="utf-8").split("## Filters", 1)[1].split("\n## ", 1)[0]
    lines = section.strip().splitlines()
    rows = [i for i, line in enumerate(lines) if line.startswith("|")]
    assert rows == list(range(rows[0], rows[-1] + 1))
    assert "fail(message)" in section
