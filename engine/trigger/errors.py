"""The one error the trigger language raises to users: a message and the column it points at."""

from __future__ import annotations


class TriggerError(ValueError):
    """A trigger the engine refuses. `column` is 1-based in the trigger text (newlines count as one character)."""

    def __init__(self, message: str, column: int):
        self.message = message
        self.column = column
        super().__init__(f"col {column}: {message}")
