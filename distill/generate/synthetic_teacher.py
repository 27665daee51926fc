"""A synthetic teacher: teacher records with top-K log-probs for synthetic word problems, offline.

Why: the quickstart and the CPU mini-reproduction need the whole pipeline (records in the
generator's format -> alignment -> distribution matching) without a teacher API. The teacher
"writes" each problem's gold chain of thought in GPT-style BPE tokens (a tokenizer different
from the student's, so alignment has real work to do) and gives, at every token, a top-K
distribution that is informative the way a real teacher's is:

* the written token gets probability p ~ U(0.5, 0.9) if it is a number, U(0.85, 0.99) else
  (words of a templated chain are predictable, results are where a model hesitates);
* for a number token, the alternatives are nearby numbers (the slips a model would make:
  off by one, off by ten), so the teacher's soft labels say which mistakes are close;
* for other tokens, alternatives are drawn from the chain's own tokens;
* the remaining mass 1 - p is split geometrically over the K - 1 alternatives, so the top-K
  mass is below 1, as with a real API.

A fraction `wrong_rate` of samples gets an arithmetic slip in the last step (and so a wrong
final answer), which the answer filter must remove, as with a real teacher.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator, Sequence
from typing import Any

from distill.contracts import teacher_records
from distill.contracts.token_bytes import token_string
from distill.data import answers
from distill.data.formats import ANSWER_PREFIX
from distill.data.loaders import MathProblem
from distill.generate import stand_in

MODEL_NAME = "synthetic-teacher"
PROMPT_NAME = "synthetic-gold-chain"
_NUMBER = re.compile(r"^\s?\d+$")
_LAST_RESULT = re.compile(r"= (\d+)(?=[^=]*$)")


def completion_text(problem: MathProblem, slip: int = 0) -> str:
    """The teacher's chain: the gold rationale and answer line, the last result off by `slip`."""
    rationale, answer = problem.rationale or "", int(problem.answer)
    if slip:
        answer += slip
        rationale = _LAST_RESULT.sub(f"= {answer}", rationale)
    return f"{rationale}\n{ANSWER_PREFIX}{answer}"


def _alternatives(piece: bytes, pool: Sequence[bytes], rng: random.Random, count: int) -> list[bytes]:
    """Single-token alternatives: nearby numbers for a number, else other tokens of the chain."""
    text = piece.decode("utf-8", errors="replace")
    if _NUMBER.match(text):
        value, space = int(text), " " if text.startswith(" ") else ""
        candidates = [f"{space}{value + d}".encode() for d in (1, -1, 10, -10, 2, -2, 5, -5) if value + d >= 0]
    else:
        candidates = rng.sample(list(pool), min(len(pool), 2 * count + 1))
    return [c for c in dict.fromkeys(candidates) if c != piece][:count]


def _entry(piece: bytes, logprob: float) -> dict[str, Any]:
    return {"token": token_string(piece), "bytes": list(piece), "logprob": logprob}


def _token_entries(text: str, encoding: Any, rng: random.Random, top_k: int) -> list[dict[str, Any]]:
    pieces = [encoding.decode_single_token_bytes(t) for t in encoding.encode_ordinary(text)]
    pool = sorted(set(pieces))
    tokens = []
    for piece in pieces:
        number = _NUMBER.match(piece.decode("utf-8", errors="replace"))
        p = rng.uniform(0.5, 0.9) if number else rng.uniform(0.85, 0.99)
        alternatives = [
            a
            for a in _alternatives(piece, pool, rng, top_k - 1)
            if len(encoding.encode_ordinary(a.decode(errors="replace"))) == 1
        ]
        weights = [0.5**i for i in range(len(alternatives))]
        rest = [(1.0 - p) * 0.9 * w / sum(weights) for w in weights]
        top = [_entry(piece, math.log(p))] + [_entry(a, math.log(q)) for a, q in zip(alternatives, rest, strict=True)]
        tokens.append({**top[0], "top": top})
    return tokens


def records(
    problems: Sequence[MathProblem],
    encoding: Any,
    *,
    dataset: str,
    samples: int = 2,
    top_k: int = 5,
    wrong_rate: float = 0.2,
    seed: int = 0,
) -> Iterator[dict[str, Any]]:
    """Teacher records (`distill.contracts.teacher_records` schema) for `samples` chains per problem.

    `encoding` is a tiktoken `Encoding` (the teacher's tokenizer). Deterministic in `seed`.
    """
    sampling = {"temperature": 1.0, "top_p": 1.0, "top_logprobs": top_k, "n": samples, "seed": seed}
    for problem in problems:
        rng = random.Random(f"{seed}/{problem.id}")
        for index in range(samples):
            slip = rng.choice((-2, -1, 1, 2)) if rng.random() < wrong_rate else 0
            text = completion_text(problem, slip)
            predicted = answers.extract_math_answer(text)
            record = stand_in.teacher_record(
                problem,
                dataset=dataset,
                sample_index=index,
                completion=text,
                tokens=_token_entries(text, encoding, rng, top_k),
                model=MODEL_NAME,
                prompt_name=PROMPT_NAME,
                sampling=sampling,
                answer=answers.math_postprocessor(text) if predicted is not None else None,
                correct=answers.math_answers_equal(predicted, float(problem.answer)),
            )
            yield teacher_records.validate(record, f"{problem.id}#{index}")
