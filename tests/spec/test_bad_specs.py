"""`engine validate` on a corpus of specs: one bad file per class of mistake, each stating its own expected output.

Every file in bad/ starts with comment lines `# expect: LINE:COL: key.path: message` (or `# expect-warning:`),
exactly what `engine validate` prints for it minus the file name. A `# xfail: reason` line marks a file whose
expected message is what the validator *should* say but does not yet (see the reason).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.diagnostics import Diagnostic, format_path
from engine.spec.loader import MAX_BYTES
from engine.spec.validate import validate_path, validate_text

HERE = Path(__file__).parent
GOOD = HERE / "good"
BAD = HERE / "bad"

EXPECT = re.compile(r"^# (expect|expect-warning): (\d+):(\d+): (?:(\S+): )?(.*)$")
XFAIL = re.compile(r"^# xfail: (.*)$")

Row = tuple[int, int, str, str, str]


def expectations(path: Path) -> tuple[list[Row], str | None]:
    """The expected (line, col, path, message, severity) rows and the xfail reason, from the header comments."""
    rows: list[Row] = []
    reason = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if m := XFAIL.match(line):
            reason = m.group(1)
        elif m := EXPECT.match(line):
            kind, ln, col, key_path, message = m.groups()
            rows.append(
                (
                    int(ln),
                    int(col),
                    key_path or "",
                    message,
                    "warning" if kind == "expect-warning" else "error",
                )
            )
    return rows, reason


def rows(diags: list[Diagnostic]) -> list[Row]:
    return [(d.line, d.column, format_path(d.path), d.message, d.severity) for d in diags]


def params(folder: Path) -> list:
    out = []
    for path in sorted(folder.glob("*.yaml")):
        _, reason = expectations(path)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(path, id=path.stem, marks=marks))
    return out


def test_the_corpus_is_big_and_every_bad_file_states_its_expectations():
    files = sorted(BAD.glob("*.yaml"))
    assert len(files) >= 30
    for path in files:
        expected, _ = expectations(path)
        assert expected, f"{path.name} has no '# expect:' line"


@pytest.mark.parametrize("path", params(BAD))
def test_bad_spec(path: Path):
    expected, _ = expectations(path)
    assert rows(validate_path(path)) == expected


@pytest.mark.parametrize("path", params(GOOD))
def test_good_spec_has_no_diagnostics(path: Path):
    assert validate_path(path) == []


def test_diagnostics_name_the_file():
    path = BAD / "duplicate-key.yaml"
    assert {d.file for d in validate_path(path)} == {str(path)}


def test_the_good_spec_uses_every_top_level_key():
    from engine.spec.loader import load_file
    from engine.spec.schema import destination_schema

    data = load_file(GOOD / "minimal.yaml").data
    assert set(data) == set(destination_schema()["properties"])
    assert data["settings"]["apiKey"]["type"] == "password"
    assert "request" in data["actions"]["identify"] and "steps" in data["actions"]["track"]
    assert {"use": "resolve_user"} in data["actions"]["track"]["steps"]
    # the merge key brought the shared field in, and the local key won over the merged one
    assert data["actions"]["track"]["fields"]["userId"]["label"] == "User ID"
    assert data["actions"]["track"]["fields"]["userId"]["description"] == "Who did it."


# --- files that cannot live in the corpus: empty, binary, oversize ------------------------------------------


def test_zero_byte_file(tmp_path: Path):
    path = tmp_path / "empty.yaml"
    path.write_bytes(b"")
    assert rows(validate_path(path)) == [
        (1, 1, "", "the file is empty; expected a mapping with spec_version, name and actions", "error")
    ]


def test_whitespace_only_file(tmp_path: Path):
    path = tmp_path / "blank.yaml"
    path.write_text("\n  \n\n")
    assert rows(validate_path(path)) == [
        (1, 1, "", "the file is empty; expected a mapping with spec_version, name and actions", "error")
    ]


BINARY = "the file is not UTF-8 text (binary data found); a spec is a YAML text file"


def test_nul_bytes_are_binary(tmp_path: Path):
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"spec_version: 1\nname: A\x00B\n")
    assert rows(validate_path(path)) == [(2, 8, "", BINARY, "error")]


def test_invalid_utf8_is_binary(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("spec_version: 1\nname: Café\n".encode("latin-1"))
    assert rows(validate_path(path)) == [(2, 10, "", BINARY, "error")]


def test_a_png_is_binary(tmp_path: Path):
    path = tmp_path / "logo.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert rows(validate_path(path)) == [(1, 1, "", BINARY, "error")]


def test_utf8_bom_is_accepted(tmp_path: Path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (GOOD / "minimal.yaml").read_bytes())
    assert validate_path(path) == []


def test_oversize_file_is_refused_without_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "huge.yaml"
    line = b"# " + b"x" * 97 + b"\n"
    with path.open("wb") as f:
        for _ in range(6 * 1024 * 1024 // len(line) + 1):
            f.write(line)
    assert path.stat().st_size > MAX_BYTES

    import engine.spec.loader as loader

    def no_parse(*args, **kwargs):
        raise AssertionError("an oversize file must not reach the YAML parser")

    monkeypatch.setattr(loader, "load_text", no_parse)
    monkeypatch.setattr(loader.Path, "read_bytes", no_parse)
    result = rows(validate_path(path))
    assert result == [(1, 1, "", "the file is 6.0 MB; specs are limited to 5 MB", "error")]


def test_a_folder_given_as_a_file(tmp_path: Path):
    diags = validate_path(tmp_path)
    assert len(diags) == 1
    assert (diags[0].line, diags[0].column) == (1, 1)
    assert diags[0].message.startswith("cannot read the file: ")


def test_yaml_bomb_is_refused():
    # bounded by the node budget, not by a clock: performance is measured by benchmarks, not tests
    diags = validate_path(BAD / "yaml-bomb.yaml")
    assert [d.message for d in diags] == [
        "the document expands to more than 200000 nodes (aliases repeated too often?); refusing to load it"
    ]


def test_nesting_just_past_the_limit_is_located():
    good = (GOOD / "minimal.yaml").read_text()
    text = good + "x: " + "[" * 100 + "]" * 100 + "\n"
    assert rows(validate_text(text, "deep.yaml")) == [  # the line after the good spec's last one
        (len(good.splitlines()) + 1, 68, "", "nested more than 64 levels deep; flatten the structure", "error")
    ]


def test_very_deep_flow_nesting_is_refused_before_parsing_and_located():
    # the composer recurses per level (seconds at 1000 levels): the loader refuses before parsing,
    # at the bracket that goes one level too deep
    good = (GOOD / "minimal.yaml").read_text()
    text = good + "x: " + "[" * 1000 + "]" * 1000 + "\n"
    result = rows(validate_text(text, "deep.yaml"))
    line = len(good.splitlines()) + 1
    assert result == [(line, 68, "", "nested more than 64 levels deep; flatten the structure", "error")]


def test_brackets_inside_quotes_and_comments_do_not_count_as_nesting():
    text = (GOOD / "minimal.yaml").read_text() + 'description: "' + "[" * 300 + '"  # ' + "{" * 300 + "\n"
    assert all("nested" not in d.message for d in validate_text(text, "q.yaml"))


# --- a check that trips over one malformed part must not hide the others --------------------------------------


def test_a_malformed_preset_does_not_hide_a_two_bodies_error():
    text = (BAD / "two-bodies.yaml").read_text() + "presets: [junk]\n"
    assert rows(validate_text(text, "t.yaml")) == [
        (
            14,
            7,
            "actions.track.request.form",
            "a request has one body: give only one of json, form or body (found json, form)",
            "error",
        ),
        (15, 11, "presets[0]", "expected a mapping, found a string", "error"),
    ]
