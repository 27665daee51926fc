"""The served model: its batcher, token tables, request limits and route bodies, behind a threaded HTTP server.

One worker thread (`distill.serve.batcher`) decodes the rows of all waiting requests together; the
HTTP handler threads (`distill.serve.handler`) only validate, tokenize and wait.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from distill.serve import batcher, openai_requests, openai_responses, sampler
from distill.serve.handler import make_handler
from distill.serve.tokens import TokenTable

MAX_TOP_LOGPROBS = 20  # OpenAI's limit for chat top_logprobs


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    model_name: str = "model"
    batch_wait_s: float = 0.005
    seed: int = 0


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
            vocab_size=model.module.config.vocab_size,
        )
        self._random = random.Random(config.seed)
        self._random_lock = threading.Lock()
        eos = self.output_table.eos_id

        def decode(rows: sampler.RowBatch, length: int, top_k: int) -> sampler.RowOutputs:
            return sampler.run(model.module, params, rows, length=length, top_k=top_k, eos_id=eos)

        self.batcher = batcher.Batcher(decode, self.buckets, eos, MAX_TOP_LOGPROBS, config.batch_wait_s)
        self.created = int(time.time())
        self.http = ThreadingHTTPServer((config.host, config.port), make_handler(self))
        self.http.daemon_threads = True
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
        return {**self.batcher.metrics(), "checkpoint_step": self.step}

    def generate(self, body: dict, chat: bool) -> dict[str, Any]:
        parse = openai_requests.parse_chat if chat else openai_requests.parse_completion
        request = parse(body, self.config.model_name, self.limits, self.input_table)
        generations = self.batcher.submit(request.rows(self.fresh_seed)).result()
        return openai_responses.response(request, generations, self.output_table)
