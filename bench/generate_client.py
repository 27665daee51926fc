"""Teacher-generation client overhead: `distill.generate`'s client against a zero-latency local server.

Why: a 7,473 x 40 teacher run is ~300k completions; the client (HTTP, JSON, log-prob parsing, the
cut, grading, fsync'd JSONL) must never be what limits it. The server runs in a separate process
and answers every request at once with a precomputed body (`n` completions of `--tokens` tokens
with `--top-logprobs` alternatives each, the shape of the OpenAI completions or chat API), so what
is measured is the client's own cost. On a 2-core machine each side gets one core.

Reported per concurrency level: requests/s, completions/s (= records written per second), client
CPU seconds per 1k completions; then the writer alone (`teacher_records.append`, fsync per batch) and the
scan that resuming a finished file costs.

  python bench/generate_client.py                                    # concurrency 1,16,64, n=8
  python bench/generate_client.py --api chat --n 1 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

BENCH = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # Runs from a checkout, installed or not.

# A GSM8K-style chain of thought that runs on into a new question, as an unstopped teacher does.
STEPS = (
    "Natalia sold 48 clips in April. In May she sold half as many, 48 / 2 = 24 clips. "
    "Together that is 48 + 24 = 72 clips, and each clip costs $1.50, so she earned 72 x 1.50 = $108."
)
_TOKEN = re.compile(r"\n| ?[A-Za-z]+| ?\d+| ?[^\sA-Za-z\d]")


def completion_text(tokens: int) -> str:
    """About `tokens` tokens of reasoning, the answer line, then the start of a next exemplar."""
    words, text = _TOKEN.findall(STEPS), ""
    while len(_TOKEN.findall(text)) < tokens - 12:
        text += "".join(words[: tokens - 12 - len(_TOKEN.findall(text))]) + "\n"
    return "\n" + text + "The answer is 108.\n\nQuestion: Tom has 3 apples"


def body(chat: bool, n: int, k: int | None, tokens: int, model: str) -> bytes:
    """A response in the OpenAI shape: n identical choices with per-token top-k log-probs."""
    text = completion_text(tokens)
    pieces = _TOKEN.findall(text)
    alternatives = [[(f" alt{j}", -1.0 - j - i / 1000) for j in range(k or 0)] for i in range(len(pieces))]
    choices = []
    for index in range(n):
        choice: dict[str, Any] = {"index": index, "finish_reason": "length"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
            content = [
                {
                    "token": p,
                    "logprob": -0.01,
                    "bytes": list(p.encode()),
                    "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in alts],
                }
                for p, alts in zip(pieces, alternatives, strict=True)
            ]
            choice["logprobs"] = {"content": content} if k is not None else None
        else:
            choice["text"] = text
            offsets = [len("".join(pieces[:i])) for i in range(len(pieces))]
            tops = [
                {p: -0.01, **dict(alts[: max(k or 0, 1) - 1])} for p, alts in zip(pieces, alternatives, strict=True)
            ]
            lp = {
                "tokens": pieces,
                "token_logprobs": [-0.01] * len(pieces),
                "top_logprobs": tops,
                "text_offset": offsets,
            }
            choice["logprobs"] = lp if k is not None else None
        choices.append(choice)
    usage = {"prompt_tokens": 2000, "completion_tokens": n * tokens, "total_tokens": 2000 + n * tokens}
    kind = "chat.completion" if chat else "text_completion"
    return json.dumps(
        {"id": "x", "object": kind, "created": 0, "model": model, "choices": choices, "usage": usage}
    ).encode()


def serve(tokens: int) -> None:
    """The zero-latency server: prints its port, then answers until killed."""
    from aiohttp import web

    cache: dict[tuple, bytes] = {}

    async def handle(request: web.Request) -> web.Response:
        chat = request.path.endswith("/chat/completions")
        payload = json.loads(await request.read())
        k = payload.get("top_logprobs") if chat else payload.get("logprobs")
        if chat and not payload.get("logprobs"):
            k = None
        key = (chat, payload.get("n", 1), k)
        if key not in cache:
            cache[key] = body(chat, key[1], k, tokens, payload["model"])
        return web.Response(body=cache[key], content_type="application/json")

    async def main() -> None:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/v1/completions", handle)
        app.router.add_post("/v1/chat/completions", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def start_server(tokens: int) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, __file__, "--serve", "--tokens", str(tokens)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}/v1"


def run_level(url: str, args: argparse.Namespace, concurrency: int, directory: str) -> dict[str, Any]:
    from distill.generate import client, prompts, questions, run, samples, store, summary

    prompt = prompts.Prompt("bench", ("Question: How many clips?\nLet's think step by step\n" + STEPS + "\n\n") * 24)
    asked = [
        questions.Question(f"bench-{i:06d}", "bench", "train", f"What is {i} clips?", "108")
        for i in range(args.requests)
    ]
    sampling = run.Sampling(samples=args.n, top_logprobs=args.top_logprobs, n_per_request=args.n)
    out = os.path.join(directory, f"c{concurrency}.jsonl")
    errors = store.ErrorLog(out + ".errors.jsonl", None)
    budget = client.Budget(summary.Prices(1.0, 2.0), None, None)
    http = client.Client(url, args.api == "chat", None, errors, budget, concurrency=concurrency)
    origin = samples.Origin("bench", args.api, prompt)
    output = store.Store(out)
    with open(os.devnull, "w") as quiet:
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        stats = asyncio.run(run.generate(asked, origin, sampling, output, http, concurrency, progress_stream=quiet))
        wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    completions = output.tally.records
    assert completions == len(asked) * args.n and stats.missing == 0 and errors.count == 0
    return {
        "concurrency": concurrency,
        "requests": stats.requests,
        "completions": completions,
        "wall_s": wall,
        "client_cpu_s": cpu,
        "requests_per_s": stats.requests / wall,
        "completions_per_s": completions / wall,
        "client_cpu_ms_per_1k_completions": 1000 * 1000 * cpu / completions,
        "bytes_written": os.path.getsize(out),
    }


def bench_writer(path: str, batch: int) -> dict[str, Any]:
    """The client's writer alone (`teacher_records.append`): a finished level's records in fsync'd batches."""
    from distill.contracts import teacher_records

    rows = list(teacher_records.read(path))
    target = path + ".rewrite"
    gc.freeze()  # as during a run (`run._collections_paused`)
    gc.disable()
    start = time.perf_counter()
    for i in range(0, len(rows), batch):
        teacher_records.append(target, rows[i : i + batch])
    seconds = time.perf_counter() - start
    gc.enable()
    gc.unfreeze()
    return {"records": len(rows), "batch": batch, "seconds": seconds, "records_per_s": len(rows) / seconds}


def bench_resume(path: str) -> dict[str, Any]:
    """Opening a finished file to resume it (`store.Store`: validates records, counts their tokens)."""
    from distill.generate import store

    start = time.perf_counter()
    records = store.Store(path).tally.records
    seconds = time.perf_counter() - start
    return {"records": records, "seconds": seconds, "records_per_s": records / seconds}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--api", choices=("completions", "chat"), default="completions")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--n", type=int, default=8, help="completions per request")
    parser.add_argument("--tokens", type=int, default=120, help="tokens per completion")
    parser.add_argument("--top-logprobs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=250, help="requests per concurrency level")
    parser.add_argument("--json", default="out/bench/generate_client.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.serve:
        serve(args.tokens)
        return {}
    levels = [int(c) for c in args.concurrency.split(",") if c]
    print(
        f"{os.cpu_count()} CPUs, python {platform.python_version()} | {args.api}, n={args.n}, {args.tokens} tokens "
        f"per completion, top-{args.top_logprobs} log-probs, {args.requests} requests per level",
        flush=True,
    )
    report: dict[str, Any] = {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {k: v for k, v in vars(args).items() if k != "serve"},
        "results": [],
    }
    proc, url = start_server(args.tokens)
    try:
        with tempfile.TemporaryDirectory() as directory:
            for concurrency in levels:
                report["results"].append(run_level(url, args, concurrency, directory))
            last = os.path.join(directory, f"c{levels[-1]}.jsonl")
            report["writer"] = bench_writer(last, batch=64)
            report["resume"] = bench_resume(last)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"{'concurrency':>11}{'requests/s':>12}{'completions/s':>15}{'client CPU ms/1k':>18}{'MB written':>12}")
    for r in report["results"]:
        print(
            f"{r['concurrency']:>11}{r['requests_per_s']:>12.1f}{r['completions_per_s']:>15.1f}"
            f"{r['client_cpu_ms_per_1k_completions']:>18.0f}{r['bytes_written'] / 1e6:>12.1f}"
        )
    writer = report["writer"]
    print(f"writer alone: {writer['records_per_s']:,.0f} records/s (fsync every {writer['batch']} records)")
    print(f"resume scan: {report['resume']['records_per_s']:,.0f} records/s")
    out_path = pathlib.Path(args.json)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out_path}")
    return report


if __name__ == "__main__":
    main()
