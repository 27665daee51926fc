"""The console status line every command shares: its ETA format, its bar, and when it is printed.

On a terminal the line is redrawn in place (often); in a log (not a TTY) it is a new line now and
then, so a multi-hour run leaves a readable log instead of thousands of carriage returns. Each
command keeps its own counters (training steps, teacher samples and dollars, converted bytes)
and renders its own text; this module only decides how and when it reaches the stream.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO


def duration(seconds: float) -> str:
    """`1h05m` or `4m07s`: the ETA format of every progress line."""
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def bar(fraction: float, width: int = 20) -> str:
    """`[#####...............]` for a fraction in [0, 1]."""
    filled = int(width * min(max(fraction, 0.0), 1.0))
    return "[" + "#" * filled + "." * (width - filled) + "]"


class StatusLine:
    """One status line on `stream`: redrawn at most every `tty_every_s` on a terminal, else every `every_s`."""

    def __init__(self, stream: TextIO | None = None, every_s: float = 30.0, tty_every_s: float = 0.5) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every_s = tty_every_s if self.tty else every_s
        self._last = -math.inf

    def due(self) -> bool:
        """Whether the next line would be printed now (callers skip rendering text that would not be)."""
        return time.monotonic() - self._last >= self.every_s

    def show(self, text: str, final: bool = False) -> None:
        """Prints `text` now (in place on a terminal); the final line always ends with a newline."""
        self._last = time.monotonic()
        end = "\n" if final or not self.tty else ""
        self.stream.write(("\r\033[K" if self.tty else "") + text + end)
        self.stream.flush()
