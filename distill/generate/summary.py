"""What a teacher file holds: accuracy per sample, per question and by majority vote, coverage, tokens, cost.

The anchors are the paper's (docs/method.md 1.2): code-davinci-002 on GSM8K train was right in
63.8% of first samples, 83.8% by majority vote over ~40 samples, and 64.1% of all samples
survived the answer filter. `coverage` is the share of questions with at least one correct
sample: the questions that contribute distillation data at all.

Everything here is a function of the records (in any order), so a run killed and resumed ends
with the same summary as one that never stopped. Token counts come from each request's `usage`,
shared by the samples of that request (`usage / sampling.n` per record), summed exactly.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from distill.generate import questions

SCHEMA = "cot-specialize/teacher-summary/1"


@dataclass(frozen=True)
class Prices:
    """US dollars per 1M prompt / completion tokens."""

    prompt: float = 0.0
    completion: float = 0.0

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1e6


@dataclass
class _Question:
    question: questions.Question
    samples: dict[int, tuple[str | None, bool]] = field(default_factory=dict)  # index -> (answer, correct)


class SampleTally:
    """Per-question sample outcomes and token shares of a set of records."""

    def __init__(self) -> None:
        self._questions: dict[str, _Question] = {}
        self._prompt_shares: list[float] = []
        self._completion_shares: list[float] = []
        self.finish_reasons: Counter[str] = Counter()
        self.kept_tokens = 0
        self.records = 0

    def add(self, record: dict[str, Any], tokens: int | None = None) -> bool:
        """Counts a record (of `tokens` tokens, default its own); False when its (question, sample) is in already."""
        entry = self._questions.get(record["question_id"])
        if entry is None:
            question = questions.Question(
                record["question_id"],
                record["dataset"],
                record["split"],
                record["question"],
                record["gold_answer"],
                task=questions.bbh_task(record["dataset"]),
            )
            entry = self._questions[question.id] = _Question(question)
        if record["sample_index"] in entry.samples:
            return False
        entry.samples[record["sample_index"]] = (record["answer"], record["correct"])
        n = max(int(record["sampling"].get("n") or 1), 1)
        self._prompt_shares.append(record["usage"].get("prompt_tokens", 0) / n)
        self._completion_shares.append(record["usage"].get("completion_tokens", 0) / n)
        self.finish_reasons[record["finish_reason"]] += 1
        self.kept_tokens += len(record["tokens"] or ()) if tokens is None else tokens
        self.records += 1
        return True

    def sample_indices(self, question_id: str) -> set[int]:
        entry = self._questions.get(question_id)
        return set(entry.samples) if entry else set()

    def summary(self, question_ids: list[str], prices: Prices | None) -> dict[str, Any]:
        """The summary over `question_ids` plus any other question with records."""
        ids = list(dict.fromkeys([*question_ids, *sorted(self._questions)]))
        per_question, fractions, first, majority, covered = {}, [], 0, 0, 0
        correct_samples = no_answer = 0
        for ident in ids:
            entry = self._questions.get(ident)
            samples = [entry.samples[i] for i in sorted(entry.samples)] if entry else []
            correct = sum(ok for _, ok in samples)
            vote, vote_ok = (
                questions.majority_correct(entry.question, [a for a, _ in samples]) if entry else (None, False)
            )
            per_question[ident] = {
                "samples": len(samples),
                "correct": correct,
                "majority": vote,
                "majority_correct": vote_ok,
            }
            fractions.append(correct / len(samples) if samples else 0.0)
            first += bool(entry and 0 in entry.samples and entry.samples[0][1])
            majority += vote_ok
            covered += correct > 0
            correct_samples += correct
            no_answer += sum(a is None for a, _ in samples)
        count = max(len(ids), 1)
        prompt_tokens, completion_tokens = math.fsum(self._prompt_shares), math.fsum(self._completion_shares)
        return {
            "schema": SCHEMA,
            "questions": len(ids),
            "records": self.records,
            "sample_accuracy": correct_samples / max(self.records, 1),
            "per_question_accuracy": math.fsum(fractions) / count,
            "first_sample_accuracy": first / count,
            "majority_vote_accuracy": majority / count,
            "coverage": covered / count,
            "no_answer": no_answer / max(self.records, 1),
            "samples_per_question": dict(sorted(Counter(q["samples"] for q in per_question.values()).items())),
            "finish_reasons": dict(sorted(self.finish_reasons.items())),
            "tokens": {
                "prompt": round(prompt_tokens),
                "completion": round(completion_tokens),
                "kept_completion": self.kept_tokens,
            },
            "cost_usd": prices.cost(prompt_tokens, completion_tokens) if prices else None,
            "per_question": per_question,
        }


def describe(summary: dict[str, Any]) -> str:
    """The summary as a few console lines."""
    tokens = summary["tokens"]
    cost = summary["cost_usd"]
    lines = [
        f"{summary['records']:,} records for {summary['questions']:,} questions "
        f"(samples per question: {summary['samples_per_question']})",
        f"accuracy: per sample {summary['sample_accuracy']:.2%}, per question {summary['per_question_accuracy']:.2%}, "
        f"first sample {summary['first_sample_accuracy']:.2%}, majority vote {summary['majority_vote_accuracy']:.2%}",
        f"coverage (>= 1 correct sample): {summary['coverage']:.2%}; no answer: {summary['no_answer']:.2%}",
        f"tokens: {tokens['prompt']:,} prompt, {tokens['completion']:,} completion ({tokens['kept_completion']:,} kept)"
        + (f"; cost ${cost:,.4f}" if cost is not None else ""),
        f"finish reasons: {summary['finish_reasons']}",
    ]
    run = summary.get("run")
    if run:
        lines.append(
            f"this run: {run['requests']:,} requests, {run['retries']:,} retries, {run['errors']:,} errors logged, "
            f"${run['spend_usd']:,.4f} spent, {run['wall_s']:.1f} s"
            + (f"; stopped: {run['stopped']}" if run["stopped"] else "")
        )
    return "\n".join(lines)
