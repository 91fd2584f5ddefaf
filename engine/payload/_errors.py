"""The error a failed payload validation raises, shaped like Segment's `AggregateAjvError`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PayloadIssue:
    """One validation message. `pointer` is a JSON pointer into the payload (`""` = the root)."""

    pointer: str
    message: str
    path: str = "$"  # the same location as a JSONPath (`$`, `$.a`, `$.items[1]`)


class PayloadError(ValueError):
    """The payload does not satisfy the action's fields.

    `str(error)` is exactly Segment's `AggregateAjvError.message`: every issue's message joined by a
    space. In batch mode Segment reports it as a 400 `PAYLOAD_VALIDATION_FAILED` item.
    """

    status = 400
    error_type = "PAYLOAD_VALIDATION_FAILED"

    def __init__(self, errors: list[PayloadIssue]):
        self.errors = list(errors)
        super().__init__(" ".join(issue.message for issue in self.errors))

    def __str__(self) -> str:
        return " ".join(issue.message for issue in self.errors)
