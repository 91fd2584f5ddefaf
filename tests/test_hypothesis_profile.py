"""The suite's hypothesis profile has no deadline, also for tests that set some settings of their own."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st


def test_loaded_profile_has_no_deadline() -> None:
    assert settings._current_profile == "engine"
    assert settings.default.deadline is None


@settings(max_examples=5)
@given(st.integers())
def test_a_test_with_its_own_settings_inherits_no_deadline(number: int) -> None:
    assert settings().deadline is None
    assert isinstance(number, int)
