"""Teacher chain-of-thought generation from an OpenAI-compatible endpoint (or GSM8K's gold rationales).

    python -m distill.generate --base-url https://api.openai.com/v1 --model gpt-4o-mini --api chat \\
        --dataset gsm8k --split train --samples 40 --out teacher/gsm8k_train.jsonl

Defaults follow Fu et al. (docs/method.md 1.2): the 8-shot complexity-based prompt, temperature
0.5, 256 tokens, top-5 log-probs, 40 samples per question. The default stop sequences
("\\nQuestion:", "\\nQ:") end a completion where the paper's cut would anyway, so they save
tokens without changing what a record keeps; `--stop ''` sends none, as the paper did.

Writes `--out` (teacher records, `distill/contracts/teacher_records.py`), `{out}.summary.json` and
`{out}.errors.jsonl` (failed attempts). Rerun the same command to resume: stored samples are
skipped; exit status 3 means samples are still missing (a cap, a signal or failed requests).
The API key is read from the variable named by `--api-key-env` and only ever sent in the
Authorization header.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from distill.data.data_dir import DataFileError, DataFormatError
from distill.generate import client, gold, prompts, questions, run, samples, store, summary

DEFAULT_STOP = ("\nQuestion:", "\nQ:")
log = logging.getLogger("distill.generate")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m distill.generate", description=__doc__.split("\n\n")[0])
    p.add_argument("--source", choices=("api", "gsm8k-gold"), default="api")
    p.add_argument("--base-url", help="e.g. https://api.openai.com/v1 or http://localhost:8000/v1")
    p.add_argument("--model", help="the teacher's model name, as the endpoint knows it")
    p.add_argument("--api", choices=("completions", "chat"), default="completions")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    p.add_argument("--dataset", default="gsm8k", help="gsm8k, svamp, ..., synthetic_k3, bbh_<task>")
    p.add_argument("--split", default="train")
    p.add_argument("--questions", help="a JSONL file of {question, answer, id?} instead of --dataset")
    p.add_argument("--prompt", default=None, help=f"named prompt ({', '.join(prompts.NAMED_PROMPTS)}) or file")
    p.add_argument("--samples", type=int, default=40, help="samples per question")
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--stop", action="append", default=None, help="repeatable; '' for none (default: next question)")
    p.add_argument("--top-logprobs", type=int, default=5, help="alternatives per token (completions: <= 5 at OpenAI)")
    p.add_argument("--no-logprobs", action="store_true", help="for servers without logprobs: records get tokens null")
    p.add_argument("--n-per-request", type=int, default=0, help="samples per request; 0: auto (all, else 1)")
    p.add_argument("--seed", type=int, default=None, help="send a per-request seed derived from this")
    p.add_argument("--no-cut", action="store_true", help="keep whole completions (no paper cut)")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--limit", type=int, default=None, help="only the first N questions")
    p.add_argument("--max-requests", type=int, default=None, help="stop after this many HTTP requests")
    p.add_argument("--max-cost", type=float, default=None, help="stop before spending more US dollars (this run)")
    p.add_argument("--price-prompt", type=float, default=None, help="US dollars per 1M prompt tokens")
    p.add_argument("--price-completion", type=float, default=None, help="US dollars per 1M completion tokens")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    p.add_argument("--retries", type=int, default=10, help="retries per request")
    p.add_argument("--backoff", type=float, default=1.0, help="first retry waits about this many seconds")
    p.add_argument("--progress-every", type=float, default=30.0, help="seconds between progress lines in a log")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.source == "api" and not (args.base_url and args.model):
        p.error("--base-url and --model are required (or --source gsm8k-gold)")
    if args.source == "gsm8k-gold" and (args.dataset != "gsm8k" or args.questions):
        p.error("--source gsm8k-gold reads --dataset gsm8k")
    if args.max_cost is not None and args.price_prompt is None and args.price_completion is None:
        p.error("--max-cost needs --price-prompt and/or --price-completion")
    for name in ("samples", "concurrency", "max_tokens"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.top_logprobs < 0 or args.n_per_request < 0 or args.retries < 0:
        p.error("--top-logprobs, --n-per-request and --retries must be >= 0")
    return args


def load_questions(args: argparse.Namespace) -> list[questions.Question]:
    found = questions.from_file(args.questions) if args.questions else questions.from_dataset(args.dataset, args.split)
    return found[: args.limit] if args.limit is not None else found


def load_prompt(args: argparse.Namespace) -> prompts.Prompt:
    task = questions.bbh_task(args.dataset) if not args.questions else None
    if task is not None and args.prompt is None:
        return prompts.bbh(task)
    return prompts.load(args.prompt or prompts.DEFAULT_PROMPT)


def sampling(args: argparse.Namespace) -> run.Sampling:
    stop = DEFAULT_STOP if args.stop is None else tuple(s for s in args.stop if s)
    return run.Sampling(
        samples=args.samples,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        stop=stop,
        top_logprobs=None if args.no_logprobs else args.top_logprobs,
        seed=args.seed,
        n_per_request=args.n_per_request,
    )


def generate(args: argparse.Namespace, out: store.Store, found: list[questions.Question]) -> run.RunStats:
    prices = summary.Prices(args.price_prompt or 0.0, args.price_completion or 0.0)
    key = os.environ.get(args.api_key_env) or None
    if key is None:
        log.info("$%s is not set: sending no Authorization header", args.api_key_env)
    errors = store.ErrorLog(args.out + ".errors.jsonl", key)
    budget = client.Budget(
        prices if args.max_cost is not None or args.price_prompt is not None else None, args.max_cost, args.max_requests
    )
    http = client.Client(
        args.base_url,
        args.api == "chat",
        key,
        errors,
        budget,
        client.Retry(args.retries, args.backoff),
        args.timeout,
        args.concurrency,
    )
    origin = samples.Origin(args.model, args.api, load_prompt(args), cut=not args.no_cut)
    try:
        return asyncio.run(
            run.generate(found, origin, sampling(args), out, http, args.concurrency, args.progress_every)
        )
    except (client.EndpointError, ValueError) as error:  # a RecordError is a ValueError
        raise SystemExit(f"error: {errors.redact(str(error))}") from None


def main(argv: Sequence[str] | None = None) -> dict:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("distill").setLevel(logging.INFO)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        found = load_questions(args)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with store.exclusive(args.out):
            return _run(args, found)
    except (DataFileError, DataFormatError, store.OutputBusyError, ValueError) as error:  # RecordError: a ValueError
        raise SystemExit(f"error: {error}") from None


def _run(args: argparse.Namespace, found: list[questions.Question]) -> dict:
    """Resumes `--out`, fills in its missing samples and writes the summary (under the output's lock)."""
    out = store.Store(args.out)
    if args.source == "gsm8k-gold":
        stats = run.RunStats()
        gold.write(found, out)
    else:
        stats = generate(args, out, found)
    prices = None
    if args.price_prompt is not None or args.price_completion is not None:
        prices = summary.Prices(args.price_prompt or 0.0, args.price_completion or 0.0)
    result = run.write_summary(args.out + ".summary.json", out.tally, [q.id for q in found], prices, stats)
    print(summary.describe(result), flush=True)
    if stats.missing:
        print(f"{stats.missing:,} samples missing ({stats.stopped or 'failed requests'}): rerun to fill them in")
    return result
