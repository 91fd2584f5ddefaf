"""Settings of a destination instance: defaults, required values, types, and which are secrets."""

from __future__ import annotations

from typing import Any


class SettingsError(ValueError):
    """The settings given for a destination do not fit its spec (message names the setting)."""


def resolve_settings(spec_settings: dict[str, dict[str, Any]], given: dict[str, Any] | None,
                     *, check_required: bool = True) -> dict[str, Any]:
    """Apply defaults, coerce types and check required settings; raise SettingsError listing every problem."""
    given = dict(given or {})
    out: dict[str, Any] = {}
    problems: list[str] = []
    for key in given:
        if key not in spec_settings:
            known = ", ".join(spec_settings) or "none"
            problems.append(f"unknown setting '{key}' (this destination's settings: {known})")
    for key, spec in spec_settings.items():
        value = given.get(key, spec.get("default"))
        label = spec.get("label", key)
        if value is None or value == "":
            if check_required and spec.get("required"):
                problems.append(f"setting '{key}' ({label}) is required")
            continue
        kind = spec.get("type", "string")
        try:
            if kind in ("string", "password"):
                if isinstance(value, (dict, list)):
                    raise ValueError
                value = value if isinstance(value, str) else str(value)
            elif kind == "number":
                value = float(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else value
            elif kind == "integer":
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError
                value = int(value)
            elif kind == "boolean" and not isinstance(value, bool):
                text = str(value).lower()
                if text not in ("true", "false"):
                    raise ValueError
                value = text == "true"
        except (TypeError, ValueError):
            problems.append(f"setting '{key}' ({label}) must be {'an' if kind == 'integer' else 'a'} {kind}")
            continue
        out[key] = value
    if problems:
        raise SettingsError("; ".join(problems))
    return out


def secret_values(spec_settings: dict[str, dict[str, Any]], settings: dict[str, Any]) -> list[str]:
    """Values of `password` settings: what must never be printed."""
    return [str(settings[k]) for k, s in spec_settings.items()
            if s.get("type") == "password" and settings.get(k) not in (None, "")]
