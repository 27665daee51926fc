"""Checkpoint selection and the specialization report: `python -m distill.report --model_dir DIR`.

    python -m distill.report --model_dir /runs/flan_base [--baseline DIR] [--more DIR ...] [--out DIR]

Writes `report.md` and PNG figures to `--out` (default `MODEL_DIR/report`) and prints the main
table. The selected checkpoint is the step with the best mean out-of-distribution validation
accuracy, as Fu et al. do (in- and out-of-distribution accuracy peak at different steps); the
best in-distribution (GSM8K) step is shown next to it with both steps' test accuracy.

What it reads, per model directory (every piece optional: a missing one is a note in the report):

* `inference_eval/{task}-metrics.jsonl`: validation accuracy per step, written by training every
  EVAL_PERIOD steps (seqio's JSONLogger: one line `{"step": S, "accuracy": A, ...}` per
  evaluation). The selection reads these. Put the GSM8K and OOD validation tasks in the
  infer_eval mixture (`infer_eval/utils.DatasetConfig.mixture_or_task_name`).
* `checkpoint_<step>/`: selection only considers evaluated steps whose checkpoint is still there
  (all evaluated steps if none is).
* `eval/**/{task}-metrics.jsonl`: test accuracy, from `--run_mode=eval` runs with
  `EVAL_OUTPUT_DIR=MODEL_DIR/eval/checkpoint_<step>` (any folder below `eval/` works; the step is
  read from each line). Evaluate the selected step, the best in-distribution step, and the
  starting checkpoint (math test sets and `bbh_cot` / `bbh_ao`); the report says which are missing.
* `run.json` `initial_step`: the starting checkpoint's step; its `eval/` results are the
  "before specialization" row. `--baseline DIR` replaces them with the latest evaluation found
  in `DIR/eval/` (or in `DIR` itself, if it is an EVAL_OUTPUT_DIR).
* `model-info.txt` `Total parameters: N`: the model size for the scaling curve (`--more` runs).
* `infer/checkpoint_<step>/{task}-predict.jsonl-*`: `--run_mode=infer` with sampling and
  `num_decodes` N > 1; scored as self-consistency (majority vote) next to the greedy test
  accuracy of the same step.

`metrics-<step>.json` duplicates the JSON lines and is not read. A file that is present but
malformed stops the report with its path, line and field.

Figures: `validation_curves.png` (accuracy versus step per dataset, the selected step marked),
`selection.png` (test accuracy of the OOD- versus in-distribution-selected checkpoints),
`tradeoff.png` (math versus BBH before and after), `scaling.png` (accuracy versus parameters,
log axis, with `--more` runs), `self_consistency.png`.

In-process: `build_report(model_dir, ...)` returns a `Report` (the quickstart calls it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from distill.report import markdown, plots
from distill.report.readers import ReportInputError
from distill.report.runs import RunSummary, summarize_run
from distill.report.selection import Groups

__all__ = ["Report", "ReportInputError", "build_report", "main"]


@dataclass(frozen=True)
class Report:
    """The report of `runs[0]` (with `runs[1:]` in the scaling section), and where it was written."""

    runs: list[RunSummary]
    out_dir: str
    files: list[str]  # report.md first, then the figures written
    summary: str  # the headline and main table, as printed

    @property
    def main(self) -> RunSummary:
        return self.runs[0]

    @property
    def selected_step(self) -> int | None:
        return self.main.selected


def build_report(
    model_dir: str,
    baseline: str | None = None,
    more: Sequence[str] = (),
    out_dir: str | None = None,
    groups: Groups | None = None,
) -> Report:
    """Reads the runs' evaluation outputs, selects checkpoints, writes report.md and the figures."""
    groups = groups or Groups()
    runs = [summarize_run(model_dir, groups, baseline)] + [summarize_run(d, groups) for d in more]
    out_dir = out_dir or os.path.join(model_dir, "report")
    os.makedirs(out_dir, exist_ok=True)
    figures = {
        "validation_curves.png": plots.validation_figure(runs[0]),
        "selection.png": plots.selection_figure(runs[0]),
        "tradeoff.png": plots.tradeoff_figure(runs[0]),
        "scaling.png": plots.scaling_figure(runs) if len(runs) > 1 else None,
        "self_consistency.png": plots.consistency_figure(runs[0]),
    }
    written = []
    for name, figure in figures.items():
        if figure is not None:
            plots.save(figure, os.path.join(out_dir, name))
            written.append(name)
    notes = (
        []
        if len(runs) < 2 or "scaling.png" in written
        else ["Scaling plot: fewer than two runs with a size and test results."]
    )
    path = os.path.join(out_dir, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(markdown.render(runs, written, notes))
    return Report(runs, out_dir, [path, *(os.path.join(out_dir, n) for n in written)], markdown.summary(runs[0]))


def _datasets(value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of dataset names")
    return names


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m distill.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="the run to report on (MODEL_DIR of training)")
    parser.add_argument("--baseline", help="evaluations of the starting model (a model dir or an EVAL_OUTPUT_DIR)")
    parser.add_argument("--more", nargs="+", default=[], metavar="DIR", help="other runs, for the scaling curve")
    parser.add_argument("--out", help="output folder (default MODEL_DIR/report)")
    defaults = Groups()
    parser.add_argument(
        "--id_datasets", type=_datasets, default=defaults.id_datasets, help="in-distribution datasets (gsm8k)"
    )
    parser.add_argument(
        "--ood_datasets",
        type=_datasets,
        default=defaults.ood_datasets,
        help=f"out-of-distribution datasets ({','.join(defaults.ood_datasets)})",
    )
    args = parser.parse_args(argv)
    try:
        args.groups = Groups(args.id_datasets, args.ood_datasets)
    except ValueError as err:
        parser.error(str(err))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = build_report(args.model_dir, args.baseline, args.more, args.out, args.groups)
    except ReportInputError as err:
        print(f"distill.report: {err}", file=sys.stderr)
        return 2
    print(report.summary)
    notes = sum(len(run.notes) for run in report.runs)
    print(f"\nReport: {report.files[0]} ({len(report.files) - 1} figures, {notes} notes)")
    return 0
