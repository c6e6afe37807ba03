"""One-line warnings for legal but suspicious input (``warning: ...`` on stderr).

Every warning is also kept in a process-wide list so an app can record them in its outputs
(e.g. ``diagnostics.json``). The list is reset by :func:`reset`.
"""
from __future__ import annotations

import sys

_ISSUED: list[str] = []


def warn(message: str) -> None:
    """Print ``warning: <message>`` (one line) to stderr and remember it."""
    line = " ".join(str(message).split())
    _ISSUED.append(line)
    print(f"warning: {line}", file=sys.stderr, flush=True)


def warnings_issued() -> list[str]:
    """The warnings issued since the last :func:`reset`."""
    return list(_ISSUED)


def reset() -> None:
    _ISSUED.clear()
