"""OpenAI-compatible HTTP server for a trained checkpoint.

    python -m distill.serve --gin_file=gin/models/flan_t5/base.gin --checkpoint=/runs/student --port=8000

Routes: `GET /v1/models`, `GET /v1/models/<id>`, `POST /v1/completions`,
`POST /v1/chat/completions`, plus `GET /health` and `GET /metrics` (batching counters).
Flags follow T5X's: repeatable `--gin_file`, `--gin_bindings`, `--gin.NAME=VALUE`,
`--gin_search_paths`. The model gin's `MODEL` is served with `DROPOUT_RATE = 0.0` (override
any macro, e.g. `--gin.ACTIVATION_DTYPE=\\"float32\\"` for float32 logprobs).

It is built on the standard library (`ThreadingHTTPServer`): handler threads validate and
tokenize, and one worker thread (`distill.serve.batcher`) decodes the rows of all waiting requests
together; the limits flags bound connections, queued rows, time and response size. No API
key is checked; an `Authorization` header is accepted and never logged (only the escaped
request line and status are).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from distill.serve.loading import default_model_name, load_model, load_params


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
    limits = parser.add_argument_group("limits (docs/serving.md: what a client sees at each)")
    limits.add_argument(
        "--request_timeout_s",
        type=float,
        default=30.0,
        help="A connection must send a whole request within this (else it is closed); a request waits at most "
        "this long for its rows to decode (else 503).",
    )
    limits.add_argument(
        "--max_connections",
        type=int,
        default=256,
        help="Open connections; beyond: the one waiting longest for its request is evicted, else 503 and closed.",
    )
    limits.add_argument("--max_queued_rows", type=int, default=1024, help="Rows waiting to decode; beyond: 429.")
    limits.add_argument("--max_request_choices", type=int, default=256, help="prompts x n per request; beyond: 400.")
    limits.add_argument("--max_response_mb", type=float, default=16.0, help="A response's size bound; beyond: 400.")
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
    from distill.serve.server import ServeConfig, Server

    try:
        buckets = Buckets(args.batch_buckets, args.input_length_buckets, args.decode_length_buckets)
        config = ServeConfig(
            host=args.host,
            port=args.port,
            model_name=args.model_name or default_model_name(args.checkpoint),
            batch_wait_s=args.batch_wait_ms / 1000.0,
            seed=args.seed,
            request_timeout_s=args.request_timeout_s,
            max_connections=args.max_connections,
            max_queued_rows=args.max_queued_rows,
            max_request_choices=args.max_request_choices,
            max_response_mb=args.max_response_mb,
        )
        model = load_model(args.gin_file, args.gin_bindings, args.gin_search_paths)
    except (gin_utils.GinConfigError, ValueError) as error:
        sys.exit(f"configuration error: {error}")
    params, step = load_params(model, args.checkpoint)
    server = Server(model, params, config, buckets, step)
    print(f"Serving {config.model_name} (step {step}) at {server.url}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
