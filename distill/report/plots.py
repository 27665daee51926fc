"""The report's figures, drawn with matplotlib's object API on the Agg canvas.

`matplotlib.figure.Figure` needs no pyplot and no global backend, so the report can run inside
another program (the quickstart) without changing its matplotlib state. Each function returns
None when its data are missing; the caller notes that and goes on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from distill.report.runs import BEFORE, SELECTED, Checkpoint, RunSummary
from distill.report.selection import GROUPS, ID, OOD, mean_curve, task_dataset

SELECTED_GID = "selected-checkpoint"  # the marker line of the selected step, findable in the figure


def save(figure: Figure, path: str) -> None:
    figure.savefig(path, dpi=110, bbox_inches="tight")


def validation_figure(run: RunSummary) -> Figure | None:
    """Validation accuracy versus step per dataset (mean over formats), the OOD mean, and the chosen steps."""
    if not run.validation:
        return None
    figure = Figure(figsize=(8, 5))
    ax = figure.subplots()
    datasets: dict[str, list[str]] = {}
    for task in run.validation:
        datasets.setdefault(task_dataset(task)[0], []).append(task)
    for dataset, tasks in sorted(datasets.items()):
        curve = mean_curve(run.validation, tasks)
        ax.plot(list(curve), list(curve.values()), marker=".", linewidth=1, label=dataset)
    if run.curves.get(OOD):
        curve = run.curves[OOD]
        ax.plot(list(curve), list(curve.values()), color="black", linewidth=2.5, label="OOD mean")
    if run.selected is not None:
        line = ax.axvline(run.selected, color="red", linewidth=2, label=f"selected: step {run.selected}")
        line.set_gid(SELECTED_GID)
    if run.by_id is not None and run.by_id != run.selected:
        ax.axvline(run.by_id, color="grey", linestyle="--", label=f"{run.by_id_label}: step {run.by_id}")
    ax.set(xlabel="step", ylabel="validation accuracy (%)", title=f"{run.name}: accuracy versus step")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return figure


def _bars(ax: Axes, categories: Sequence[str], series: dict[str, list[float | None]]) -> None:
    """Grouped bars: one group per category, one bar per series (a missing value is left out)."""
    width = 0.8 / len(series)
    x = np.arange(len(categories))
    for i, (name, values) in enumerate(series.items()):
        heights = [np.nan if v is None else v for v in values]
        ax.bar(x + (i - (len(series) - 1) / 2) * width, heights, width, label=name)
    tallest = max((v for values in series.values() for v in values if v is not None), default=0.0)
    ax.set_ylim(0, max(tallest, 1.0) * 1.3)  # room for the legend above the bars
    ax.set_xticks(
        x, categories, rotation=30 if len(categories) > 4 else 0, ha="right" if len(categories) > 4 else "center"
    )
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)


def selection_figure(run: RunSummary) -> Figure | None:
    """Test accuracy per (non-BBH) task of the OOD-selected and the in-distribution-selected checkpoints."""
    chosen = [c for c in (run.checkpoint(SELECTED), run.checkpoint(run.by_id_label)) if c is not None and c.test]
    tasks = sorted({t for c in chosen for t in c.test if task_dataset(t)[0] != "bbh"})
    if not tasks:
        return None
    figure = Figure(figsize=(max(6, len(tasks) * 0.7), 4.5))
    ax = figure.subplots()
    _bars(ax, tasks, {f"{c.label}, step {c.step}": [c.test.get(t) for t in tasks] for c in chosen})
    ax.set(ylabel="test accuracy (%)", title=f"{run.name}: checkpoint chosen by OOD vs in-distribution validation")
    return figure


def tradeoff_figure(run: RunSummary) -> Figure | None:
    """Math versus BBH: each group's mean test accuracy before specialization and at the selected step."""
    pair: list[Checkpoint] = [c for c in (run.checkpoint(BEFORE), run.checkpoint(SELECTED)) if c is not None and c.test]
    if len(pair) < 2:
        return None
    groups = [g for g in GROUPS if any(c.test_mean(run.groups, g) is not None for c in pair)]
    figure = Figure(figsize=(7, 4.5))
    ax = figure.subplots()
    _bars(
        ax,
        [run.groups.label(g) for g in groups],
        {f"{c.label} (step {c.step})": [c.test_mean(run.groups, g) for g in groups] for c in pair},
    )
    ax.set(ylabel="mean test accuracy (%)", title=f"{run.name}: math versus BBH, before and after")
    return figure


def scaling_figure(runs: Sequence[RunSummary]) -> Figure | None:
    """Mean test accuracy versus parameter count (log axis), specialized and before, for each run with a size."""
    sized = [r for r in runs if r.params and r.checkpoint(SELECTED) and r.checkpoint(SELECTED).test]
    sized.sort(key=lambda r: r.params)
    if len(sized) < 2:
        return None
    figure = Figure(figsize=(7, 4.5))
    ax = figure.subplots()
    for group, color in ((ID, "tab:blue"), (OOD, "tab:orange")):
        label = sized[0].groups.label(group)
        for checkpoint_label, style, name in ((SELECTED, "-o", "specialized"), (BEFORE, "--s", "before")):
            points = [(r.params, _group_test(r, checkpoint_label, group)) for r in sized]
            points = [(x, y) for x, y in points if y is not None]
            if points:
                ax.plot(*zip(*points, strict=True), style, color=color, label=f"{label}, {name}")
    for run in sized:
        point = (run.params, _group_test(run, SELECTED, ID) or 0)
        ax.annotate(run.name, point, xytext=(4, -10), textcoords="offset points", fontsize="x-small")
    ax.set_xscale("log")
    ax.set(xlabel="parameters", ylabel="mean test accuracy (%)", title="accuracy versus model size")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, which="both")
    return figure


def _group_test(run: RunSummary, label: str, group: str) -> float | None:
    checkpoint = run.checkpoint(label)
    return checkpoint.test_mean(run.groups, group) if checkpoint else None


def consistency_figure(run: RunSummary) -> Figure | None:
    """Greedy, one-sample and majority-vote accuracy per task and step where samples were decoded."""
    if not run.consistency:
        return None
    names = [f"{r.task} @{r.step}" for r in run.consistency]
    figure = Figure(figsize=(max(6, len(names) * 1.2), 4.5))
    ax = figure.subplots()
    _bars(
        ax,
        names,
        {
            "greedy": [r.greedy for r in run.consistency],
            "one sample (mean)": [r.sample_mean for r in run.consistency],
            "majority vote": [r.majority for r in run.consistency],
        },
    )
    ax.set(ylabel="test accuracy (%)", title=f"{run.name}: self-consistency")
    return figure


def bars_figure(categories: Sequence[str], series: dict[str, list[float | None]], title: str) -> Figure:
    """Grouped bars of accuracies (a group per category, a bar per series), e.g. the lab's math versus general."""
    figure = Figure(figsize=(max(7, len(series) * 1.2), 4.5))
    ax = figure.subplots()
    _bars(ax, categories, series)
    ax.set(ylabel="accuracy (%)", title=title)
    return figure
