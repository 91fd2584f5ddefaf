"""Filters and tests from installed packages (entry-point groups engine.filters / engine.tests)."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from engine.templates import TemplateError, build_environment


class FakeEntryPoint:
    def __init__(self, name: str, loaded: Any = None, error: Exception | None = None):
        self.name = name
        self._loaded = loaded
        self._error = error

    def load(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._loaded


def use_entry_points(monkeypatch: pytest.MonkeyPatch, groups: dict[str, list[FakeEntryPoint]]) -> None:
    def entry_points(*, group: str) -> list[FakeEntryPoint]:
        return groups.get(group, [])

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_plugins_add_filters_and_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    use_entry_points(
        monkeypatch,
        {
            "engine.filters": [
                FakeEntryPoint("shout", lambda s: s.upper() + "!"),
                FakeEntryPoint("bundle", {"twice": lambda s: s * 2, "half": lambda n: n / 2}),
            ],
            "engine.tests": [FakeEntryPoint("multiple_of_three", lambda n: n % 3 == 0)],
        },
    )
    env = build_environment()
    template = env.from_string("{{ 'hi' | shout }} {{ 'ab' | twice }} {{ 3 | half }} {{ 6 is multiple_of_three }} {{ 4 is multiple_of_three }}")
    assert template.render() == "HI! abab 1.5 true false"


def test_plugin_may_not_replace_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    use_entry_points(monkeypatch, {"engine.filters": [FakeEntryPoint("merge", lambda *a: {})]})
    with pytest.raises(TemplateError) as info:
        build_environment()
    assert info.value.message == "the engine.filters plugin 'merge' would replace a built-in of the same name"


def test_broken_plugin_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    use_entry_points(monkeypatch, {"engine.tests": [FakeEntryPoint("odd", error=ImportError("no module named odd_pkg"))]})
    with pytest.raises(TemplateError) as info:
        build_environment()
    assert info.value.message == "the engine.tests entry point 'odd' failed to load: no module named odd_pkg"


def test_non_callable_plugin_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    use_entry_points(monkeypatch, {"engine.filters": [FakeEntryPoint("cfg", {"x": 3})]})
    with pytest.raises(TemplateError) as info:
        build_environment()
    assert info.value.message == "the engine.filters entry point 'cfg' provides 'x', which is not callable"
