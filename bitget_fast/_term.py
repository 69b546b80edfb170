"""Terminal output of the command line: a view redrawn in place, and a progress line."""

from __future__ import annotations

import time
from typing import TextIO


class Screen:
    """A block of lines redrawn in place on a terminal; elsewhere one line every ``every_s``."""

    def __init__(self, out: TextIO, live: bool, every_s: float = 5.0) -> None:
        self.out, self.live, self.every_s = out, live, every_s
        self._drawn = 0
        self._last_line = 0.0

    def draw(self, lines: list[str], line: str | None = None) -> None:
        """Show ``lines`` (live) or ``line`` (default: the first of them) at most every ``every_s``."""
        if self.live:
            buf = f"\x1b[{self._drawn}F\x1b[J" if self._drawn else ""
            self.out.write(buf + "\n".join(lines) + "\n")
            self.out.flush()
            self._drawn = len(lines)
        elif time.monotonic() - self._last_line >= self.every_s:
            self._last_line = time.monotonic()
            self.out.write((line if line is not None else lines[0]) + "\n")
            self.out.flush()


class Progress:
    """One status line on a terminal (rewritten in place, cleared at the end); silent elsewhere."""

    def __init__(self, out: TextIO, enabled: bool | None = None, min_interval_s: float = 0.1) -> None:
        self.out = out
        self.enabled = out.isatty() if enabled is None else enabled
        self.min_interval_s = min_interval_s
        self._last = 0.0
        self._shown = False

    def update(self, text: str, *, force: bool = False) -> None:
        """Show ``text`` (throttled to ``min_interval_s`` unless ``force``)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.min_interval_s:
            return
        self._last = now
        self.out.write("\r\x1b[K" + text)
        self.out.flush()
        self._shown = True

    def done(self) -> None:
        """Clear the line."""
        if self._shown:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._shown = False


def si(n: float, unit: str = "") -> str:
    """``n`` with a k/M/G suffix: 1234567 -> '1.23 M'."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f} {suffix}{unit}"
    return f"{n:.0f} {unit}".rstrip()
