"""Progress bars (tqdm) with an ETA that leaves compilation out.

The first unit of work of an app (a fit, a shard, a batch of worlds) includes JAX's compilation,
which later units reuse, so the ETA is the rate measured *after* the first update:
``(now - t_first) / (n - n_first) * (total - n)``; until a second update it reads ``ETA after
the first unit``. Bars go to stderr, only when it is a terminal or ``MMM_PROGRESS=1``
(``MMM_PROGRESS=0`` silences them); the numbers are also kept on the object for tests.
"""
from __future__ import annotations

import os
import sys
import time


def eta_seconds(t_first: float, n_first: int, now: float, n: int, total: int) -> float | None:
    """Seconds left at the rate seen since the first update, or None before a second update."""
    if n <= n_first or t_first is None:
        return None
    return (now - t_first) / (n - n_first) * max(total - n, 0)


def _enabled() -> bool:
    flag = os.environ.get("MMM_PROGRESS")
    if flag is not None:
        return flag not in ("0", "", "false")
    return sys.stderr.isatty()


def _fmt(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """``with Progress(total, "study", unit="shard") as bar: ... bar.to(n_done)`` (or ``bar.add(k)``)."""

    def __init__(self, total: int, desc: str, unit: str = "it", initial: int = 0, lines: bool = False,
                 first: str | None = None):
        """``lines``: without a terminal (a log file), print one plain line per update instead;
        ``first``: what the first update counts, for the wait message (default ``unit``)."""
        self.total, self.desc, self.unit = int(total), desc, unit
        self.first = first or unit
        self.lines = lines and os.environ.get("MMM_PROGRESS") is None and not sys.stderr.isatty()
        self.n = int(initial)
        self.t_first, self.n_first = None, None
        self.eta = None
        self._bar = None
        if _enabled():
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=self.n, desc=desc, unit=unit, file=sys.stderr,
                             dynamic_ncols=True, mininterval=0.5,
                             bar_format="{desc}: {n_fmt}/{total_fmt} {unit} |{bar}| {elapsed} elapsed{postfix}")
            self._bar.set_postfix_str("ETA after the first " + self.first + " (compiling)", refresh=True)

    def to(self, n_done: int) -> None:
        """Set the count of finished units to ``n_done``."""
        self.add(int(n_done) - self.n)

    def retotal(self, total: int) -> None:
        """Change the total (a sampler whose cap grew), keeping the count and the rate."""
        if int(total) != self.total:
            self.total = int(total)
            if self._bar is not None:
                self._bar.total = self.total
                self._bar.refresh()

    def add(self, k: int = 1) -> None:
        now = time.time()
        self.n += int(k)
        if self.t_first is None:
            self.t_first, self.n_first = now, self.n
        self.eta = eta_seconds(self.t_first, self.n_first, now, self.n, self.total)
        if self.lines:
            eta = "ETA after the first " + self.first if self.eta is None else f"ETA {_fmt(self.eta)}"
            print(f"{self.desc}: {self.n}/{self.total} {self.unit}(s) done, {eta} (compilation excluded)",
                  file=sys.stderr, flush=True)
        if self._bar is not None:
            self._bar.update(int(k))
            if self.n >= self.total:
                self._bar.set_postfix_str("done", refresh=True)
            elif self.eta is not None:
                self._bar.set_postfix_str(f"ETA {_fmt(self.eta)} (compilation excluded)", refresh=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.close()
        return False
