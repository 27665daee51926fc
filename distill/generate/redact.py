"""Keeping the API key out of everything the teacher client writes: errors file, logs, summary, exceptions.

Why fragments and not the whole key: a server (or a proxy in front of it) may echo the
Authorization header in an error body, and that text is then cut to a readable length. Cutting
first and replacing the whole key after leaves the part before the cut (50 of 54 characters,
measured). So `Redactor` removes every run of `MIN_RUN` (8) or more consecutive characters of the
key, wherever it stands, and only then cuts: whatever is cut afterwards cannot regrow a fragment.
"""

from __future__ import annotations

MIN_RUN = 8  # the longest run of key characters a written text may hold is MIN_RUN - 1
MARK = "[REDACTED]"
MESSAGE_CHARS = 500  # error messages are cut to this length, after redaction


class Redactor:
    """Replaces every stretch of text made of `MIN_RUN`-character runs of `secret` by `MARK`."""

    def __init__(self, secret: str | None) -> None:
        secret = secret or ""
        self.width = min(MIN_RUN, len(secret))
        self._runs = {secret[i : i + self.width] for i in range(len(secret) - self.width + 1)} if secret else set()

    def redact(self, text: str) -> str:
        spans = sorted(self._spans(text))
        return self._join(text, spans) if spans else text

    def _spans(self, text: str) -> list[tuple[int, int]]:
        """(start, stop) of every occurrence of every run (overlapping ones included)."""
        found = []
        for run in self._runs:
            at = text.find(run)
            while at >= 0:
                found.append((at, at + self.width))
                at = text.find(run, at + 1)
        return found

    @staticmethod
    def _join(text: str, spans: list[tuple[int, int]]) -> str:
        """`text` with each union of overlapping or touching `spans` (sorted) replaced by MARK."""
        pieces, kept_from, covered_to = [], 0, -1
        for start, stop in spans:
            if start > covered_to:  # a new covered stretch begins
                if covered_to >= 0:
                    pieces.append(MARK)
                pieces.append(text[kept_from:start])
            covered_to = max(covered_to, stop)
            kept_from = covered_to
        pieces.append(MARK)
        pieces.append(text[kept_from:])
        return "".join(pieces)

    def message(self, text: str, limit: int = MESSAGE_CHARS) -> str:
        """`text` redacted, then cut to `limit` characters (never the other way round)."""
        text = self.redact(text)
        return text if len(text) <= limit else text[: limit - 3] + "..."
