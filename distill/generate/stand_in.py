"""The stand-in teacher: valid teacher records without a teacher API, for tests, benchmarks and the quickstart.

Why: no teacher is reachable offline, yet alignment, the build and distribution matching must
run on text of real length in a real teacher tokenization. Each record is a valid
`distill.contracts.teacher_records` record whose completion is the problem's gold rationale plus
`"\\nThe answer is N"` (GSM8K calculator notes `<<...>>` removed by default, as a teacher prompted
with note-free exemplars writes), tokenized with a tiktoken encoding such as p50k_base (Codex's),
so the student's tokenizer differs and alignment has real work to do. Everything is
deterministic in (seed, question, sample).

Two kinds of top-k distribution (`distributions`):

* `"neighbours"` (default; alignment tests and benchmarks): at each position the sampled token
  and its id neighbours (id +1, -1, +2, ...) in the encoding, with the log-probs of a softmax
  over k+1 random logits (the extra one stands for the rest of the vocabulary, so the top-k
  mass is below 1); the sampled token takes a random rank, mostly the top.
* `"plausible"` (the quickstart): the written token gets p ~ U(0.5, 0.9) if it is a number,
  U(0.85, 0.99) else; a number's alternatives are nearby numbers (off by one, off by ten: the
  slips a model makes), other tokens' are drawn from the chain's own tokens; the rest 1 - p is
  split geometrically over the k - 1 alternatives.

A share `wrong_rate` of samples gets an arithmetic slip in its last step (so a wrong final
answer), which the answer filter of `distill.build` must remove, as with a real teacher.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from distill.build.align.teacher_tokens import tiktoken_encoding
from distill.contracts import teacher_records
from distill.contracts.token_bytes import token_string
from distill.data import answers
from distill.data.formats import ANSWER_PREFIX, strip_calculator_notes
from distill.data.loaders import MathProblem

DISTRIBUTIONS = ("neighbours", "plausible")
_NUMBER = re.compile(r"^\s?\d+$")
_LAST_RESULT = re.compile(r"= (\d+)(?=[^=]*$)")


@functools.cache
def _encoding(path: str) -> Any:
    return tiktoken_encoding(path)


def _entry(piece: bytes, logprob: float) -> dict[str, Any]:
    return {"token": token_string(piece), "bytes": list(piece), "logprob": logprob}


def completion_of(problem: MathProblem, calculator_notes: bool = False, slip: int = 0) -> str:
    """The teacher's chain: the gold rationale and answer line, the last result off by `slip`."""
    rationale = problem.rationale or ""
    rationale = rationale if calculator_notes else strip_calculator_notes(rationale)
    if not slip:
        return f"{rationale}\n{ANSWER_PREFIX}{problem.answer_text}"
    answer = int(float(problem.answer)) + slip
    return f"{_LAST_RESULT.sub(f'= {answer}', rationale)}\n{ANSWER_PREFIX}{answer}"


def neighbour_tokens(text: str, encoding: Any, rng: np.random.Generator, k: int) -> list[dict[str, Any]]:
    """Per token of `text`: the sampled token at a random rank among its id neighbours (see the module doc)."""
    sampled = encoding.encode_ordinary(text)
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
            _entry(encoding.decode_single_token_bytes(i), float(lp))
            for i, lp in zip(ids, logprobs[position], strict=False)
        ]
        tokens.append({**top[ranks[position]], "top": top})
    return tokens


def _alternatives(piece: bytes, pool: Sequence[bytes], rng: random.Random, count: int) -> list[bytes]:
    """Single-token alternatives: nearby numbers for a number, else other tokens of the chain."""
    text = piece.decode("utf-8", errors="replace")
    if _NUMBER.match(text):
        value, space = int(text), " " if text.startswith(" ") else ""
        candidates = [f"{space}{value + d}".encode() for d in (1, -1, 10, -10, 2, -2, 5, -5) if value + d >= 0]
    else:
        candidates = rng.sample(list(pool), min(len(pool), 2 * count + 1))
    return [c for c in dict.fromkeys(candidates) if c != piece][:count]


def plausible_tokens(text: str, encoding: Any, rng: random.Random, k: int) -> list[dict[str, Any]]:
    """Per token of `text`: the written token most likely, near-miss alternatives (see the module doc)."""
    pieces = [encoding.decode_single_token_bytes(t) for t in encoding.encode_ordinary(text)]
    pool = sorted(set(pieces))
    tokens = []
    for piece in pieces:
        number = _NUMBER.match(piece.decode("utf-8", errors="replace"))
        p = rng.uniform(0.5, 0.9) if number else rng.uniform(0.85, 0.99)
        alternatives = [
            a
            for a in _alternatives(piece, pool, rng, k - 1)
            if len(encoding.encode_ordinary(a.decode(errors="replace"))) == 1
        ]
        weights = [0.5**i for i in range(len(alternatives))]
        rest = [(1.0 - p) * 0.9 * w / sum(weights) for w in weights]
        top = [_entry(piece, math.log(p))] + [_entry(a, math.log(q)) for a, q in zip(alternatives, rest, strict=True)]
        tokens.append({**top[0], "top": top})
    return tokens


def record(
    problem: MathProblem,
    tokenizer: str | Any,
    k: int = 5,
    sample_index: int = 0,
    seed: int = 0,
    *,
    calculator_notes: bool = False,
    distributions: str = "neighbours",
    wrong_rate: float = 0.0,
    dataset: str | None = None,
) -> dict[str, Any]:
    """One stand-in record; `tokenizer` is a tiktoken file path or a tiktoken `Encoding`."""
    if distributions not in DISTRIBUTIONS:
        raise ValueError(f"distributions={distributions!r}; expected one of {DISTRIBUTIONS}")
    encoding = _encoding(tokenizer) if isinstance(tokenizer, str) else tokenizer
    digest = hashlib.sha256(f"{seed}:{problem.id}:{sample_index}".encode()).digest()
    rng = random.Random(digest)
    slip = rng.choice((-2, -1, 1, 2)) if rng.random() < wrong_rate else 0
    text = completion_of(problem, calculator_notes, slip)
    if distributions == "neighbours":
        tokens = neighbour_tokens(text, encoding, np.random.default_rng(int.from_bytes(digest[:8], "big")), k)
    else:
        tokens = plausible_tokens(text, encoding, rng, k)
    predicted = answers.extract_math_answer(text)
    return {
        "schema": teacher_records.SCHEMA,
        "question_id": problem.id,
        "dataset": dataset or problem.id.split("-")[0],
        "split": "train",
        "question": problem.question,
        "gold_answer": problem.answer,
        "sample_index": sample_index,
        "prompt_name": f"stand-in-{distributions}",
        "prompt_sha256": hashlib.sha256(distributions.encode()).hexdigest(),
        "model": f"stand-in/{encoding.name}",
        "api": "completions",
        "sampling": {"top_logprobs": k, "seed": seed},
        "completion": text,
        "answer": answers.math_postprocessor(text) if predicted is not None else None,
        "correct": answers.math_answers_equal(predicted, float(problem.answer)),
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 0, "completion_tokens": len(tokens)},
        "tokens": tokens,
    }


def records(
    problems: Iterable[MathProblem], tokenizer: str | Any, k: int = 5, samples: int = 1, seed: int = 0, **options: Any
) -> Iterator[dict[str, Any]]:
    """Stand-in records, `samples` per problem (problems without a rationale are skipped); options as `record`."""
    for problem in problems:
        if problem.rationale is None:
            continue
        for sample_index in range(samples):
            yield record(problem, tokenizer, k, sample_index, seed, **options)
