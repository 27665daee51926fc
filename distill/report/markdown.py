"""The report as Markdown tables; the main table doubles as the console summary."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from distill.report.runs import BEFORE, SELECTED, RunSummary
from distill.report.selection import GROUPS, ID, OOD, VALIDATION_GROUPS

MISSING = "–"


def number(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f}"


def parameters(count: int | None) -> str:
    if count is None:
        return "size unknown"
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= scale:
            return f"{count / scale:.3g}{suffix} parameters"
    return f"{count} parameters"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main_table(run: RunSummary) -> str:
    """One row per checkpoint (before, selected, best in-distribution, last): validation and test group means."""
    label = run.groups.label
    headers = ["checkpoint", "step", *(f"{label(g)} val" for g in VALIDATION_GROUPS)]
    headers += [f"{label(g)} test" for g in GROUPS]
    rows = [
        [
            f"**{c.label}**" if c.label == SELECTED else c.label,
            MISSING if c.step is None else str(c.step),
            *(number(c.validation.get(g)) for g in VALIDATION_GROUPS),
            *(number(c.test_mean(run.groups, g)) for g in GROUPS),
        ]
        for c in run.checkpoints
    ]
    return table(headers, rows)


def summary(run: RunSummary) -> str:
    """The headline: which step was selected and why, then the main table."""
    if run.selected is None:
        headline = f"{run.name} ({parameters(run.params)}): no checkpoint selected (see notes)."
    else:
        ood = run.curves[OOD].get(run.selected)
        why = (
            f"best mean OOD validation accuracy, {number(ood)}%"
            if ood is not None
            else f"best {run.groups.label(ID)} validation accuracy (no OOD curves)"
        )
        headline = f"{run.name} ({parameters(run.params)}): selected checkpoint step {run.selected} ({why})."
    return f"{headline}\n\n{main_table(run)}"


def task_table(run: RunSummary) -> str:
    """Test accuracy of every task at every checkpoint of the main table."""

    def order(task: str) -> tuple[int, str]:  # in-distribution, OOD, BBH CoT, BBH AO, then the rest
        group = run.groups.group(task)
        return (GROUPS.index(group) if group else len(GROUPS), task)

    tasks = sorted({t for c in run.checkpoints for t in c.test}, key=order)
    headers = ["task", *(f"{c.label}, step {c.step}" for c in run.checkpoints)]
    return table(headers, [[t, *(number(c.test.get(t)) for c in run.checkpoints)] for t in tasks])


def scaling_table(runs: Sequence[RunSummary]) -> str:
    """Per run: size, selected step, and each group's mean test accuracy before -> after."""
    label = runs[0].groups.label
    headers = ["run", "parameters", "selected step", *(f"{label(g)} before → after" for g in GROUPS)]
    rows = []
    for run in sorted(runs, key=lambda r: r.params or 0):
        before, after = run.checkpoint(BEFORE), run.checkpoint(SELECTED)
        cells = [
            f"{number(before.test_mean(run.groups, g) if before else None)} → "
            f"{number(after.test_mean(run.groups, g) if after else None)}"
            for g in GROUPS
        ]
        rows.append([run.name, parameters(run.params), MISSING if run.selected is None else str(run.selected), *cells])
    return table(headers, rows)


def consistency_table(run: RunSummary) -> str:
    headers = ["task", "step", "examples", "samples", "greedy", "one sample (mean)", "majority vote"]
    rows = [
        [
            r.task,
            str(r.step),
            str(r.examples),
            str(r.samples),
            number(r.greedy),
            number(r.sample_mean),
            number(r.majority),
        ]
        for r in run.consistency
    ]
    return table(headers, rows)


def render(runs: Sequence[RunSummary], figures: Collection[str], notes: Sequence[str]) -> str:
    """The whole report.md: `runs[0]` in full, the scaling section for all runs, figures by file name, notes."""
    run = runs[0]
    parts = [
        f"# Specialization report: {run.name}",
        f"Model directory: `{run.model_dir}`.",
        summary(run),
        run.groups.describe()
        + " The selected checkpoint is the one with the best mean OOD validation accuracy (Fu et al. select on "
        "out-of-distribution validation: in- and out-of-distribution accuracy peak at different steps); ties go to "
        "the earliest step. Val = validation split (training's inference eval); test = `--run_mode=eval` outputs.",
    ]
    if "validation_curves.png" in figures:
        parts.append("![validation accuracy versus step](validation_curves.png)")
    if any(c.test for c in run.checkpoints):
        parts += ["## Test accuracy per task", task_table(run)]
    for name, caption in (
        ("selection.png", "OOD versus in-distribution selection"),
        ("tradeoff.png", "math versus BBH"),
    ):
        if name in figures:
            parts.append(f"![{caption}]({name})")
    if len(runs) > 1:
        parts += ["## Scaling", scaling_table(runs)]
        if "scaling.png" in figures:
            parts.append("![accuracy versus model size](scaling.png)")
    if run.consistency:
        parts += ["## Self-consistency", consistency_table(run)]
        if "self_consistency.png" in figures:
            parts.append("![self-consistency](self_consistency.png)")
    all_notes = [f"{r.name}: {note}" for r in runs for note in r.notes] + list(notes)
    if all_notes:
        parts += ["## Notes", "\n".join(f"- {note}" for note in all_notes)]
    return "\n\n".join(parts) + "\n"
