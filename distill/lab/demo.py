"""`make demo`: the committed stage-0 general model specialized through the real pipeline, one seed, in minutes.

    python -m distill.lab --demo --artifacts artifacts/lab --out out/demo

The committed teacher is served (`distill.serve`) and sampled over HTTP with top-k log-probs
(`distill.generate`); `distill.build` filters its chains by answer and aligns its pieces to the
student's bytes; the committed stage-0 model trains on them with the paper's recipe (the lab's
`recipe` arm through `train_t5x.py`), evaluated on the out-of-distribution forms before training
and every EVAL_PERIOD steps (`lab_ood_cot`: the forms never trained on, zero-shot and
in-context CoT); `distill.report` draws the curve. The last line compares OOD accuracy before
specialization with the step OOD validation selects.
"""

from __future__ import annotations

import dataclasses
import os
import time

from distill.data import download
from distill.lab import arms, artifacts, figures, results, runs, teacher_data


@dataclasses.dataclass(frozen=True)
class DemoScale:
    questions: int
    samples: int
    steps: int
    eval_period: int
    eval_examples: int


DEMO = DemoScale(questions=800, samples=2, steps=600, eval_period=100, eval_examples=32)
SMOKE = DemoScale(questions=4, samples=1, steps=2, eval_period=2, eval_examples=2)
EVAL_MIXTURE = "lab_ood_cot"
EVAL_BEFORE = "gin/experiments/lab/eval_before.gin"
# The data files the demo reads, and only when a data directory is configured: `distill.build` then drops
# GSM8K's validation questions from training data. The demo's questions are generated and its
# vocabularies committed (artifacts/lab), so without a data directory it reads no data file.
DATA_FILES = ("gsm8k/train.jsonl",)


def last_line(curves: results.Curves) -> str:
    """The demo's verdict: OOD accuracy before training and at the OOD-selected step (steps counted from the start).

    The run continues stage 0's step count, so its first evaluation (before training) is at stage
    0's last step; the selected step is printed relative to it.
    """
    row = results.summary(curves)
    start = min(curves["ood"])
    return (
        f"demo: OOD multi-step accuracy {curves['ood'][start]:.1f}% before specialization, "
        f"{row['ood']:.1f}% after (step {int(row['ood_step']) - start})"
    )


def run(out: str, artifact_dir: str, scale: DemoScale, keep_incorrect: bool = False) -> str:
    """Runs the demo into `out`; returns (and prints) its last line."""
    start, out = time.monotonic(), os.path.abspath(out)
    download.ensure(DATA_FILES, "demo")
    found = artifacts.find(artifact_dir)
    data = os.path.join(out, "data")
    records = teacher_data.make_records(
        found.teacher, found.vocab_file, data, scale.questions, scale.samples, keep_incorrect
    )
    recipe = next(arm for arm in arms.ARMS if arm.name == "recipe")
    model_dir = os.path.join(out, "recipe")
    job = arms.run(recipe, model_dir, records, found.stage0, scale.steps, scale.eval_period, seed=0)
    job = dataclasses.replace(job, gin_files=(*job.gin_files, EVAL_BEFORE))
    job.bindings.update(
        {
            "EVAL_MIXTURE_OR_TASK_NAME": runs.quoted(EVAL_MIXTURE),
            "seqio.Evaluator.num_examples": str(scale.eval_examples),
        }
    )
    runs.run(job, os.path.join(out, "logs"))
    curves = results.read_curves(os.path.join(model_dir, "inference_eval"))
    plot = figures.curves_figure(model_dir, os.path.join(out, "curves.png"), "demo: the paper's recipe")
    print(f"\nDemo finished in {time.monotonic() - start:.0f} s; accuracy versus step: {plot}", flush=True)
    line = last_line(curves)
    print(line, flush=True)
    return line
