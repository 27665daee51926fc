"""`python -m distill.lab`: the specialization lab, every stage through the project's own commands.

    python -m distill.lab --out out/lab                 # the full lab (stage 0, teacher, all arms, 3 seeds)
    python -m distill.lab --out /tmp/lab --smoke        # every stage wired, a few steps each (CI)
    python -m distill.lab --out out/lab_artifacts --export artifacts/lab   # stage 0 + teacher, params only
    python -m distill.lab --out out/lab --artifacts artifacts/lab          # the lab from those
    python -m distill.lab --out out/demo --demo --artifacts artifacts/lab  # make demo (distill/lab/demo.py)

1. vocab:    the teacher's SentencePiece model, trained on the lab corpus (`distill.lab.vocab`);
2. stage 0:  a byte-level student learns the general suite (`lab_general`): the FlanT5 analog;
3. teacher:  a model with the lab vocabulary learns gold chains of the in-distribution forms;
4. records:  `distill.serve` serves the teacher, `distill.generate` samples it over HTTP with top-k
             log-probs, `distill.build --vocab byte` filters by answer and aligns to bytes;
5. arms:     stage 1 from stage 0 (`distill.lab.arms`), seeds 0..n-1, evaluated every N steps,
             side by side (`--lanes`, one run per core);
             `baseline` is stage 0 evaluated as it is;
6. results:  lab.json and lab.md (`distill.lab.results`).

Each stage prints the command it runs and logs to `--out/logs`; a stage whose output exists is
reused, so a stopped lab resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Sequence

from distill.lab import arms, artifacts, demo, figures, results, runs, teacher_data, vocab
from distill.lab.runs import STUDENT, Run, quoted


@dataclasses.dataclass(frozen=True)
class Scale:
    stage0_steps: int
    teacher_steps: int
    questions: int
    samples: int
    arm_steps: int
    eval_period: int
    eval_examples: int
    base_eval_period: int  # stage 0 and the teacher: evaluated rarely


# The records and 6 arms x 3 seeds, two arms at a time on 2 CPU cores. Measured in the third lab
# (docs/lab_run_v3): 0.755 s a step per lane and about 45 s an evaluation (43 tasks x 32 decodes, the
# encoder's work mostly), about 50 s to start a run, 5 min for the records. 480 steps evaluated 3 times
# (global steps 1,360, 1,520 and 1,680, the last) keep 9 rounds of two runs within the 90 minutes.
FULL = Scale(
    stage0_steps=1200,
    teacher_steps=1000,
    questions=2000,
    samples=2,
    arm_steps=480,
    eval_period=160,
    eval_examples=32,
    base_eval_period=500,
)
SMOKE = Scale(
    stage0_steps=4,
    teacher_steps=4,
    questions=8,
    samples=2,
    arm_steps=4,
    eval_period=2,
    eval_examples=4,
    base_eval_period=2,
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m distill.lab", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="the lab directory (resumable)")
    parser.add_argument("--smoke", action="store_true", help="a few steps per stage: wiring only")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per arm")
    parser.add_argument("--arms", default=",".join(a.name for a in arms.ARMS), help="comma-separated arms")
    parser.add_argument("--stage0", help="a stage-0 checkpoint to use instead of training one")
    parser.add_argument("--teacher", help="a teacher checkpoint to use instead of training one (with --vocab-file)")
    parser.add_argument("--vocab-file", help="the teacher's SentencePiece model (default: trained into --out)")
    parser.add_argument("--artifacts", help="start from exported stage 0, teacher and vocabulary (--export's DIR)")
    parser.add_argument("--export", metavar="DIR", help="train stage 0 and the teacher, write them to DIR, stop")
    parser.add_argument("--stage0-steps", type=int, help="stage-0 training steps (default: the scale's)")
    parser.add_argument("--teacher-steps", type=int, help="teacher training steps (default: the scale's)")
    parser.add_argument(
        "--lanes", type=int, default=len(os.sched_getaffinity(0)),
        help="stage-1 runs side by side, each on its own cores (default: one per core)",
    )  # fmt: skip
    parser.add_argument("--demo", action="store_true", help="make demo: specialize --artifacts' stage 0, one seed")
    args = parser.parse_args(argv)
    known = {a.name for a in arms.ARMS}
    args.arms = [a for a in args.arms.split(",") if a]
    if set(args.arms) - known:
        parser.error(f"--arms: unknown {sorted(set(args.arms) - known)}; choose from {sorted(known)}")
    if args.teacher and not args.vocab_file:
        parser.error("--teacher needs --vocab-file (the vocabulary it was trained with)")
    if args.demo and not args.artifacts:
        parser.error("--demo needs --artifacts (python -m distill.lab --export DIR writes them)")
    if args.artifacts:
        if args.stage0 or args.teacher or args.vocab_file or args.export:
            parser.error("--artifacts replaces --stage0, --teacher and --vocab-file (and cannot be exported again)")
        found = artifacts.find(args.artifacts)
        args.stage0, args.teacher, args.vocab_file = found.stage0, found.teacher, found.vocab_file
    return args


def scaled(job: Run, scale: Scale, eval_period: int | None = None) -> Run:
    """`job` with the scale's evaluation settings (`eval_period`: stage 0 and the teacher evaluate rarely)."""
    return dataclasses.replace(
        job,
        bindings={
            **job.bindings,
            "EVAL_PERIOD": str(eval_period or scale.eval_period),
            "seqio.Evaluator.num_examples": str(scale.eval_examples),
        },
    )


def latest_checkpoint(model_dir: str) -> str:
    steps = [int(n.split("_")[1]) for n in os.listdir(model_dir) if n.startswith("checkpoint_") and n[11:].isdigit()]
    return os.path.join(model_dir, f"checkpoint_{max(steps)}")


def trained(job: Run, model_dir: str, logs: str) -> str:
    """Trains `job` unless `model_dir` already holds its final checkpoint; returns that checkpoint."""
    if not runs.finished(model_dir):
        runs.run(job, logs)
    return latest_checkpoint(model_dir)


def baseline_eval(checkpoint: str, out_dir: str, scale: Scale, logs: str) -> str:
    """Stage 0 evaluated on `lab_eval`'s validation split, as every arm is during training."""
    if not os.path.isdir(out_dir):
        bindings = {
            "CHECKPOINT_PATH": quoted(checkpoint),
            "EVAL_OUTPUT_DIR": quoted(out_dir),
            "MIXTURE_OR_TASK_NAME": quoted("lab_eval"),
            "SPLIT": quoted("validation"),
            "seqio.Evaluator.num_examples": str(scale.eval_examples),
            "demo_settings.num_demos": str(teacher_data.PROMPT_DEMOS),  # as the arms' evaluation (distill.gin)
        }
        argv = Run("baseline", (STUDENT, "gin/runs/eval.gin"), bindings).argv()
        teacher_data.step("baseline", [*argv[:2], "--run_mode=eval", *argv[2:]], logs)
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.demo:
        scale_ = demo.SMOKE if args.smoke else demo.DEMO
        demo.run(args.out, args.artifacts, scale_, keep_incorrect=args.smoke)
        return 0
    scale = SMOKE if args.smoke else FULL
    steps = {"stage0_steps": args.stage0_steps, "teacher_steps": args.teacher_steps}
    scale = dataclasses.replace(scale, **{k: v for k, v in steps.items() if v is not None})
    out, start = os.path.abspath(args.out), time.monotonic()
    logs = os.path.join(out, "logs")
    os.makedirs(logs, exist_ok=True)
    vocab_file = args.vocab_file or os.path.join(out, "teacher_spm.model")
    if not os.path.exists(vocab_file):
        print(f"[vocab] training {vocab_file}", flush=True)
        vocab.train(vocab_file)
    stage0_dir, teacher_dir = os.path.join(out, "stage0"), os.path.join(out, "teacher")
    stage0_job = scaled(runs.stage0(stage0_dir, scale.stage0_steps), scale, scale.base_eval_period)
    stage0 = args.stage0 or trained(stage0_job, stage0_dir, logs)
    teacher_job = runs.teacher(teacher_dir, vocab_file, scale.teacher_steps)
    teacher = args.teacher or trained(scaled(teacher_job, scale, scale.base_eval_period), teacher_dir, logs)
    if args.export:
        exported = artifacts.export(args.export, artifacts.Artifacts(stage0, teacher, vocab_file))
        print(f"lab: exported {exported}", flush=True)
        return 0
    records = os.path.join(out, "data", "records")
    if not os.path.exists(os.path.join(records, "manifest.json")):
        data = os.path.join(out, "data")
        teacher_data.make_records(teacher, vocab_file, data, scale.questions, scale.samples, keep_incorrect=args.smoke)
    curves: dict[str, dict[int, results.Curves]] = {}
    base = baseline_eval(stage0, os.path.join(out, "baseline"), scale, logs)
    curves[arms.BASELINE] = {0: results.read_curves(base)}
    chosen = [(a, seed) for a in arms.ARMS if a.name in args.arms for seed in range(args.seeds)]
    model_dirs = {(a.name, seed): os.path.join(out, "arms", a.name, f"seed{seed}") for a, seed in chosen}
    jobs = []
    for a, seed in chosen:
        job = arms.run(a, model_dirs[a.name, seed], records, stage0, scale.arm_steps, scale.eval_period, seed)
        jobs.append((scaled(job, scale), model_dirs[a.name, seed]))
    runs.run_all(jobs, logs, args.lanes)
    for (name, seed), model_dir in model_dirs.items():
        curves.setdefault(name, {})[seed] = results.read_curves(os.path.join(model_dir, "inference_eval"))
    settings = {**dataclasses.asdict(scale), "seeds": args.seeds, "minutes": round((time.monotonic() - start) / 60, 1)}
    print(results.write(out, curves, settings), flush=True)
    first_seeds = {name: os.path.join(out, "arms", name, "seed0") for name in args.arms}
    figures.write_all(out, curves, first_seeds)
    print(f"lab: {out}/lab.md ({settings['minutes']} min)", flush=True)
    return 0
