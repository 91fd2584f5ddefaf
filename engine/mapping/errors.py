"""The three ways a mapping can fail: invalid at compile time, or failing on one event."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MappingIssue:
    """One validation problem.

    `path` is the key path into the mapping value (keys, directive names, option names and,
    in strict mode, array indexes): the stack Segment prints, usable to locate the value in a
    YAML file. `message` is Segment's full text, e.g.
    `/a/@if/exists/@path should be a string or a mapping directive but it is a number.`
    """

    path: tuple[str | int, ...]
    message: str


class MappingError(Exception):
    """The mapping is invalid; `.issues` holds every problem found (never empty)."""

    def __init__(self, issues: list[MappingIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(issue.message for issue in self.issues))


class MappingRuntimeError(Exception):
    """Applying a valid mapping to one event failed, with Segment's runtime message."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
