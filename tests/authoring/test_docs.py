"""`engine docs`: the UserMotion page carries the seed page's rows; invalid specs are refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.authoring.docs import describe_trigger, field_type, render_page
from engine.cli import main
from engine.spec.loader import load_file

ROOT = Path(__file__).resolve().parents[2]
SEED = Path(__file__).resolve().parent / "seeds" / "usermotion-actions.md"  # Segment's published catalog page


def tables(markdown: str) -> dict[str, list[list[str]]]:
    """Every Markdown table, keyed by the nearest heading above it; cells with whitespace collapsed.
    A heading that owns several tables keeps the first one."""
    found: dict[str, list[list[str]]] = {}
    heading = ""
    rows: list[list[str]] | None = None
    for line in markdown.splitlines() + [""]:
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("|"):
            cells = [" ".join(c.split()) for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if all(re.fullmatch(r"-+", c) for c in cells):
                continue
            if rows is None:
                rows = []
            rows.append(cells)
        elif rows is not None:
            found.setdefault(heading, rows)
            rows = None
    return found


def columns(rows: list[list[str]], *names: str) -> list[tuple[str, ...]]:
    header = rows[0]
    index = [header.index(n) for n in names]
    return [tuple(r[i] for i in index) for r in rows[1:]]


@pytest.fixture(scope="module")
def ours() -> dict[str, list[list[str]]]:
    from engine.authoring.docs import page_for

    return tables(page_for(ROOT / "specs" / "usermotion.yaml"))


@pytest.fixture(scope="module")
def seed() -> dict[str, list[list[str]]]:
    return tables(SEED.read_text())


def test_settings_table_matches_seed(ours: dict, seed: dict) -> None:
    assert columns(ours["Destination Settings"], "Field", "Required", "Type") == \
        columns(seed["Destination Settings"], "Field", "Required", "Type") == [("API Key", "Yes", "password")]


def test_presets_table_matches_seed(ours: dict, seed: dict) -> None:
    names = ("Preset Name", "Trigger", "Default Action")
    assert columns(ours["Available Presets"], *names) == columns(seed["Available Presets"], *names)
    assert ("Track Analytics Event", 'Event type = "track", Event type = "page"', "Track Analytics Event") in \
        columns(ours["Available Presets"], *names)


@pytest.mark.parametrize("action", ["Identify Company", "Track Analytics Event", "Identify"])
def test_action_tables_match_seed_row_for_row(ours: dict, seed: dict, action: str) -> None:
    assert columns(ours[action], "Field", "Required", "Type") == columns(seed[action], "Field", "Required", "Type")


def test_same_actions_as_seed(ours: dict, seed: dict) -> None:
    skip = {"Destination Settings", "Available Presets", "Settings"}
    assert sorted(set(ours) - skip) == sorted(set(seed) - skip)


def test_default_trigger_sentences() -> None:
    page = (ROOT / "specs" / "usermotion.yaml")
    text = main_out(["docs", str(page)])
    assert 'Track Analytics Event is a **Cloud** action. The default Trigger is `type = "track" or type = "page"`' in text
    assert "Refer to it as **UserMotion (Actions)** in the" in text
    assert text.count("[Identify](/docs/segment/connections/spec/identify)") == 1


def main_out(argv: list[str]) -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return buf.getvalue()


def test_describe_trigger() -> None:
    assert describe_trigger('type = "identify"') == 'Event type = "identify"'
    assert describe_trigger('type = "track" or  event = "Signed Up"') == 'Event type = "track", Event name = "Signed Up"'
    assert describe_trigger('type = "track" and event = "A"') == '`type = "track" and event = "A"`'


def test_field_types() -> None:
    assert [field_type(f) for f in ({"type": "datetime"}, {"type": "password"}, {}, {"type": "string", "multiple": True})] \
        == ["DATETIME", "PASSWORD", "STRING", "STRING[]"]


def test_render_minimal_page_exactly() -> None:
    data = {"name": "Acme", "mode": "cloud", "accepts": ["track"],
            "settings": {"apiKey": {"label": "API Key", "description": "The key | secret.", "type": "password",
                                    "required": True}},
            "presets": [{"name": "Track", "subscribe": 'type = "track"', "action": "t"}],
            "actions": {"t": {"title": "Track", "description": "Send.", "default_subscription": 'type = "track"',
                              "fields": {"n": {"label": "N", "type": "integer"}}}}}
    assert render_page(data) == """\
# Acme Destination

## Destination Info

* Accepts [Track](/docs/segment/connections/spec/track) calls.
* Refer to it as **Acme** in the [Integrations object.](/docs/segment/guides/filtering-data/#filtering-with-the-integrations-object)

## Destination Settings

| Field   | Description        | Required | Type     |
| ------- | ------------------ | -------- | -------- |
| API Key | The key \\| secret. | Yes      | password |

## Available Presets

Acme has the following presets

| Preset Name | Trigger              | Default Action |
| ----------- | -------------------- | -------------- |
| Track       | Event type = "track" | Track          |

## Available Actions

Build your own Mappings. Combine supported triggers with the following Acme-supported actions:

* [Track](#track)

### Track

Send.

Track is a **Cloud** action. The default Trigger is `type = "track"`

| Field | Description | Required | Type    |
| ----- | ----------- | -------- | ------- |
| N     |             | No       | INTEGER |
"""


def test_invalid_spec_refused_with_diagnostics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec_version: 1\nname: Bad\n")
    assert main(["docs", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:" in err and "the spec is invalid" in err


def test_all_writes_one_page_per_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "usermotion.yaml").write_text((ROOT / "specs" / "usermotion.yaml").read_text())
    (specs / "usermotion.tests.yaml").write_text("[]\n")
    out = tmp_path / "catalog"
    assert main(["docs", "--all", "--specs", str(specs), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["usermotion.md"]
    assert (out / "usermotion.md").read_text() == render_page(load_file(specs / "usermotion.yaml").data)
    (specs / "broken.yaml").write_text("spec_version: 1\nname: Broken\n")
    assert main(["docs", "--all", "--specs", str(specs), "--out", str(out)]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["usermotion.md"]


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs"]) == 2
    assert main(["docs", "--all"]) == 2
    assert main(["docs", "no-such-destination"]) == 2


def test_conditional_requirement_and_setting_defaults_are_shown() -> None:
    from engine.authoring.docs import page_for

    usercom = tables(page_for(ROOT / "specs" / "usercom.yaml"))
    identify = next(rows for heading, rows in usercom.items() if heading.startswith("Identify"))
    assert ("User ID", "Only when Anonymous ID is missing") in columns(identify, "Field", "Required")
    userpilot = tables(page_for(ROOT / "specs" / "userpilot.yaml"))
    [endpoint] = [row for row in columns(userpilot["Destination Settings"], "Field", "Description") if row[0] == "API Endpoint"]
    assert endpoint[1].endswith("Default: `https://analytex.userpilot.io/`.")


def test_a_spec_with_macros_lists_them_for_its_authors() -> None:
    data = load_file(ROOT / "tests" / "spec" / "good" / "macros.yaml").data
    page = render_page(data)
    assert tables(page)["Shared Templates"] == [
        ["Macro", "Description"],
        ['`host(region, service="api")`', "The API host of a region."],
        ['`full_name(first, last="")`', "First and last name joined by one space (either may be missing)."],
        ["`slug(text)`", "Lower-case words joined by dashes."],
        ["`person_key(id, first, last)`", "The key a person is filed under."],
    ]
    usermotion = render_page(load_file(ROOT / "specs" / "usermotion.yaml").data)
    assert "Shared Templates" not in usermotion  # specs without macros: pages unchanged
