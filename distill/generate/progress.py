"""The console line of a teacher run: samples done of all, requests/s, tokens/s, accepted share, spend, ETA.

On a terminal the line is redrawn in place every half second with a bar; in a log (not a TTY)
it is a new line every `every_s` seconds, so a multi-hour run leaves a readable log. The engine's
`ProgressLine` shows training steps; a teacher run counts samples and dollars.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from distill.engine.progress import duration


class Progress:
    """Counts what this run did; `line()` renders it, `show()` prints when it is time."""

    def __init__(self, total: int, done_before: int, every_s: float = 30.0, stream: TextIO | None = None) -> None:
        self.total, self.done_before = total, done_before
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every_s = 0.5 if self.tty else every_s
        self.start = self._last = time.monotonic()
        self.samples = self.accepted = self.completion_tokens = self.failed = 0

    def add(self, samples: int, accepted: int, completion_tokens: int) -> None:
        self.samples += samples
        self.accepted += accepted
        self.completion_tokens += completion_tokens

    def line(self, requests: int, retries: int, spend: float | None) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        done = self.done_before + self.samples
        rate = self.samples / elapsed
        left = self.total - done - self.failed
        eta = duration(left / rate) if rate > 0 else "?"
        fraction = done / self.total if self.total else 1.0
        bar = "#" * int(20 * fraction) + "." * (20 - int(20 * fraction))
        accepted = f"{self.accepted / self.samples:.1%}" if self.samples else "-"
        money = f" | ${spend:,.4f}" if spend is not None else ""
        failed = f" | {self.failed:,} failed" if self.failed else ""
        return (
            f"[{bar}] {done:,}/{self.total:,} samples | {requests / elapsed:.1f} req/s | "
            f"{self.completion_tokens / elapsed:,.0f} tok/s | accepted {accepted}{money} | "
            f"{retries:,} retries{failed} | ETA {eta}"
        )

    def show(self, requests: int, retries: int, spend: float | None, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < self.every_s:
            return
        self._last = now
        end = "\n" if final or not self.tty else ""
        self.stream.write(("\r" if self.tty else "") + self.line(requests, retries, spend) + end)
        self.stream.flush()
