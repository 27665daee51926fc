"""Scheduling a teacher run: which requests to send, bounded concurrency, and clean stops.

Work is each question's missing samples (those not yet in the output file) in chunks of `n`
consecutive sample indices, one request each, served by `concurrency` asyncio workers. With
`n_per_request` 0 (auto) a chunk is all of a question's missing samples (at most 128, OpenAI's
limit); a server that refuses `n` or answers with fewer choices switches the run to one sample
per request, keeping what it returned. A request's records go to the writer together (one
append, one fsync with whatever else finished meanwhile), so a restart resends whole requests,
and with `--seed` (a per-request seed from (seed, question, first sample)) a deterministic
server answers them exactly as before.

A cap (`--max-requests`, `--max-cost`), SIGINT/SIGTERM or a fatal endpoint error stops new
requests; what was received is written and summarized, and rerunning the same command
continues where the run stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import signal
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from distill.contracts import durable
from distill.generate import client as client_lib
from distill.generate import samples
from distill.generate.progress import Progress
from distill.generate.questions import Question
from distill.generate.store import Store
from distill.generate.summary import Prices, SampleTally

log = logging.getLogger(__name__)

MAX_N = 128


@dataclass(frozen=True)
class Sampling:
    samples: int = 40
    temperature: float = 0.5
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    top_logprobs: int | None = 5  # None: no log-probs requested
    seed: int | None = None
    n_per_request: int = 0  # 0: auto

    def request_seed(self, question_id: str, first_sample: int) -> int | None:
        if self.seed is None:
            return None
        digest = hashlib.sha256(f"{self.seed}:{question_id}:{first_sample}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % 2**31


@dataclass
class RunStats:
    """What this invocation did (the `run` part of the summary)."""

    requests: int = 0
    retries: int = 0
    errors: int = 0
    spend_usd: float = 0.0
    wall_s: float = 0.0
    missing: int = 0  # samples still absent (failed requests, caps): rerun to fill them
    stopped: str | None = None


def request_body(model: str, chat: bool, query: str, n: int, sampling: Sampling, seed: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "n": n, "temperature": sampling.temperature, "top_p": sampling.top_p}
    body["max_tokens"] = sampling.max_tokens
    if chat:
        body["messages"] = [{"role": "user", "content": query}]
        if sampling.top_logprobs is not None:
            body["logprobs"], body["top_logprobs"] = True, sampling.top_logprobs
    else:
        body["prompt"] = query
        if sampling.top_logprobs is not None:
            body["logprobs"] = sampling.top_logprobs
    if sampling.stop:
        body["stop"] = list(sampling.stop)
    if seed is not None:
        body["seed"] = seed
    return body


def sampling_record(sampling: Sampling, n: int, seed: int | None) -> dict[str, Any]:
    return {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        "stop": list(sampling.stop),
        "top_logprobs": sampling.top_logprobs,
        "n": n,
        "seed": seed,
    }


class _Run:
    def __init__(
        self,
        questions: list[Question],
        origin: samples.Origin,
        sampling: Sampling,
        store: Store,
        client: client_lib.Client,
        progress: Progress,
    ) -> None:
        self.origin, self.sampling, self.store, self.client, self.progress = origin, sampling, store, client, progress
        self.chat = origin.api == "chat"
        self.n = sampling.n_per_request or min(sampling.samples, MAX_N)
        self.auto_n = sampling.n_per_request == 0
        self.pending: deque[tuple[Question, list[int]]] = deque()
        for question in questions:
            done = store.done(question.id)
            missing = [i for i in range(sampling.samples) if i not in done]
            for start in range(0, len(missing), self.n):
                self.pending.append((question, missing[start : start + self.n]))
        self.queue: asyncio.Queue[list[dict[str, Any]] | None] = asyncio.Queue()
        self.stopped: str | None = None
        self.error: Exception | None = None
        self.warned_spelling = False

    def _one_per_request(self, why: str) -> None:
        if self.n > 1:
            log.warning("%s; sending one request per sample from now on", why)
            self.n = 1

    def _take(self) -> tuple[Question, list[int]]:
        question, indices = self.pending.popleft()
        if len(indices) > self.n:  # n fell back to 1 after this chunk was planned
            self.pending.appendleft((question, indices[self.n :]))
            indices = indices[: self.n]
        return question, indices

    async def _request(self, question: Question, indices: list[int]) -> None:
        seed = self.sampling.request_seed(question.id, indices[0])
        body = request_body(
            self.origin.model, self.chat, self.origin.prompt.query(question.text), len(indices), self.sampling, seed
        )
        context = {"question_id": question.id, "samples": indices}
        try:
            completion = await self.client.complete(body, self.sampling.top_logprobs, context)
        except client_lib.NUnsupportedError:
            if not self.auto_n:
                raise
            self._one_per_request("the server refuses n > 1")
            self.pending.appendleft((question, indices))
            return
        got = completion.choices
        if len(got) < len(indices):
            if self.auto_n:
                self._one_per_request(f"the server answered n={len(indices)} with {len(got)} choice(s)")
            self.pending.appendleft((question, indices[len(got) :]))
        sampling = sampling_record(self.sampling, len(indices), seed)
        records = []
        for index, choice in zip(indices, got, strict=False):
            record, trimmed = samples.record(self.origin, question, index, choice, sampling, completion.usage)
            if not trimmed.spelled and not self.warned_spelling:
                self.warned_spelling = True
                log.warning(
                    "the server's tokens do not spell its text (e.g. %s); records keep the tokens' text", question.id
                )
            records.append(record)
        self.store.check_compatible(records[0])
        await self.queue.put(records)
        self.progress.add(
            len(records), sum(r["correct"] for r in records), completion.usage.get("completion_tokens", 0)
        )

    async def _worker(self) -> None:
        while self.pending and self.stopped is None:
            question, indices = self._take()
            try:
                await self._request(question, indices)
            except client_lib.CapReachedError as reason:
                self.pending.appendleft((question, indices))
                self.stopped = self.stopped or str(reason)
            except client_lib.RequestFailedError as error:
                log.warning("%s samples %s: giving up: %s", question.id, indices, error)
                self.progress.failed += len(indices)
            except Exception as error:  # EndpointError, or a record this file cannot take: stop the run, then raise
                self.error = self.error or error
                self.stopped = self.stopped or f"error: {self.client.errors.redact(str(error))}"

    def _show(self, final: bool = False) -> None:
        budget = self.client.budget
        spend = budget.spend if budget.prices else None
        self.progress.show(budget.requests, self.client.retries, spend, final)

    async def _ticker(self) -> None:
        last_collection = time.monotonic()
        while True:
            await asyncio.sleep(0.5)
            self._show()
            if time.monotonic() - last_collection > GC_PERIOD_S:
                gc.collect()
                last_collection = time.monotonic()

    async def run(self, concurrency: int) -> None:
        writer = asyncio.create_task(self.store.writer(self.queue))
        workers = [asyncio.create_task(self._worker()) for _ in range(concurrency)]
        ticker = asyncio.create_task(self._ticker())
        loop = asyncio.get_running_loop()

        def interrupt(name: str) -> None:
            self.stopped = f"{name}: in-flight requests abandoned"
            for task in workers:
                task.cancel()

        signals = (signal.SIGINT, signal.SIGTERM)
        with contextlib.suppress(NotImplementedError, RuntimeError):  # only the main thread can handle signals
            for sig in signals:
                loop.add_signal_handler(sig, interrupt, sig.name)

        def writer_done(task: asyncio.Task) -> None:
            if not task.cancelled() and task.exception() is not None:  # raised again by `await writer` below
                interrupt("writing records failed")

        writer.add_done_callback(writer_done)
        try:
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                for sig in signals:
                    loop.remove_signal_handler(sig)
            ticker.cancel()
            await self.queue.put(None)
            await writer
            self._show(final=True)


GC_PERIOD_S = 60.0


@contextlib.contextmanager
def _collections_paused() -> Iterator[None]:
    """Automatic cyclic garbage collection off for the run (`_Run._ticker` collects every minute).

    Why: parsing responses allocates millions of small containers, which the collector keeps
    scanning together with everything alive (the startup heap of tensorflow, imported by `tasks`,
    and the parsed bodies of every request in flight), although none of them is in a cycle: they
    are freed by reference counting. This halves the client's CPU per completion (chat: more).
    """
    enabled = gc.isenabled()
    gc.freeze()  # the startup heap is not even scanned by the periodic collections
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()


async def generate(
    questions: list[Question],
    origin: samples.Origin,
    sampling: Sampling,
    store: Store,
    client: client_lib.Client,
    concurrency: int,
    progress_every_s: float = 30.0,
    progress_stream: TextIO | None = None,
) -> RunStats:
    """Samples every missing (question, sample) through `client` into `store`."""
    start = time.monotonic()
    total = len(questions) * sampling.samples
    done_before = sum(len(store.done(q.id) & set(range(sampling.samples))) for q in questions)
    run = _Run(
        questions, origin, sampling, store, client, Progress(total, done_before, progress_every_s, progress_stream)
    )
    with _collections_paused():
        async with client:
            await run.run(concurrency)
    if run.error is not None:
        raise run.error
    missing = total - sum(len(store.done(q.id) & set(range(sampling.samples))) for q in questions)
    budget = client.budget
    return RunStats(
        budget.requests,
        client.retries,
        client.errors.count,
        budget.spend,
        time.monotonic() - start,
        missing,
        run.stopped,
    )


def write_summary(
    path: str, tally: SampleTally, question_ids: list[str], prices: Prices | None, stats: RunStats
) -> dict:
    """The summary of the whole file plus this run's counters, written atomically as JSON."""
    summary = tally.summary(question_ids, prices)
    summary["run"] = {
        "requests": stats.requests,
        "retries": stats.retries,
        "errors": stats.errors,
        "spend_usd": stats.spend_usd,
        "wall_s": stats.wall_s,
        "missing": stats.missing,
        "stopped": stats.stopped,
    }
    durable.write_json(path, summary, indent=1)
    return summary
