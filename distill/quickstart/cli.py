"""The offline quickstart (`make demo`): the whole specialization pipeline on synthetic problems, on CPU.

    python -m distill.quickstart [--out out/demo] [--questions 1500] [--train-steps 200]

1. teacher:  the stand-in teacher (`distill.generate.stand_in`, plausible distributions) writes records in the
             generator's JSONL format for 2- and 3-step word problems, tokenized with GPT's
             p50k_base BPE (not the student's tokenizer), with top-5 log-probs;
2. build:    `python -m distill.build` filters them by answer, aligns the teacher's tokens to
             T5's SentencePiece pieces and writes the four formats as TFRecords;
3. train:    a mini T5 student learns the four-format mixture with distribution matching
             (`gin/models/t5_1_1/mini.gin` + `gin/experiments/quickstart.gin`), evaluated on
             held-out problems as it goes;
4. evaluate: the checkpoint selected on out-of-distribution validation (4- and 5-step
             problems), on held-out test problems of 2-5 steps, zero-shot and in-context;
5. report:   `distill.report` prints the table (selection, validation and test accuracy).

Each step is the command a user would run (printed before it runs), so the quickstart doubles as
a worked example. Reads three files of the data directory (the two tokenizers, and GSM8K's train file
whose validation questions `distill.build` keeps out of training data): those missing are fetched
first, into the default data directory if none is configured (`python -m distill.data download`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence

from distill.build.align.teacher_tokens import tiktoken_encoding
from distill.contracts import teacher_records
from distill.data import data_dir, download, word_problems
from distill.generate import stand_in
from distill.report.cli import build_report
from distill.report.runs import summarize_run
from distill.report.selection import Groups

TRAIN_STEPS_K = (2, 3)  # the teacher's problems; 4 and 5 steps are held out entirely
TEACHER_TOKENIZER = "tokenizers/gpt2/p50k_base.tiktoken"
TEACHER_OPTIONS = {"distributions": "plausible", "wrong_rate": 0.2}  # slips the answer filter removes
STUDENT_VOCABULARY = "tokenizers/t5/spiece.model"
DATA_FILES = (TEACHER_TOKENIZER, STUDENT_VOCABULARY, "gsm8k/train.jsonl")  # what the quickstart reads
MODEL_GIN = "gin/models/t5_1_1/mini.gin"
DEMOS = 2  # in-context demonstrations, in training and in evaluation (short inputs for a CPU)
EVAL_MIXTURE = "synthetic_cot"  # zero-shot and in-context CoT, 2-5 steps
EVAL_EXAMPLES = 100  # per task: 4 step counts x 2 formats


def run_step(step: str, argv: list[str]) -> None:
    print(f"\n[{step}] $ {shlex.join(argv)}", flush=True)
    start = time.monotonic()
    subprocess.run(argv, check=True)
    print(f"[{step}] done in {time.monotonic() - start:.0f} s", flush=True)


def write_teacher_records(path: str, questions: int, samples: int, seed: int) -> int:
    encoding = tiktoken_encoding(data_dir.data_file(TEACHER_TOKENIZER))
    if os.path.exists(path):
        os.remove(path)
    count = 0
    for k in TRAIN_STEPS_K:
        problems = word_problems.problems(k, "train")[:questions]
        records = list(
            stand_in.records(
                problems, encoding, samples=samples, seed=seed, **TEACHER_OPTIONS, dataset=f"synthetic_k{k}"
            )
        )
        teacher_records.append(path, records)
        count += len(records)
    return count


def prepare_records(out: str, questions: int, samples: int, seed: int) -> str:
    """Steps 1 and 2: the stand-in teacher's records and their distillation records; returns the records dir."""
    teacher_file, records_dir = os.path.join(out, "teacher.jsonl"), os.path.join(out, "records")
    print(f"[1/5 teacher] writing stand-in teacher records to {teacher_file}", flush=True)
    count = write_teacher_records(teacher_file, questions, samples, seed)
    print(f"[1/5 teacher] {count} samples", flush=True)
    vocab = data_dir.data_file(STUDENT_VOCABULARY)
    build = [sys.executable, "-m", "distill.build", "--teacher", teacher_file, "--out", records_dir, "--vocab", vocab]
    run_step("2/5 build", [*build, "--top-k", "5", "--method", "fast", "--demos", str(DEMOS)])
    return records_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/demo", help="working directory (replaced)")
    parser.add_argument("--questions", type=int, default=1500, help="teacher questions per step count")
    parser.add_argument("--samples", type=int, default=2, help="teacher samples per question")
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--eval-examples", type=int, default=EVAL_EXAMPLES, help="test problems per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-gin", default=MODEL_GIN, help="the student's model gin")
    args = parser.parse_args(argv)
    start = time.monotonic()
    out = os.path.abspath(args.out)
    records_dir, model_dir = os.path.join(out, "records"), os.path.join(out, "model")
    if os.path.exists(model_dir):
        raise SystemExit(f"{model_dir} exists; remove {out} (or pass another --out) to start afresh")
    os.makedirs(out, exist_ok=True)
    download.ensure(DATA_FILES, "quickstart", needs_dir=True)

    prepare_records(out, args.questions, args.samples, args.seed)
    python = sys.executable
    train = [python, "train_t5x.py", f"--gin_file={args.model_gin}", "--gin_file=gin/experiments/quickstart.gin"]
    run_step(
        "3/5 train",
        [
            *train,
            f'--gin.MODEL_DIR="{model_dir}"',
            f'--gin.RECORDS_DIR="{records_dir}"',
            f"--gin.TRAIN_STEPS={args.train_steps}",
            f"--gin.RANDOM_SEED={args.seed}",
        ],
    )
    groups = Groups(id_datasets=("synthetic_k2", "synthetic_k3"), ood_datasets=("synthetic_k4", "synthetic_k5"))
    step = summarize_run(model_dir, groups).selected or args.train_steps
    print(f"\n[4/5 evaluate] step {step}: the checkpoint OOD validation (4- and 5-step problems) selects", flush=True)
    evaluate = [python, "train_t5x.py", "--run_mode=eval", f"--gin_file={args.model_gin}"]
    run_step(
        "4/5 evaluate",
        [
            *evaluate,
            "--gin_file=gin/runs/eval.gin",
            f'--gin.CHECKPOINT_PATH="{model_dir}/checkpoint_{step}"',
            f'--gin.MIXTURE_OR_TASK_NAME="{EVAL_MIXTURE}"',
            f'--gin.EVAL_OUTPUT_DIR="{model_dir}/eval/checkpoint_{step}"',
            "--gin.TASK_FEATURE_LENGTHS={'inputs': 384, 'targets': 64}",  # one compiled shape for every task
            f"--gin.demo_settings.num_demos={DEMOS}",
            "--gin.BATCH_SIZE=64",
            f"--gin.seqio.Evaluator.num_examples={args.eval_examples}",
        ],
    )
    print("\n[5/5 report]", flush=True)
    report = build_report(model_dir, groups=groups)
    print(report.summary, flush=True)
    print(f"\nQuickstart finished in {time.monotonic() - start:.0f} s; report: {report.out_dir}", flush=True)
    return 0
