"""Stand-in teacher records for tests and benchmarks: gold rationales in a tiktoken encoding, synthetic top-k.

Why: no teacher API is reachable offline, yet alignment must be checked and timed on text of the
real length and tokenization. Each record is a valid `distill.contracts.teacher_records` record whose
completion is a GSM8K gold rationale plus `"\\nThe answer is N"` (calculator notes `<<...>>`
removed by default, as a teacher prompted with note-free exemplars writes), tokenized with a
tiktoken encoding such as p50k_base (Codex's). The distributions are synthetic but deterministic
in (seed, question, sample): at each position the top-k are the sampled token and its id
neighbours (id +1, -1, +2, ...) in the encoding, with log-probs of a softmax over k+1 random
logits (the extra one stands for the rest of the vocabulary, so the top-k mass is below 1); the
sampled token takes a random rank, mostly the top.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from distill.build.align.teacher_tokens import tiktoken_encoding
from distill.contracts.teacher_records import SCHEMA
from distill.contracts.token_bytes import token_string
from distill.data.formats import ANSWER_PREFIX, strip_calculator_notes
from distill.data.loaders import MathProblem


@functools.cache
def _encoding(path: str) -> Any:
    return tiktoken_encoding(path)


def _alternative(token_bytes: bytes, logprob: float) -> dict[str, Any]:
    return {"token": token_string(token_bytes), "bytes": list(token_bytes), "logprob": logprob}


def completion_of(problem: MathProblem, calculator_notes: bool = False) -> str:
    rationale = problem.rationale if calculator_notes else strip_calculator_notes(problem.rationale)
    return f"{rationale}\n{ANSWER_PREFIX}{problem.answer_text}"


def record(
    problem: MathProblem,
    tokenizer_path: str,
    k: int = 5,
    sample_index: int = 0,
    seed: int = 0,
    calculator_notes: bool = False,
) -> dict:
    """One stand-in teacher record for a problem with a gold rationale."""
    encoding = _encoding(tokenizer_path)
    completion = completion_of(problem, calculator_notes)
    sampled = encoding.encode_ordinary(completion)
    digest = hashlib.sha256(f"{seed}:{problem.id}:{sample_index}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    n = len(sampled)
    logits = np.sort(rng.normal(0.0, 2.0, size=(n, k + 1)), axis=1)[:, ::-1]
    logprobs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    ranks = np.minimum(rng.geometric(0.7, size=n) - 1, k - 1)
    steps = [d for step in range(1, k) for d in (step, -step)][: k - 1]
    vocab_size = encoding.eot_token  # ordinary tokens are 0 .. eot-1 in the GPT-2 family
    tokens = []
    for position, token_id in enumerate(sampled):
        neighbours = iter((token_id + d) % vocab_size for d in steps)
        ids = [token_id if rank == ranks[position] else next(neighbours) for rank in range(k)]
        top = [
            _alternative(encoding.decode_single_token_bytes(i), float(lp))
            for i, lp in zip(ids, logprobs[position], strict=False)
        ]
        chosen = top[ranks[position]]
        tokens.append({**chosen, "top": top})
    return teacher_record(
        problem,
        dataset=problem.id.split("-")[0],
        sample_index=sample_index,
        completion=completion,
        tokens=tokens,
        model=f"synthetic/{encoding.name}",
        prompt_name="synthetic-gold",
        sampling={"top_logprobs": k, "seed": seed},
        answer=problem.answer,
        correct=True,
    )


def teacher_record(
    problem: MathProblem,
    *,
    dataset: str,
    sample_index: int,
    completion: str,
    tokens: list[dict[str, Any]],
    model: str,
    prompt_name: str,
    sampling: dict[str, Any],
    answer: str | None,
    correct: bool,
) -> dict[str, Any]:
    """A `distill.contracts.teacher_records` record of a made-up teacher (API "completions", split "train")."""
    return {
        "schema": SCHEMA,
        "question_id": problem.id,
        "dataset": dataset,
        "split": "train",
        "question": problem.question,
        "gold_answer": problem.answer,
        "sample_index": sample_index,
        "prompt_name": prompt_name,
        "prompt_sha256": hashlib.sha256(prompt_name.encode()).hexdigest(),
        "model": model,
        "api": "completions",
        "sampling": sampling,
        "completion": completion,
        "answer": answer,
        "correct": correct,
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 0, "completion_tokens": len(tokens)},
        "tokens": tokens,
    }


def records(
    problems: Iterable[MathProblem], tokenizer_path: str, k: int = 5, samples: int = 1, seed: int = 0, **options: bool
) -> Iterator[dict]:
    """Stand-in records, `samples` per problem (problems without a rationale are skipped); options as `record`."""
    for problem in problems:
        if problem.rationale is None:
            continue
        for sample_index in range(samples):
            yield record(problem, tokenizer_path, k, sample_index, seed, **options)
