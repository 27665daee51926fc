"""Groups the rows of concurrent requests into padded decode batches on one worker thread.

HTTP handler threads submit a `Job` (one row per prompt and choice) and wait on it. The
worker takes every queued row, up to the largest batch bucket, waiting `batch_wait_s` after
the first one so that requests arriving together share a batch; rows that arrive while a
batch decodes are picked up by the next one. Batch size, input length and decode length are
padded up to the configured buckets, so the number of compiled programs is bounded by the
number of bucket combinations (x2: with and without top-logprob alternatives) however
requests vary. A failing decode fails only the jobs in that batch; the worker keeps going.

The queue holds at most `max_queued_rows` rows (`submit` raises `QueueFullError` beyond it), and a
cancelled job's rows are dropped when the worker reaches them, never decoded. If the worker
itself dies (a `BaseException`), every waiting job fails at once with `WorkerDeadError` and so does
every later `submit`, so no request waits on a thread that is gone.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future
from typing import Any

import numpy as np

from distill.serve import sampler

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Buckets:
    """Padded shapes; the last entry of each is also the largest accepted value."""

    batch: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    input_length: tuple[int, ...] = (64, 128, 256, 512)
    decode_length: tuple[int, ...] = (32, 64, 128, 256)

    def __post_init__(self) -> None:
        for name in ("batch", "input_length", "decode_length"):
            values = getattr(self, name)
            if not values or list(values) != sorted(set(values)) or values[0] < 1:
                raise ValueError(f"Buckets.{name} must be increasing positive integers, got {values}")

    @staticmethod
    def fit(buckets: Sequence[int], value: int) -> int:
        """The smallest bucket >= value (callers keep value <= the largest bucket)."""
        return buckets[min(bisect.bisect_left(buckets, value), len(buckets) - 1)]


@dataclasses.dataclass(frozen=True)
class Row:
    """One sequence to decode: a prompt's encoder tokens and one choice's sampling settings."""

    encoder_tokens: tuple[int, ...]
    temperature: float
    top_p: float
    max_tokens: int
    seed: tuple[int, int]
    top_logprobs: int  # alternatives wanted per step (0: none)


@dataclasses.dataclass
class Generation:
    """A decoded row: its tokens up to (not including) EOS, and their log-probabilities."""

    ids: list[int]
    log_probs: list[float]
    top_ids: np.ndarray  # [len(ids), K]
    top_log_probs: np.ndarray  # [len(ids), K]
    ended: bool  # stopped at EOS (else at max_tokens)


class QueueFullError(Exception):
    """Taking a job's rows would put more than `max_queued_rows` rows in the queue."""


class WorkerDeadError(Exception):
    """The decode worker thread has stopped; nothing submitted will be decoded."""


class Job:
    """The rows of one request; `future` resolves to their `Generation`s in order."""

    def __init__(self, rows: Sequence[Row]) -> None:
        self.rows = list(rows)
        self.results: list[Generation | None] = [None] * len(self.rows)
        self.remaining = len(self.rows)
        self.future: Future = Future()
        self.cancelled = False
        self.queued = 0  # rows still in the batcher's queue (guarded by the batcher's lock)
        self._lock = threading.Lock()

    def set(self, index: int, generation: Generation) -> None:
        with self._lock:
            self.results[index] = generation
            self.remaining -= 1
            if self.remaining == 0 and not self.future.done():
                self.future.set_result(self.results)

    def fail(self, error: BaseException) -> None:
        with self._lock:
            if self.future.done():
                return
            self.future.set_exception(error)


DecodeFn = Callable[[sampler.RowBatch, int, int], sampler.RowOutputs]


class Batcher:
    """Owns the request queue, the decode worker thread and the serving counters."""

    def __init__(
        self,
        decode_fn: DecodeFn,
        buckets: Buckets,
        eos_id: int,
        max_top_logprobs: int,
        batch_wait_s: float,
        max_queued_rows: int = 1024,
    ) -> None:
        self.decode_fn, self.buckets, self.eos_id = decode_fn, buckets, eos_id
        self.max_top_logprobs, self.batch_wait_s, self.max_queued_rows = max_top_logprobs, batch_wait_s, max_queued_rows
        self._queue: queue.Queue[tuple[Job, int] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._shapes: set[tuple[int, int, int, int]] = set()
        self._queued_rows = 0  # rows of live (not cancelled) jobs in the queue
        self._dead = False
        self._decoding: list[tuple[Job, int]] = []
        self.stats = {
            "requests": 0,
            "rows": 0,
            "decoded_rows": 0,
            "cancelled_rows": 0,
            "refused_rows": 0,
            "decode_batches": 0,
            "padded_rows": 0,
            "decode_seconds": 0.0,
        }
        self._thread = threading.Thread(target=self._work, name="decode-batcher", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the worker thread is running (and so will decode what is submitted)."""
        return self._thread.is_alive() and not self._dead

    def submit(self, rows: Sequence[Row]) -> Job:
        """Queues a job's rows; raises `QueueFullError` or `WorkerDeadError` rather than queue what would wait."""
        job = Job(rows)
        with self._lock:
            if self._dead or not self._thread.is_alive():
                raise WorkerDeadError("the decode worker has stopped")
            if self._queued_rows + len(job.rows) > self.max_queued_rows:
                self.stats["refused_rows"] += len(job.rows)
                raise QueueFullError(
                    f"{self._queued_rows} rows are queued; {len(job.rows)} more would pass max_queued_rows "
                    f"({self.max_queued_rows})"
                )
            self.stats["requests"] += 1
            self.stats["rows"] += len(job.rows)
            self._queued_rows += len(job.rows)
            job.queued = len(job.rows)
            for index in range(len(job.rows)):
                self._queue.put((job, index))
        return job

    def cancel(self, job: Job) -> None:
        """Its rows still queued are dropped unread (the client has gone or stopped waiting)."""
        with self._lock:
            if job.cancelled:
                return
            job.cancelled = True
            self._queued_rows -= job.queued
            self.stats["cancelled_rows"] += job.queued
        job.fail(CancelledError())

    def metrics(self) -> dict[str, Any]:
        with self._lock:
            return {
                **self.stats,
                "compiled_shapes": len(self._shapes),
                "queued_rows": self._queued_rows,
                "worker_alive": self.alive,
            }

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _next(self, timeout: float | None) -> tuple[Job, int] | None:
        """The next live row (cancelled jobs' rows are skipped); None at stop. Raises queue.Empty at timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            item = self._queue.get(timeout=None if deadline is None else max(deadline - time.monotonic(), 0.0))
            if item is None:
                return None
            job, _ = item
            with self._lock:
                job.queued -= 1
                if not job.cancelled:
                    self._queued_rows -= 1
                    return item

    def _take(self) -> list[tuple[Job, int]] | None:
        first = self._next(None)
        if first is None:
            return None
        taken = [first]
        deadline = time.monotonic() + self.batch_wait_s
        while len(taken) < self.buckets.batch[-1]:
            try:
                item = self._next(max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # stop after this batch
                break
            taken.append(item)
        return taken

    def _work(self) -> None:
        try:
            while (taken := self._take()) is not None:
                self._decoding = taken
                try:
                    self._decode(taken)
                except Exception as error:  # One bad batch must not stop the server.
                    log.exception("decode batch failed")
                    for job in {id(job): job for job, _ in taken}.values():
                        job.fail(error)
                self._decoding = []
        except BaseException:
            log.critical("the decode worker died; every request now fails with 503", exc_info=True)
        finally:
            self._fail_all(WorkerDeadError("the decode worker has stopped"))

    def _fail_all(self, error: Exception) -> None:
        """Fails the jobs being decoded and every queued one; later submits raise (`_dead`)."""
        with self._lock:
            self._dead = True
            self._queued_rows = 0
        jobs = [job for job, _ in self._decoding]
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                jobs.append(item[0])
        for job in jobs:
            job.fail(error)

    def _decode(self, taken: list[tuple[Job, int]]) -> None:
        rows = [job.rows[index] for job, index in taken]
        size = Buckets.fit(self.buckets.batch, len(rows))
        in_length = Buckets.fit(self.buckets.input_length, max(len(r.encoder_tokens) for r in rows))
        length = Buckets.fit(self.buckets.decode_length, max(r.max_tokens for r in rows))
        top_k = self.max_top_logprobs if any(r.top_logprobs for r in rows) else 0
        batch = sampler.RowBatch(
            encoder_tokens=np.zeros((size, in_length), np.int32),
            temperature=np.zeros((size,), np.float32),
            top_p=np.ones((size,), np.float32),
            max_tokens=np.zeros((size,), np.int32),
            seeds=np.zeros((size, 2), np.int32),
        )
        for i, row in enumerate(rows):
            batch.encoder_tokens[i, : len(row.encoder_tokens)] = row.encoder_tokens
            batch.temperature[i], batch.top_p[i], batch.max_tokens[i] = row.temperature, row.top_p, row.max_tokens
            batch.seeds[i] = row.seed
        start = time.monotonic()
        out = self.decode_fn(batch, length, top_k)
        with self._lock:
            self._shapes.add((size, in_length, length, top_k))
            self.stats["decode_batches"] += 1
            self.stats["padded_rows"] += size - len(rows)
            self.stats["decoded_rows"] += len(rows)
            self.stats["decode_seconds"] += time.monotonic() - start
        for i, (job, index) in enumerate(taken):
            job.set(index, self._generation(out, i, rows[i].max_tokens))

    def _generation(self, out: sampler.RowOutputs, i: int, max_tokens: int) -> Generation:
        ids = [int(t) for t in out.tokens[i, :max_tokens]]
        ended = self.eos_id in ids
        n = ids.index(self.eos_id) if ended else len(ids)
        return Generation(
            ids=ids[:n],
            log_probs=[float(x) for x in out.log_probs[i, :n]],
            top_ids=out.top_ids[i, :n],
            top_log_probs=out.top_log_probs[i, :n],
            ended=ended,
        )
