"""One run's results: validation curves, the checkpoints chosen from them, their test accuracy,
the starting checkpoint's, and self-consistency. Each missing piece becomes a note, not an error,
because a report is most needed halfway through (e.g. to learn which step to evaluate on test).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from distill.report import consistency, readers
from distill.report.readers import Accuracies, ReportInputError
from distill.report.selection import GROUPS, ID, OOD, VALIDATION_GROUPS, Groups, best_step, mean_curve, mean_of

VALIDATION_DIR = "inference_eval"  # written by training every EVAL_PERIOD steps
EVAL_DIR = "eval"  # --run_mode=eval outputs, one folder per checkpoint
INFER_DIR = "infer"  # --run_mode=infer outputs, in infer/checkpoint_<step>/
BEFORE, SELECTED, LAST = "before specialization", "selected checkpoint", "last evaluated step"


@dataclass(frozen=True)
class Checkpoint:
    """One row of the main table: a step, its mean validation accuracy per group, its test accuracy per task."""

    label: str
    step: int | None
    validation: dict[str, float]
    test: dict[str, float]

    def test_mean(self, groups: Groups, group: str) -> float | None:
        return mean_of(self.test, groups.tasks(self.test, group))


@dataclass
class RunSummary:
    """Everything the report shows about one model directory."""

    name: str
    model_dir: str
    groups: Groups
    params: int | None = None
    validation: Accuracies = field(default_factory=dict)
    curves: dict[str, dict[int, float]] = field(default_factory=dict)  # group -> step -> mean validation accuracy
    selected: int | None = None  # the documented choice: best OOD validation
    by_id: int | None = None  # best in-distribution validation, for comparison
    checkpoints: list[Checkpoint] = field(default_factory=list)
    consistency: list[consistency.ConsistencyResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def checkpoint(self, label: str) -> Checkpoint | None:
        return next((c for c in self.checkpoints if c.label == label), None)

    @property
    def by_id_label(self) -> str:
        return f"best {self.groups.label(ID)} validation"


def summarize_run(model_dir: str, groups: Groups, baseline: str | None = None) -> RunSummary:
    """Reads one run's outputs (layout: `distill/report/cli.py`); `baseline` replaces its starting-step evaluations."""
    if not os.path.isdir(model_dir):
        raise ReportInputError(f"{model_dir}: no such model directory")
    run = RunSummary(name=os.path.basename(os.path.normpath(model_dir)), model_dir=model_dir, groups=groups)
    info = readers.read_run_info(model_dir)
    run.params = info.params
    if info.params is None:
        run.notes.append(f"No {model_dir}/model-info.txt: model size unknown (left out of the scaling curve).")
    _select(run, info)
    test = _read_dir(run, os.path.join(model_dir, EVAL_DIR), "test evaluations (--run_mode=eval)")
    before_step, before = _before(run, info, test, baseline)
    if before:
        validation = _validation_at(run, before_step) if baseline is None else {}
        run.checkpoints.append(Checkpoint(BEFORE, before_step, validation, before))
    evaluated = sorted(set().union(*run.curves.values()))
    rows = [(SELECTED, run.selected), (run.by_id_label, run.by_id), (LAST, evaluated[-1] if evaluated else None)]
    for label, step in rows:
        if step is None:
            continue
        at_step = {task: values[step] for task, values in test.items() if step in values}
        run.checkpoints.append(Checkpoint(label, step, _validation_at(run, step), at_step))
        if not at_step and label != LAST:
            run.notes.append(
                f"No test evaluation of step {step} ({label}): evaluate {model_dir}/checkpoint_{step} "
                f"with --run_mode=eval and EVAL_OUTPUT_DIR={model_dir}/{EVAL_DIR}/checkpoint_{step}."
            )
    _check_comparable(run)
    _self_consistency(run, test)
    return run


def _check_comparable(run: RunSummary) -> None:
    """Notes a group whose before and after means cover different tasks (so they do not compare)."""
    before, after = run.checkpoint(BEFORE), run.checkpoint(SELECTED)
    if before is None or after is None:
        return
    for group in GROUPS:
        tasks_before, tasks_after = run.groups.tasks(before.test, group), run.groups.tasks(after.test, group)
        if tasks_before and tasks_after and tasks_before != tasks_after:
            run.notes.append(
                f"{run.groups.label(group)} test: the means before and at the selected step cover different tasks "
                f"({len(tasks_before)} and {len(tasks_after)}), so they do not compare."
            )


def _validation_at(run: RunSummary, step: int) -> dict[str, float]:
    return {group: curve[step] for group, curve in run.curves.items() if step in curve}


def _read_dir(run: RunSummary, directory: str, what: str, recursive: bool = True) -> Accuracies:
    if not os.path.isdir(directory):
        run.notes.append(f"No {what}: {directory} does not exist.")
        return {}
    accuracies, notes = readers.read_accuracies(directory, recursive=recursive)
    run.notes.extend(notes)
    if not accuracies:
        run.notes.append(f"No {what}: no *-metrics.jsonl with accuracy under {directory}.")
    return accuracies


def _select(run: RunSummary, info: readers.RunInfo) -> None:
    """Validation curves per group and the best steps, among steps that still have a checkpoint."""
    run.validation = _read_dir(
        run, os.path.join(run.model_dir, VALIDATION_DIR), "validation curves (training's inference eval)", False
    )
    run.curves = {g: mean_curve(run.validation, run.groups.tasks(run.validation, g)) for g in VALIDATION_GROUPS}
    evaluated = set().union(*run.curves.values())
    candidates = info.checkpoint_steps & evaluated
    if evaluated and not candidates:
        kept = "no checkpoint_<step> folders" if not info.checkpoint_steps else "no evaluated step has a checkpoint"
        run.notes.append(f"{run.model_dir} has {kept}: choosing among all evaluated steps.")
    by_ood = best_step(run.curves[OOD], candidates or None)
    run.by_id = best_step(run.curves[ID], candidates or None)
    run.selected = by_ood if by_ood is not None else run.by_id
    if by_ood is None and run.by_id is not None:
        run.notes.append("No OOD validation curves: the selected checkpoint is the best in-distribution one instead.")
    elif run.selected is None:
        run.notes.append(f"No {run.groups.label(ID)} or OOD validation accuracy: no checkpoint selected.")
    elif by_ood == run.by_id:
        run.notes.append(f"OOD and {run.groups.label(ID)} validation pick the same step ({by_ood}).")


def _before(
    run: RunSummary, info: readers.RunInfo, test: Accuracies, baseline: str | None
) -> tuple[int | None, dict[str, float]]:
    """The starting point's step and test accuracies: `baseline`'s latest evaluation, else this run's first step."""
    if baseline is not None:
        directory = os.path.join(baseline, EVAL_DIR) if os.path.isdir(os.path.join(baseline, EVAL_DIR)) else baseline
        accuracies = _read_dir(run, directory, "baseline evaluations")
        steps = set().union(*(values.keys() for values in accuracies.values()))
        if len(steps) > 1:
            run.notes.append(f"Baseline {directory} holds steps {sorted(steps)}: using the latest, {max(steps)}.")
        step = max(steps, default=None)
    else:
        step = info.initial_step
        accuracies = test
        if step is None:
            run.notes.append(f"No {run.model_dir}/run.json initial_step and no --baseline: nothing before training.")
            return None, {}
    before = {task: values[step] for task, values in accuracies.items() if step in values}
    if baseline is None and not before:
        run.notes.append(
            f"No test evaluation of the starting checkpoint (step {step}) under {run.model_dir}/{EVAL_DIR}: "
            f"evaluate it with EVAL_OUTPUT_DIR={run.model_dir}/{EVAL_DIR}/checkpoint_{step}, or pass --baseline."
        )
    return step, before


def _self_consistency(run: RunSummary, test: Accuracies) -> None:
    """Scores every `infer/checkpoint_<step>/` with several decodes per example, next to greedy test accuracy."""
    infer_dirs = readers.step_dirs(os.path.join(run.model_dir, INFER_DIR))
    for step, directory in sorted(infer_dirs.items()):
        predictions, notes = readers.read_predictions(directory)
        run.notes.extend(notes)
        for task, records in sorted(predictions.items()):
            if min(len(r["outputs"]) for r in records) < 2:
                run.notes.append(f"{directory}: {task} has one decode per example; no self-consistency to score.")
                continue
            try:
                result = consistency.score_samples(task, step, records)
            except ValueError as err:
                run.notes.append(f"{directory}: {err}; left out.")
                continue
            run.consistency.append(dataclasses.replace(result, greedy=test.get(task, {}).get(step)))
