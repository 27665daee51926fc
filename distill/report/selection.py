"""Which checkpoint to keep: task groups, their mean accuracy per step, and the selection rule.

Fu et al. (docs/method.md sections 5.4 and 6.1) found that in-distribution (GSM8K) and
out-of-distribution accuracy peak at different steps, and select on OOD validation: a student
that only keeps improving on GSM8K-style questions can be losing the general multi-step skill
the specialization is for. So the documented choice is the step with the best mean OOD
validation accuracy; the best in-distribution step is reported next to it for comparison.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from distill.data.formats import BBH_FORMATS, MATH_FORMATS
from distill.data.sources import OOD_DATASETS
from distill.report.readers import Accuracies

ID, OOD, BBH_COT, BBH_AO = "id", "ood", "bbh_cot", "bbh_ao"
GROUPS = (ID, OOD, BBH_COT, BBH_AO)
VALIDATION_GROUPS = (ID, OOD)  # BBH has only a test split


def task_dataset(task: str) -> tuple[str, str | None]:
    """(dataset, format) of a task name: `gsm8k_ic_cot` -> (gsm8k, ic_cot), `bbh_navigate_ao` -> (bbh, ao).

    A name in neither scheme is its own dataset with no format.
    """
    if task.startswith("bbh_"):
        for fmt in BBH_FORMATS:
            if task.endswith(f"_{fmt}"):
                return "bbh", fmt
    for fmt in MATH_FORMATS:
        if task.endswith(f"_{fmt}"):
            return task[: -len(fmt) - 1], fmt
    return task, None


@dataclass(frozen=True)
class Groups:
    """Which datasets count as in-distribution and which as out-of-distribution.

    Defaults: GSM8K, and the datasets of the `math_ood_*` mixtures (the paper used MultiArith,
    ASDiv and SVAMP; pass those three for its exact set). The synthetic tasks of the quickstart
    pass their own, e.g. k=2,3 steps in distribution and k=4,5 out of it.
    """

    id_datasets: tuple[str, ...] = ("gsm8k",)
    ood_datasets: tuple[str, ...] = OOD_DATASETS

    def __post_init__(self) -> None:
        overlap = set(self.id_datasets) & set(self.ood_datasets)
        if overlap:
            raise ValueError(f"datasets {sorted(overlap)} are both in- and out-of-distribution")

    def label(self, group: str) -> str:
        """Short column name: the in-distribution datasets (e.g. "gsm8k"), "OOD", "BBH CoT", "BBH AO"."""
        return {ID: "+".join(self.id_datasets), OOD: "OOD", BBH_COT: "BBH CoT", BBH_AO: "BBH AO"}[group]

    def group(self, task: str) -> str | None:
        dataset, fmt = task_dataset(task)
        if dataset == "bbh":
            return BBH_COT if fmt == "cot" else BBH_AO
        if dataset in self.id_datasets:
            return ID
        if dataset in self.ood_datasets:
            return OOD
        return None

    def tasks(self, tasks: Iterable[str], group: str) -> list[str]:
        return sorted(task for task in tasks if self.group(task) == group)

    def describe(self) -> str:
        return (
            f"In-distribution: {', '.join(self.id_datasets)}; OOD: {', '.join(self.ood_datasets)}; "
            "BBH: the BIG-Bench Hard tasks (CoT and answer-only prompts). "
            "A group's accuracy is the unweighted mean over its tasks (dataset x format)."
        )


def mean_curve(accuracies: Accuracies, tasks: Iterable[str]) -> dict[int, float]:
    """Mean accuracy of `tasks` at each step where every one of them was evaluated (comparable steps only)."""
    tasks = [task for task in tasks if task in accuracies]
    if not tasks:
        return {}
    steps = set.intersection(*(set(accuracies[task]) for task in tasks))
    return {step: sum(accuracies[task][step] for task in tasks) / len(tasks) for step in sorted(steps)}


def mean_of(values: Mapping[str, float], tasks: Iterable[str]) -> float | None:
    """Mean of the `tasks` present in `values` (one checkpoint's test accuracies), None if none is."""
    found = [values[task] for task in tasks if task in values]
    return sum(found) / len(found) if found else None


def best_step(curve: Mapping[int, float], candidates: Collection[int] | None = None) -> int | None:
    """The step with the highest mean validation accuracy among `candidates` (all steps if None).

    Ties go to the earliest step: the least drift from the starting checkpoint for the same score.
    """
    steps = [step for step in curve if candidates is None or step in candidates]
    return min(steps, key=lambda step: (-curve[step], step)) if steps else None
