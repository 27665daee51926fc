"""The lab's figures, drawn by `distill.report`'s plotting: accuracy versus step, and math versus general.

The curves figure is the report's validation figure of one run (each dataset's mean over formats,
the OOD mean, the OOD-selected step in red and the ID-selected step dashed); the trade-off figure
shows each arm's mean OOD, ID and general-suite accuracy next to stage 0's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from distill.data import lab_problems
from distill.lab import results
from distill.report import plots
from distill.report.runs import summarize_run
from distill.report.selection import Groups

GROUPS = Groups(id_datasets=lab_problems.ID_DATASETS, ood_datasets=lab_problems.OOD_DATASETS)
TRADEOFF = ("ood", "id", "general")


def curves_figure(model_dir: str, path: str, name: str) -> str | None:
    """Writes one run's accuracy-versus-step figure to `path`; None when it has no evaluations."""
    run = summarize_run(model_dir, GROUPS)
    run.name = name
    figure = plots.validation_figure(run)
    if figure is None:
        return None
    plots.save(figure, path)
    return path


def tradeoff_figure(runs: Mapping[str, Mapping[int, results.Curves]], path: str) -> str:
    """Mean OOD, ID and general accuracy per arm at its selected steps (stage 0 is the `baseline` row)."""
    series = {}
    for arm, seeds in runs.items():
        rows = [results.summary(curves) for curves in seeds.values()]
        series[arm] = [results.mean_std([float(r[c]) for r in rows])[0] for c in TRADEOFF]
    figure = plots.bars_figure(["OOD CoT", "ID CoT", "general suite"], series, "math versus general, per arm")
    plots.save(figure, path)
    return path


def write_all(out_dir: str, runs: Mapping[str, Mapping[int, results.Curves]], model_dirs: Mapping[str, str]) -> list:
    """Every figure of a lab run under `out_dir/figures`, linked from the end of lab.md; returns their paths.

    The curves of each arm's first seed (`model_dirs`), and the trade-off of all arms.
    """
    folder = os.path.join(out_dir, "figures")
    os.makedirs(folder, exist_ok=True)
    written = [tradeoff_figure(runs, os.path.join(folder, "tradeoff.png"))]
    for arm, model_dir in model_dirs.items():
        path = curves_figure(model_dir, os.path.join(folder, f"{arm}_curves.png"), f"{arm} (seed 0)")
        written += [path] if path else []
    with open(os.path.join(out_dir, "lab.md"), "a", encoding="utf-8") as f:
        f.write("\n" + "".join(f"![{os.path.basename(p)}](figures/{os.path.basename(p)})\n" for p in written))
    return written
