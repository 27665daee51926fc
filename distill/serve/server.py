"""The served model: its batcher, token tables, request limits and route bodies, behind a threaded HTTP server.

One worker thread (`distill.serve.batcher`) decodes the rows of all waiting requests together; the
HTTP handler threads (`distill.serve.handler`) only validate, tokenize and wait. Every resource a
client can hold is bounded (`ServeConfig`): connections (each a thread), queued rows, the time a
request may take to arrive and to be answered, and the rows and bytes of one response.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from concurrent.futures import CancelledError
from typing import Any

from distill.serve import batcher, openai_requests, openai_responses, sampler
from distill.serve.handler import ClientGoneError, make_handler
from distill.serve.http_server import LimitedHTTPServer
from distill.serve.openai_requests import RequestError
from distill.serve.tokens import TokenTable

MAX_TOP_LOGPROBS = 20  # OpenAI's limit for chat top_logprobs
POLL_S = 0.1  # how often a waiting request checks that its client is still there


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """Where to serve and the limits (the `python -m distill.serve` flags of the same names)."""

    host: str = "127.0.0.1"
    port: int = 8000
    model_name: str = "model"
    batch_wait_s: float = 0.005
    seed: int = 0
    request_timeout_s: float = 30.0  # to receive a whole request; and the longest a request waits for its rows
    max_connections: int = 256  # open connections (one thread each); beyond: the slowest to send is evicted, or 503
    max_queued_rows: int = 1024  # rows waiting to decode; a request that would pass it: 429
    max_request_choices: int = 256  # prompts x n in one request; beyond: 400
    max_response_mb: float = 16.0  # a response's size bound (`Request.size_bound`); beyond: 400

    def __post_init__(self) -> None:
        for name in ("request_timeout_s", "max_connections", "max_queued_rows", "max_request_choices"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ServeConfig.{name} must be positive, got {getattr(self, name)}")
        if self.max_request_choices > self.max_queued_rows:
            raise ValueError(
                f"max_request_choices ({self.max_request_choices}) must not exceed max_queued_rows "
                f"({self.max_queued_rows}): a request that large could never be queued"
            )


class Server:
    """The model, its batcher and the HTTP server. `start()` serves on a thread; `serve_forever()` blocks."""

    def __init__(self, model: Any, params: Any, config: ServeConfig, buckets: Any = None, step: int = 0) -> None:
        self.model, self.params, self.config, self.step = model, params, config, step
        self.buckets = buckets or batcher.Buckets()
        self.input_table = TokenTable(model.input_vocabulary)
        self.output_table = TokenTable(model.output_vocabulary)
        for table in (self.input_table, self.output_table):  # load tokenizers before handler threads race to
            table.decode(table.encode("warm up"))
        self.limits = openai_requests.Limits(
            max_input_tokens=self.buckets.input_length[-1],
            max_decode_tokens=self.buckets.decode_length[-1],
            max_top_logprobs=MAX_TOP_LOGPROBS,
            vocab_size=int(model.input_vocabulary.vocab_size),
            max_request_choices=config.max_request_choices,
            max_response_bytes=int(config.max_response_mb * 2**20),
        )
        self._random = random.Random(config.seed)
        self._random_lock = threading.Lock()
        eos = self.output_table.eos_id

        def decode(rows: sampler.RowBatch, length: int, top_k: int) -> sampler.RowOutputs:
            return sampler.run(model.module, params, rows, length=length, top_k=top_k, eos_id=eos)

        self.batcher = batcher.Batcher(
            decode, self.buckets, eos, MAX_TOP_LOGPROBS, config.batch_wait_s, config.max_queued_rows
        )
        self.created = int(time.time())
        self.http = LimitedHTTPServer((config.host, config.port), make_handler(self), config.max_connections)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.http.server_address[:2]
        return f"http://{host}:{port}"

    def fresh_seed(self) -> int:
        with self._random_lock:
            return self._random.getrandbits(31)

    def start(self) -> Server:
        self._thread = threading.Thread(target=self.http.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.http.serve_forever()

    def shutdown(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.batcher.stop()

    # Route bodies: each returns (status, JSON body).

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [self.model_card()]}

    def model_card(self) -> dict[str, Any]:
        return {"id": self.config.model_name, "object": "model", "created": self.created, "owned_by": "distill"}

    def metrics(self) -> dict[str, Any]:
        return {
            **self.batcher.metrics(),
            "open_connections": self.http.open_connections,
            "refused_connections": self.http.refused_connections,
            "evicted_connections": self.http.evicted_connections,
            "lingering_connections": self.http.lingerer.lingering,
            "checkpoint_step": self.step,
        }

    def health(self) -> tuple[int, dict[str, Any]]:
        """200 while the decode worker runs; 503 once it has died (nothing would be answered)."""
        if self.batcher.alive:
            return 200, {"status": "ok"}
        return 503, {"status": "unavailable", "reason": "the decode worker has stopped"}

    def generate(self, body: dict, chat: bool, client_gone: Any = lambda: False) -> dict[str, Any]:
        parse = openai_requests.parse_chat if chat else openai_requests.parse_completion
        request = parse(body, self.config.model_name, self.limits, self.input_table)
        try:
            job = self.batcher.submit(request.rows(self.fresh_seed))
        except batcher.QueueFullError as error:
            raise RequestError(
                f"The server is busy: {error}. Retry later.", status=429, code="queue_full", kind="rate_limit_error"
            ) from None
        except batcher.WorkerDeadError:
            raise self._unavailable() from None
        generations = self._wait(job, client_gone)
        return openai_responses.response(request, generations, self.output_table)

    def _wait(self, job: batcher.Job, client_gone: Any) -> list[batcher.Generation]:
        """The job's generations; its queued rows are dropped if the client goes or `request_timeout_s` passes."""
        deadline = time.monotonic() + self.config.request_timeout_s
        while True:
            try:
                return job.future.result(timeout=min(POLL_S, max(deadline - time.monotonic(), 0.0)))
            except CancelledError:
                raise ClientGoneError() from None
            except batcher.WorkerDeadError:
                raise self._unavailable() from None
            except TimeoutError:
                pass
            if client_gone():
                self.batcher.cancel(job)
                raise ClientGoneError()
            if not self.batcher.alive:
                raise self._unavailable()
            if time.monotonic() >= deadline:
                self.batcher.cancel(job)
                raise RequestError(
                    f"The request waited request_timeout_s ({self.config.request_timeout_s:g} s) for its rows to "
                    "decode; the server is overloaded. Retry later.",
                    status=503,
                    code="timeout",
                )

    @staticmethod
    def _unavailable() -> RequestError:
        return RequestError("The server's decode worker has stopped; it cannot answer.", status=503, code="unavailable")
