"""OpenAI-compatible HTTP server for a trained checkpoint.

    python -m distill.serve --gin_file=gin/models/flan_t5/base.gin --checkpoint=/runs/student --port=8000

Routes: `GET /v1/models`, `GET /v1/models/<id>`, `POST /v1/completions`,
`POST /v1/chat/completions`, plus `GET /health` and `GET /metrics` (batching counters).
Flags follow T5X's: repeatable `--gin_file`, `--gin_bindings`, `--gin.NAME=VALUE`,
`--gin_search_paths`. The model gin's `MODEL` is served with `DROPOUT_RATE = 0.0` (override
any macro, e.g. `--gin.ACTIVATION_DTYPE=\\"float32\\"` for float32 logprobs).

It is built on the standard library (`ThreadingHTTPServer`): handler threads validate and
tokenize, and one worker thread (`serving.batcher`) decodes the rows of all waiting requests
together. No API key is checked; an `Authorization` header is accepted and never logged
(only the request line and status are).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import random
import re
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("distill.serve")

MAX_BODY_BYTES = 16 * 2**20
MAX_TOP_LOGPROBS = 20  # OpenAI's limit for chat top_logprobs


# ---------------------------------------------------------------------------------------------
# Loading.


def load_model(gin_files: Sequence[str], gin_bindings: Sequence[str] = (), search_paths: Sequence[str] = (".",)) -> Any:
    """Parses the model gin (with `DROPOUT_RATE = 0.0` first, so flags can override it) and builds MODEL."""
    from distill.engine import gin_utils
    from distill.serve import gin_hook

    bindings = ["DROPOUT_RATE = 0.0", *gin_bindings, "distill.serve.served_model.model = %MODEL"]
    gin_utils.parse_gin_flags(list(search_paths), list(gin_files), bindings)
    return gin_hook.served_model()


def load_params(model: Any, checkpoint: str) -> tuple[Any, int]:
    """Restores params (scanned or not, any saved dtype) onto the first device; returns (params, step)."""
    import flax.linen as nn
    import jax

    from distill.engine import checkpoints, partitioning

    shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
    boxed = jax.eval_shape(lambda r: model.get_initial_variables(r, shapes), jax.random.key(0))
    partitioner = partitioning.PjitPartitioner(num_partitions=1, devices=jax.devices()[:1])
    shardings = partitioner.param_shardings(boxed["params"])
    abstract = jax.tree_util.tree_map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), nn.unbox(boxed)["params"], shardings
    )
    config = model.module.config
    counts = {"encoder": config.num_encoder_layers, "decoder": config.num_decoder_layers}
    return checkpoints.load_params(checkpoint, abstract, counts)


def default_model_name(checkpoint: str) -> str:
    """The run's directory name: `/runs/student/checkpoint_500/state` -> `student`."""
    parts = [p for p in os.path.normpath(os.path.abspath(checkpoint)).split(os.sep) if p]
    while len(parts) > 1 and (parts[-1] == "state" or re.fullmatch(r"checkpoint_\d+", parts[-1])):
        parts.pop()
    return parts[-1] if parts else "model"


# ---------------------------------------------------------------------------------------------
# Serving.


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
        from distill.serve import batcher, protocol, sampler
        from distill.serve.tokens import TokenTable

        self.model, self.params, self.config, self.step = model, params, config, step
        self.buckets = buckets or batcher.Buckets()
        self.input_table = TokenTable(model.input_vocabulary)
        self.output_table = TokenTable(model.output_vocabulary)
        for table in (self.input_table, self.output_table):  # load tokenizers before handler threads race to
            table.decode(table.encode("warm up"))
        self.limits = protocol.Limits(
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
        self.http = ThreadingHTTPServer((config.host, config.port), _handler(self))
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
        from distill.serve import protocol

        parse = protocol.parse_chat if chat else protocol.parse_completion
        request = parse(body, self.config.model_name, self.limits, self.input_table)
        generations = self.batcher.submit(request.rows(self.fresh_seed)).result()
        return protocol.response(request, generations, self.output_table)


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    from distill.serve.protocol import RequestError, parse_body

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "distill-serve"

        def log_message(self, format: str, *args: Any) -> None:
            # The request line and status only: headers (Authorization) and bodies are never logged.
            log.info("%s %s", self.address_string(), format % args)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, error: RequestError) -> None:
            self._send(error.status, error.body())

        def _route(self) -> str:
            return self.path.split("?", 1)[0].rstrip("/") or "/"

        def _body(self) -> dict:
            length = self.headers.get("Content-Length")
            if length is None or not length.strip().isdigit():
                self.close_connection = True
                raise RequestError("A Content-Length header with the JSON body's size is required.", status=411)
            size = int(length)
            if size > MAX_BODY_BYTES:
                self.close_connection = True
                raise RequestError(f"The request body is larger than {MAX_BODY_BYTES} bytes.", status=413)
            return parse_body(self.rfile.read(size))

        def _handle(self, method: str) -> None:
            route = self._route()
            try:
                if method == "GET" and route == "/v1/models":
                    self._send(200, server.models())
                elif method == "GET" and route.startswith("/v1/models/"):
                    name = route[len("/v1/models/") :]
                    if name != server.config.model_name:
                        raise RequestError(f"The model '{name}' does not exist.", "model", 404, "model_not_found")
                    self._send(200, server.model_card())
                elif method == "GET" and route == "/health":
                    self._send(200, {"status": "ok"})
                elif method == "GET" and route == "/metrics":
                    self._send(200, server.metrics())
                elif method == "POST" and route in ("/v1/completions", "/v1/chat/completions"):
                    self._send(200, server.generate(self._body(), chat=route == "/v1/chat/completions"))
                elif route in ("/v1/models", "/v1/completions", "/v1/chat/completions", "/health", "/metrics"):
                    raise RequestError(f"Method {method} is not allowed for {route}.", status=405)
                else:
                    raise RequestError(f"Unknown route: {method} {route}.", status=404, code="not_found")
            except RequestError as error:
                self._error(error)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            except Exception:  # A server error must not kill the handler.
                log.exception("error serving %s %s", method, route)
                self._error(RequestError("The server failed to process the request.", status=500))

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


# ---------------------------------------------------------------------------------------------
# Command line.


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    from distill.engine import gin_utils

    parser = argparse.ArgumentParser(prog="python -m distill.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gin_file", action="append", default=[], help="Model gin file(s), parsed in order.")
    parser.add_argument("--gin_bindings", action="append", default=[], help="Gin bindings (or --gin.NAME=VALUE).")
    parser.add_argument("--gin_search_paths", type=lambda s: s.split(","), default=["."])
    parser.add_argument("--checkpoint", required=True, help="A checkpoint_<step> dir or a model dir (latest).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed at startup).")
    parser.add_argument("--model_name", default=None, help="The model id clients send (default: the run dir name).")
    parser.add_argument("--batch_buckets", type=_ints, default=(1, 2, 4, 8, 16, 32), help="Padded batch sizes.")
    parser.add_argument("--input_length_buckets", type=_ints, default=(64, 128, 256, 512))
    parser.add_argument("--decode_length_buckets", type=_ints, default=(32, 64, 128, 256))
    parser.add_argument("--batch_wait_ms", type=float, default=5.0, help="Wait for more requests after the first.")
    parser.add_argument("--seed", type=int, default=0, help="Seeds requests that give no 'seed'.")
    args = parser.parse_args(gin_utils.rewrite_gin_args(list(argv)))
    if not args.gin_file:
        parser.error("--gin_file is required (the model gin, e.g. gin/models/byt5/small.gin)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("distill").setLevel(logging.INFO)  # one line per request; libraries stay at WARNING
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from distill.engine import gin_utils
    from distill.serve.batcher import Buckets

    try:
        buckets = Buckets(args.batch_buckets, args.input_length_buckets, args.decode_length_buckets)
        model = load_model(args.gin_file, args.gin_bindings, args.gin_search_paths)
    except (gin_utils.GinConfigError, ValueError) as error:
        sys.exit(f"configuration error: {error}")
    params, step = load_params(model, args.checkpoint)
    config = ServeConfig(
        host=args.host,
        port=args.port,
        model_name=args.model_name or default_model_name(args.checkpoint),
        batch_wait_s=args.batch_wait_ms / 1000.0,
        seed=args.seed,
    )
    server = Server(model, params, config, buckets, step)
    print(f"Serving {config.model_name} (step {step}) at {server.url}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
