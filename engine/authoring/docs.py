"""A destination's catalog page in Markdown, built from its loaded spec data.

The page follows Segment's catalog pages: what the destination accepts and its name for the
`integrations` object, the settings table, the presets table and one section per action with
its default trigger and a Field | Description | Required | Type table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

CALL_TYPES = {"track": "Track", "identify": "Identify", "page": "Page", "screen": "Screen",
              "group": "Group", "alias": "Alias"}
# Segment's pages name the fields a simple trigger compares.
TRIGGER_FIELDS = {"type": "Event type", "event": "Event name"}
_SIMPLE_CONDITION = re.compile(r'^\s*(type|event)\s*=\s*"([^"\\]*)"\s*$')


def describe_trigger(trigger: str) -> str:
    """Segment's wording for a trigger made of `type = "x"` / `event = "y"` joined by `or`:
    `Event type = "track", Event type = "page"`; any other trigger is shown as FQL code."""
    parts = re.split(r"\s+or\s+", trigger.strip())
    described = []
    for part in parts:
        match = _SIMPLE_CONDITION.match(part)
        if not match:
            return f"`{' '.join(trigger.split())}`"
        described.append(f'{TRIGGER_FIELDS[match[1]]} = "{match[2]}"')
    return ", ".join(described)


def _cell(text: Any) -> str:
    """Text fit for one Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text or "").split()).replace("|", "\\|")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    cells = [header, *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    return [line(cells[0]), "| " + " | ".join("-" * w for w in widths) + " |", *(line(r) for r in cells[1:])]


def field_type(spec: dict[str, Any]) -> str:
    """The Type column of an action field: STRING, OBJECT, ...; `multiple` fields as `STRING[]`."""
    kind = str(spec.get("type", "string")).upper()
    return f"{kind}[]" if spec.get("multiple") else kind


def _setting_notes(spec: dict[str, Any], settings: dict[str, Any]) -> str:
    """Choices, format and the display-only keys (depends_on, hidden) of a setting, in words."""
    notes: list[str] = []
    choices = spec.get("choices") or []
    if choices:
        shown = [f"{c.get('label', c.get('value'))} (`{c.get('value')}`)" if isinstance(c, dict) and "label" in c
                 else f"`{c.get('value') if isinstance(c, dict) else c}`" for c in choices]
        notes.append("One of " + ", ".join(shown) + ".")
    if spec.get("format"):
        notes.append(f"Format: {spec['format']}.")
    depends = spec.get("depends_on")
    if depends:
        other = depends.get("setting") if isinstance(depends, dict) else depends
        label = (settings.get(other) or {}).get("label", other)
        if isinstance(depends, dict) and "value" in depends:
            notes.append(f"Shown when {label} is `{depends['value']}`.")
        else:
            notes.append(f"Shown when {label} is set.")
    if spec.get("hidden"):
        notes.append("Hidden in the settings form.")
    return " ".join(notes)


def _batch_sentence(batch: dict[str, Any], fields: dict[str, Any]) -> str:
    """How an action batches, in words, for its section of the page."""
    def label(key: Any) -> str:
        return str((fields.get(key) or {}).get("label", key))

    text = f"Sends up to {batch.get('max_count')} events per request"
    if batch.get("max_bytes"):
        text += f" (at most {batch['max_bytes']:,} bytes)"
    text += "."
    if batch.get("count_field"):
        text += f" **{label(batch['count_field'])}** lowers the count."
    if batch.get("enabled_field"):
        text += f" Turning **{label(batch['enabled_field'])}** off sends one request per event."
    if batch.get("keys"):
        text += " Events with different " + ", ".join(f"**{label(k)}**" for k in batch["keys"]) + " go in separate requests."
    if batch.get("response"):
        text += " The answer says which events were refused; only those fail."
    return text


def _yes(flag: Any, fields: dict[str, Any] | None = None) -> str:
    """The Required cell: Yes/No, or when a conditional requirement applies (`required: {conditions}`)."""
    if isinstance(flag, dict):
        fields = fields or {}
        parts = []
        for cond in flag.get("conditions") or []:
            other = fields.get(cond.get("field_key"), {})
            label = other.get("label", cond.get("field_key")) if isinstance(other, dict) else cond.get("field_key")
            negated = cond.get("operator") == "is_not"
            if "value" not in cond or cond.get("value") is None:
                parts.append(f"{label} is {'given' if negated else 'missing'}")
            else:
                parts.append(f"{label} is {'not ' if negated else ''}{json.dumps(cond['value'])}")
        joined = " or " if flag.get("match") == "any" else " and "
        return f"Only when {joined.join(parts)}" if parts else "No"
    return "Yes" if flag else "No"


def _with_default(description: Any, setting: dict[str, Any]) -> str:
    text = " ".join(str(description or "").split())
    if "default" not in setting:
        return text
    shown = setting["default"] if isinstance(setting["default"], str) else json.dumps(setting["default"])
    return f"{text} Default: `{shown}`.".strip()


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).strip().replace(" ", "-")


def _accepts(types: list[str]) -> str:
    names = [f"[{CALL_TYPES.get(t, t.title())}](/docs/segment/connections/spec/{t})" for t in types]
    if len(names) > 1:
        return ", ".join(names[:-1]) + f", {names[-1]}"
    return names[0] if names else "no"


def render_page(data: dict[str, Any]) -> str:
    """The catalog page of a (valid) spec, as Markdown text ending in a newline."""
    name = data["name"]
    actions: dict[str, Any] = data.get("actions") or {}
    out = [f"# {name} Destination", "", "## Destination Info", ""]
    accepts = list(data.get("accepts") or CALL_TYPES)
    out.append(f"* Accepts {_accepts(accepts)} calls.")
    out.append(f"* Refer to it as **{name}** in the "
               "[Integrations object.](/docs/segment/guides/filtering-data/#filtering-with-the-integrations-object)")
    out.append("")
    if data.get("description"):
        out += [" ".join(str(data["description"]).split()), ""]

    settings: dict[str, Any] = data.get("settings") or {}
    out += ["## Destination Settings", ""]
    if settings:
        rows = [[s.get("label", key), _with_default(s.get("description", ""), s), _yes(s.get("required")),
                 str(s.get("type", "string"))] for key, s in settings.items()]
        notes = [_setting_notes(s, settings) for s in settings.values()]
        if any(notes):  # a column of its own only when a setting has choices, a format or display keys
            out += _table(["Field", "Description", "Required", "Type", "Notes"],
                          [row + [note] for row, note in zip(rows, notes, strict=True)])
        else:
            out += _table(["Field", "Description", "Required", "Type"], rows)
    else:
        out.append(f"{name} has no settings.")
    out.append("")

    presets = data.get("presets") or []
    out += ["## Available Presets", ""]
    if presets:
        out += [f"{name} has the following presets", ""]
        out += _table(["Preset Name", "Trigger", "Default Action"],
                      [[p["name"], describe_trigger(p["subscribe"]), actions[p["action"]]["title"]] for p in presets])
    else:
        out.append(f"{name} has no presets: every subscription is built by hand.")
    out.append("")

    out += ["## Available Actions", "",
            f"Build your own Mappings. Combine supported triggers with the following {name}-supported actions:", ""]
    out += [f"* [{a['title']}](#{_anchor(a['title'])})" for a in actions.values()]
    out.append("")
    for action in actions.values():
        title = action["title"]
        out += [f"### {title}", ""]
        if action.get("description"):
            out += [" ".join(str(action["description"]).split()), ""]
        sentence = f"{title} is a **{str(data.get('mode', 'cloud')).title()}** action."
        if action.get("default_subscription"):
            sentence += f" The default Trigger is `{' '.join(str(action['default_subscription']).split())}`"
        out += [sentence, ""]
        batch = action.get("batch")
        if isinstance(batch, dict):
            out += [_batch_sentence(batch, action.get("fields") or {}), ""]
        fields: dict[str, Any] = action.get("fields") or {}
        if fields:
            out += _table(["Field", "Description", "Required", "Type"],
                          [[f.get("label", key), f.get("description", ""), _yes(f.get("required"), fields), field_type(f)]
                           for key, f in fields.items()])
        else:
            out.append("This action has no fields.")
        out.append("")
    out += _macros_section(data.get("macros"))
    return "\n".join(out).rstrip("\n") + "\n"


def _macros_section(macros: Any) -> list[str]:
    """For spec authors: the spec's shared templates (its `macros:`), when it has any."""
    if not isinstance(macros, dict) or not macros:
        return []
    rows = []
    for key, macro in macros.items():
        params = macro.get("params") or []
        defaults = macro.get("defaults") or {}
        shown = ", ".join(f"{p}={json.dumps(defaults[p])}" if p in defaults else str(p) for p in params)
        rows.append([f"`{key}({shown})`", " ".join(str(macro.get("description", "")).split())])
    return ["## Shared Templates", "", "Macros the templates of this spec call (see docs/templates.md):", "",
            *_table(["Macro", "Description"], rows), ""]


class InvalidSpec(Exception):
    """The spec has errors; `diagnostics` lists them (each prints as FILE:LINE:COL: ...)."""

    def __init__(self, path: Path, diagnostics: list[Any]) -> None:
        super().__init__(f"{path}: the spec is invalid ({len(diagnostics)} problem{'s' if len(diagnostics) != 1 else ''})")
        self.diagnostics = diagnostics


def page_for(path: str | Path) -> str:
    """Validate the spec at `path`, then render its page; raise InvalidSpec with the diagnostics."""
    from engine.spec.loader import load_file
    from engine.spec.validate import validate_path

    path = Path(path)
    errors = [d for d in validate_path(path) if d.severity == "error"]
    if errors:
        raise InvalidSpec(path, errors)
    return render_page(load_file(path).data)
