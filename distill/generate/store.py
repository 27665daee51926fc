"""The output JSONL: what a previous run already wrote (resume) and durable appends.

Why loss-free: a teacher run is hours of paid requests, killed at any moment. Records are
appended per batch of finished requests with flush + fsync (`teacher_records.append`); on
restart a torn last line is dropped (with a warning) and every (question, sample) already stored
is skipped, so the file ends with each pair exactly once. The scan streams the file line by line
(a 40-sample GSM8K run with top-5 log-probs is gigabytes) and keeps only what the summary needs.

A stored sample counts as done only if `distill.build` will take it: every line passes the same
check the build applies (`teacher_records.parse_line`, tokens included). A line that fails stops
the run naming file and line, rather than being counted as done and then failing the build after
the run can no longer request that sample again.

One process at a time writes a file: `exclusive` holds an flock on `{out}.lock` for the run.

A file written with another teacher, API, prompt or sampling setting is refused rather than
silently extended: its records would not be samples of one distribution.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

from distill.contracts import durable, teacher_records
from distill.generate.redact import Redactor
from distill.generate.summary import SampleTally

log = logging.getLogger(__name__)

identity = teacher_records.origin  # what must agree between the records in a file and the ones a run adds


class OutputBusyError(RuntimeError):
    """Another process holds the lock of the output file."""


@contextlib.contextmanager
def exclusive(path: str) -> Iterator[None]:
    """Holds `{path}.lock` (an flock) for the block, so one process at a time writes `path`.

    Why: two runs appending to one file interleave their records (and each would request the
    samples the other is requesting). The kernel drops an flock when its process dies, so a
    killed run never leaves a stale lock; the lock file itself stays, holding the last pid.
    """
    lock_path = f"{path}.lock"
    with open(lock_path, "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "pid unknown"
            raise OutputBusyError(
                f"{path} is being written by another distill.generate process ({holder}, holding {lock_path}); "
                "wait for it to end (or stop it), or choose another --out"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class Store:
    """`path` opened for resuming: `tally` holds the stored records' statistics."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tally = SampleTally()
        self.identity: dict[str, Any] | None = None
        teacher_records.drop_torn_tail(path)
        if os.path.exists(path):
            self._scan()

    def _scan(self) -> None:
        with open(self.path, "rb") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{self.path}:{number}"
                try:
                    record = teacher_records.parse_line(line, where)
                except teacher_records.RecordError as error:
                    raise teacher_records.RecordError(
                        f"{error}; distill.build would stop on this line too: repair or delete it, then rerun"
                    ) from None
                self.identity = self.identity or identity(record)
                if not self.tally.add(record):
                    question, index = record["question_id"], record["sample_index"]
                    log.warning("%s: (%s, sample %d) is stored twice; counting it once", where, question, index)
        if self.tally.records:
            log.info("%s: resuming after %d stored records", self.path, self.tally.records)

    def check_compatible(self, record: dict[str, Any]) -> None:
        """Refuses to add `record` to a file holding records of another configuration."""
        if self.identity is None:
            self.identity = identity(record)
            return
        new = identity(record)
        for key, value in self.identity.items():
            if new[key] != value:
                raise teacher_records.RecordError(
                    f"{self.path} holds records with {key}={value!r}, this run writes {key}={new[key]!r}; "
                    "write to another --out"
                )

    def done(self, question_id: str) -> set[int]:
        return self.tally.sample_indices(question_id)

    async def writer(self, queue: asyncio.Queue[list[dict[str, Any]] | None]) -> None:
        """Appends what the queue delivers, batching whatever arrived while the last fsync ran; None ends."""
        while True:
            batch = await queue.get()
            finished = batch is None
            records = list(batch or [])
            while not finished and not queue.empty():
                more = queue.get_nowait()
                finished = more is None
                records.extend(more or [])
            if records:
                await asyncio.to_thread(teacher_records.append, self.path, records)
                for record in records:
                    self.tally.add(record)
            if finished:
                return


class ErrorLog:
    """`{out}.errors.jsonl`: one line per failed attempt, the API key redacted from every message.

    Each line is fsynced as it is written (`durable.append`, like the records): the errors file is
    how a failed or costly run is diagnosed afterwards, often after the machine went down.
    """

    def __init__(self, path: str, secret: str | None) -> None:
        self.path, self.redactor = path, Redactor(secret)
        self.count = 0

    def redact(self, text: str) -> str:
        """`text` without any 8-character run of the key, then cut to a readable length."""
        return self.redactor.message(text)

    def write(self, **fields: Any) -> None:
        self.count += 1
        entry = {k: self.redact(v) if isinstance(v, str) else v for k, v in fields.items()}
        durable.append(self.path, (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
