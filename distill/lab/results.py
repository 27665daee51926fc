"""The lab's numbers: per arm and seed, accuracy curves by group; selected steps; lab.json and lab.md.

Groups (means over tasks, each task's accuracy in %): `id` (`lab_problems.ID_DATASETS`, zero-shot
and in-context CoT), `ood` (`OOD_DATASETS`, the forms never trained on, both formats), `ood_zs` /
`ood_ic` (one format), `range` (lab_large, the range shift, both formats), `general` (the general suite). A
run's OOD-selected step maximizes `ood`, its ID-selected step `id`; the arm's row reports `ood` at
the OOD-selected step, `id` at the ID-selected step and `range` and `general` at the OOD-selected
step, each as mean ± sample standard deviation over seeds.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence

from distill.contracts import durable
from distill.data import lab_problems
from distill.report import readers

Curves = dict[str, dict[int, float]]  # group -> step -> accuracy (%)
COLUMNS = ("ood", "id", "ood_zs", "ood_ic", "range", "general")


def group_of(task: str) -> str | None:
    """`id`, `ood_zs`, `ood_ic`, `range` or `general` for a lab evaluation task, else None."""
    if task.startswith("lab_general_"):
        return "general"
    for dataset in lab_problems.FORMS:
        for fmt in ("zs_cot", "ic_cot"):
            if task == f"{dataset}_{fmt}":
                if dataset in lab_problems.RANGE_DATASETS:
                    return "range"
                return "id" if dataset in lab_problems.ID_DATASETS else f"ood_{fmt[:2]}"
    return None


def curves(accuracies: Mapping[str, Mapping[int, float]]) -> Curves:
    """Mean accuracy per group and step, over the tasks evaluated at that step."""
    by_group: dict[str, dict[int, list[float]]] = {}
    for task, values in accuracies.items():
        group = group_of(task)
        if group is None:
            continue
        for name in (group, "ood") if group.startswith("ood_") else (group,):
            for step, value in values.items():
                by_group.setdefault(name, {}).setdefault(step, []).append(value)
    return {g: {s: sum(v) / len(v) for s, v in sorted(steps.items())} for g, steps in by_group.items()}


def read_curves(eval_dir: str) -> Curves:
    accuracies, _ = readers.read_accuracies(eval_dir, recursive=True)
    return curves(accuracies)


def summary(run: Curves) -> dict[str, float | int]:
    """One run's row: selected steps and the values at them."""
    ood, ident = run.get("ood", {}), run.get("id", {})
    ood_step = max(ood, key=lambda s: (ood[s], -s)) if ood else 0
    id_step = max(ident, key=lambda s: (ident[s], -s)) if ident else 0
    row: dict[str, float | int] = {"ood_step": ood_step, "id_step": id_step}
    for column in COLUMNS:
        values = run.get(column, {})
        step = id_step if column == "id" else ood_step
        row[column] = values.get(step, math.nan)
    return row


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    kept = [v for v in values if not math.isnan(v)]
    if not kept:
        return math.nan, math.nan
    return statistics.fmean(kept), statistics.stdev(kept) if len(kept) > 1 else 0.0


def table(arms: Mapping[str, Sequence[dict[str, float | int]]]) -> str:
    """The Markdown table of lab.md: one row per arm, mean ± sample std over its seeds."""
    names = ["arm", "seeds", "OOD (OOD-selected)", "ID (ID-selected)", "OOD zero-shot", "OOD in-context"]
    names += ["range (lab_large)", "general", "OOD-selected step", "ID-selected step"]
    align = ["---"] + ["---:"] * (len(COLUMNS) + 1) + ["---", "---"]
    lines = ["| " + " | ".join(names) + " |", "| " + " | ".join(align) + " |"]
    for arm, rows in arms.items():
        cells = [f"{m:.1f} ± {s:.1f}" for m, s in (mean_std([float(r[c]) for r in rows]) for c in COLUMNS)]
        steps = [", ".join(str(int(r[k])) for r in rows) for k in ("ood_step", "id_step")]
        lines.append(f"| {arm} | {len(rows)} | " + " | ".join(cells + steps) + " |")
    return "\n".join(lines)


def write(out_dir: str, runs: Mapping[str, Mapping[int, Curves]], settings: Mapping[str, object]) -> str:
    """lab.json (curves, rows, settings) and lab.md (the table); returns the table."""
    rows = {arm: [summary(curves_) for _, curves_ in sorted(seeds.items())] for arm, seeds in runs.items()}
    text = table(rows)
    durable.write_json(f"{out_dir}/lab.json", {"settings": settings, "rows": rows, "curves": runs})
    durable.write_text(f"{out_dir}/lab.md", f"# Specialization lab\n\n{json.dumps(settings)}\n\n{text}\n")
    return text
