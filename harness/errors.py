"""One-line, user-facing errors for bad input."""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration or input problem; the message names the field."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class InputError(ValueError):
    """A problem with an input file; the message names file, row and field."""

    def __init__(self, path: str, problem: str, row: int | None = None, field: str | None = None):
        where = str(path)
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {problem}")


class FitError(RuntimeError):
    """A fit that ran but produced no usable posterior (non-finite summaries); exit status 3."""
