"""Self-consistency (Wang et al. 2023): the majority answer over N sampled chains of thought.

Scored with the task's own seqio postprocessor and metric function (`distill.data.answers`), so a
voted answer is read and compared exactly as the evaluator reads a greedy one, and the numbers
sit next to greedy accuracy without a second set of extraction rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import seqio

import tasks  # noqa: F401  (registers the tasks whose predictions are scored)
from distill.data.answers import majority_vote


@dataclass(frozen=True)
class ConsistencyResult:
    """One task's sampled predictions at one checkpoint, scored three ways (accuracy, %)."""

    task: str
    step: int
    examples: int
    samples: int  # decodes per example (the smallest count, if they differ)
    majority: float  # majority vote over the samples
    sample_mean: float  # one sample alone, averaged over the N samples
    greedy: float | None = None  # the greedy evaluation of the same checkpoint, where there is one


def score_samples(task_name: str, step: int, records: Sequence[dict[str, Any]]) -> ConsistencyResult:
    """Scores `records` (from `readers.read_predictions`) of a registered seqio task; ValueError if it is unknown."""
    try:
        task = seqio.get_mixture_or_task(task_name)
    except ValueError:
        raise ValueError(f"task {task_name!r} is not registered, so its answers cannot be read") from None
    metric_fns = task.predict_metric_fns
    if not metric_fns:
        raise ValueError(f"task {task_name!r} has no metric function")

    def metric(targets: list[str], predictions: list[str]) -> float:
        values = metric_fns[0](targets, predictions)
        if "accuracy" not in values:
            raise ValueError(f"task {task_name!r}: its metric reports {sorted(values)}, not 'accuracy'")
        return values["accuracy"]

    golds = [
        task.postprocess_fn(r["inputs"]["targets_pretokenized"], example=r["inputs"], is_target=True) for r in records
    ]
    answers = [
        [task.postprocess_fn(out["text"], example=r["inputs"], is_target=False) for out in r["outputs"]]
        for r in records
    ]
    samples = min(len(row) for row in answers)
    per_sample = [metric(golds, [row[i] for row in answers]) for i in range(samples)]
    voted = [majority_vote(row) or "" for row in answers]
    return ConsistencyResult(
        task=task_name,
        step=step,
        examples=len(records),
        samples=samples,
        majority=metric(golds, voted),
        sample_mean=sum(per_sample) / samples,
    )
