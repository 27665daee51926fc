"""The console line of a teacher run: samples done of all, requests/s, tokens/s, accepted share, spend, ETA.

How it reaches the console (redrawn on a terminal, a line every `every_s` seconds in a log) is
`distill.contracts.progress.StatusLine`; this module counts samples and dollars.
"""

from __future__ import annotations

import time
from typing import TextIO

from distill.contracts.progress import StatusLine, bar, duration


class Progress:
    """Counts what this run did; `line()` renders it, `show()` prints when it is time."""

    def __init__(self, total: int, done_before: int, every_s: float = 30.0, stream: TextIO | None = None) -> None:
        self.total, self.done_before = total, done_before
        self.status = StatusLine(stream, every_s)
        self.start = time.monotonic()
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
        accepted = f"{self.accepted / self.samples:.1%}" if self.samples else "-"
        money = f" | ${spend:,.4f}" if spend is not None else ""
        failed = f" | {self.failed:,} failed" if self.failed else ""
        return (
            f"{bar(fraction)} {done:,}/{self.total:,} samples | {requests / elapsed:.1f} req/s | "
            f"{self.completion_tokens / elapsed:,.0f} tok/s | accepted {accepted}{money} | "
            f"{retries:,} retries{failed} | ETA {eta}"
        )

    def show(self, requests: int, retries: int, spend: float | None, final: bool = False) -> None:
        if final or self.status.due():
            self.status.show(self.line(requests, retries, spend), final)
