"""`engine validate` as a command: exit status, text and JSON output, --strict, ordering across files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.cli import main

HERE = Path(__file__).parent
GOOD = HERE / "good" / "minimal.yaml"
BAD = HERE / "bad"


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["validate", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_good_spec_exits_0_and_prints_nothing_on_stdout(capsys):
    code, out, err = run(capsys, GOOD)
    assert (code, out) == (0, "")
    assert err == "1 spec checked: 0 errors, 0 warnings (ok)\n"


def test_bad_spec_exits_1_with_one_located_line_per_problem(capsys):
    path = BAD / "duplicate-key.yaml"
    code, out, err = run(capsys, path)
    assert code == 1
    assert out == f"{path}:8:5: duplicate key 'title': each key may appear once in a mapping\n"
    assert err == "1 spec checked: 1 error, 0 warnings (invalid)\n"


def test_missing_path_exits_2(capsys, tmp_path):
    missing = tmp_path / "nope.yaml"
    code, out, err = run(capsys, missing)
    assert (code, out) == (2, "")
    assert err == f"engine validate: {missing}: no such file or folder\n"


def test_missing_path_among_good_ones_still_exits_2(capsys, tmp_path):
    code, out, _ = run(capsys, GOOD, tmp_path / "nope.yaml")
    assert (code, out) == (2, "")


def test_folder_without_specs_exits_2(capsys, tmp_path):
    code, out, err = run(capsys, tmp_path)
    assert (code, out) == (2, "")
    assert err == f"engine validate: no spec files (*.yaml) in {tmp_path}\n"


def test_json_format_is_one_object_per_line(capsys):
    path = BAD / "procedure-recursion.yaml"
    code, out, err = run(capsys, "--format", "json", path)
    assert code == 1
    assert err == ""
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [
        {
            "file": str(path),
            "line": 17,
            "column": 12,
            "path": "procedures.first[1].use",
            "message": "procedure 'second' includes itself through second -> first -> second",
            "severity": "error",
        },
        {
            "file": str(path),
            "line": 19,
            "column": 12,
            "path": "procedures.second[0].use",
            "message": "procedure 'first' includes itself through first -> second -> first",
            "severity": "error",
        },
    ]


def test_json_format_on_a_good_spec_prints_nothing(capsys):
    assert run(capsys, "--format", "json", GOOD) == (0, "", "")


WARNING = BAD / "required-field-without-default.yaml"
WARNING_LINE = (
    f"{WARNING}:9:7: warning: actions.track.fields.userId: required field 'userId' has no default and no preset "
    "maps it; every event will be invalid unless a user mapping sets it\n"
)


def test_a_warning_alone_exits_0(capsys):
    code, out, err = run(capsys, WARNING)
    assert (code, out) == (0, WARNING_LINE)
    assert err == "1 spec checked: 0 errors, 1 warning (ok)\n"


def test_strict_turns_the_warning_into_exit_1(capsys):
    code, out, err = run(capsys, "--strict", WARNING)
    assert (code, out) == (1, WARNING_LINE)
    assert err == "1 spec checked: 0 errors, 1 warning (invalid)\n"


def test_strict_json_warning_has_severity(capsys):
    code, out, _ = run(capsys, "--strict", "--format", "json", WARNING)
    assert code == 1
    assert [json.loads(line)["severity"] for line in out.splitlines()] == ["warning"]


def test_output_is_sorted_by_file_then_position_across_files(capsys, tmp_path):
    # copy the files so that names sort differently from the order given on the command line
    names = {
        "c.yaml": "procedure-recursion.yaml",
        "a.yaml": "on-delete-unknown-key.yaml",
        "b.yaml": "minimal",
    }
    for new, old in names.items():
        shutil.copy(GOOD if old == "minimal" else BAD / old, tmp_path / new)
    code, out, err = run(capsys, tmp_path)
    assert code == 1
    where = [line.split(": ", 1)[0] for line in out.splitlines()]
    assert where == [
        f"{tmp_path / 'a.yaml'}:12:1",
        f"{tmp_path / 'a.yaml'}:13:3",
        f"{tmp_path / 'c.yaml'}:17:12",
        f"{tmp_path / 'c.yaml'}:19:12",
    ]
    assert err == "3 specs checked: 4 errors, 0 warnings (invalid)\n"


def test_folder_skips_test_files_and_other_extensions(capsys, tmp_path):
    shutil.copy(GOOD, tmp_path / "good.yml")
    (tmp_path / "good.tests.yaml").write_text("not: [a spec\n")
    (tmp_path / "notes.txt").write_text("not: [a spec\n")
    code, _, err = run(capsys, tmp_path)
    assert code == 0
    assert err == "1 spec checked: 0 errors, 0 warnings (ok)\n"


def test_the_whole_bad_folder_is_invalid_and_every_line_is_located(capsys):
    code, out, _ = run(capsys, "--format", "json", BAD)
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]
    assert {Path(r["file"]).name for r in rows} == {p.name for p in BAD.glob("*.yaml")}
    assert all(r["line"] >= 1 and r["column"] >= 1 and r["message"] for r in rows)


def test_a_reused_anchor_is_not_a_raw_python_warning(capsys, tmp_path):
    import warnings

    text = GOOD.read_text().replace("      event:\n", "      event: &user_id\n", 1)
    path = tmp_path / "anchors.yaml"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, out, err = run(capsys, path)
    assert err.endswith("(ok)\n") and "Warning" not in err


def test_an_integer_of_over_4300_digits_is_a_located_error(capsys, tmp_path):
    """It crashed `engine validate` with Python's int-conversion ValueError (issue 18 defect 12)."""
    path = tmp_path / "big.yaml"
    path.write_text(GOOD.read_text() + "x_big: " + "9" * 5000 + "\n")
    line = len(GOOD.read_text().splitlines()) + 1
    code, out, err = run(capsys, path)
    assert code == 1
    assert out == (f"{path}:{line}:8: a number of 5000 digits: integers may have at most 4300 digits;"
                   " quote it to keep it as text\n")


def test_a_spec_of_300000_keys_is_refused_before_parsing(capsys, tmp_path):
    """It took 28 s and 603 MB to end with a message about aliases (issue 18 defect 12)."""
    import tracemalloc

    path = tmp_path / "huge.yaml"
    path.write_text(GOOD.read_text() + "x_many:\n" + "".join(f"  k{i}: {i}\n" for i in range(300_000)))
    tracemalloc.start()
    try:
        code, out, err = run(capsys, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 1
    assert out.startswith(f"{path}:1:1: the file holds about ")
    assert out.endswith("keys or items, more than 200000; a spec is far smaller, refusing to parse it\n")
    assert "aliases" not in out
    assert peak < 100_000_000  # the text itself and a few copies, never the parsed tree
