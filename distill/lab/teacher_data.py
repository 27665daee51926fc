"""Stage 1's data, the way a user makes it: the teacher served over HTTP, sampled, filtered and aligned.

`distill.serve` serves the teacher checkpoint; `distill.generate` asks it, over the OpenAI
completions API with top-k log-probs, for several sampled chains per in-distribution training
question (temperature > 0, so some chains are wrong and the answer filter removes them);
`distill.build` keeps the correct ones and aligns the teacher's pieces to the student's bytes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from distill.data import formats, lab_problems
from distill.lab.runs import TEACHER, quoted

PROMPT_DEMOS = 1  # the teacher was trained on in-context CoT with LAB_DEMOS (1) demonstration


def write_prompt(path: str, dataset: str) -> str:
    """PROMPT_DEMOS CoT demonstrations from the end of `dataset`'s train split (never asked), as the teacher saw."""
    shots = lab_problems.problems(dataset, "train")[-PROMPT_DEMOS:]
    demos = [formats.Demo(p.question, p.rationale, p.answer) for p in shots]
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(formats.cot_demo(d) for d in demos).rstrip("\n") + "\n")
    return path


class TeacherServer:
    """`python -m distill.serve` on a free loopback port, for as long as the `with` block lasts."""

    def __init__(self, checkpoint_dir: str, vocab_file: str, log_path: str) -> None:
        self.argv = [
            sys.executable, "-m", "distill.serve", f"--gin_file={TEACHER}",
            f"--gin.LAB_TEACHER_VOCAB={quoted(vocab_file)}", "--gin.ACTIVATION_DTYPE=\"float32\"",
            f"--checkpoint={checkpoint_dir}", "--port=0", "--model_name=lab-teacher",
            "--input_length_buckets=128,256", "--decode_length_buckets=64", "--batch_buckets=8,32",
        ]  # fmt: skip
        self.log_path = log_path
        self.url = ""

    def __enter__(self) -> TeacherServer:
        print(f"[serve] $ {' '.join(self.argv)}", flush=True)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            match = re.search(r" at (http://\S+/v1)", line or "")
            if match:
                self.url = match.group(1)
                return self
            if self.proc.poll() is not None:
                break
        self.__exit__(None, None, None)
        raise RuntimeError(f"the teacher server did not start; see {self.log_path}")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def generate_argv(url: str, dataset: str, questions: int, prompt: str, samples: int, out: str) -> list[str]:
    """The first `questions` training questions of `dataset` (records name their dataset, so the
    build draws in-context demonstrations from its train split)."""
    return [
        sys.executable, "-m", "distill.generate", "--base-url", url, "--model", "lab-teacher",
        "--dataset", dataset, "--split", "train", "--limit", str(questions), "--prompt", prompt,
        "--samples", str(samples), "--temperature", "0.7",
        "--max-tokens", "64", "--top-logprobs", "5", "--concurrency", "8", "--out", out,
    ]  # fmt: skip


def build_argv(teacher_files: list[str], out: str, keep_incorrect: bool = False) -> list[str]:
    return [
        sys.executable, "-m", "distill.build", "--teacher", *teacher_files, "--out", out, "--vocab", "byte",
        "--top-k", "5", "--demos", str(PROMPT_DEMOS), "--workers", "1", "--no-progress",
        *(["--keep-incorrect"] if keep_incorrect else []),
    ]  # fmt: skip


def step(name: str, argv: list[str], log_dir: str) -> None:
    """Runs one command (printed first), its output to `log_dir/<name>.log`; raises naming the log if it fails."""
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(log_dir, f"{name}.log")
    print(f"[{name}] $ {' '.join(argv)}", flush=True)
    with open(log_path, "w") as log:
        code = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        with open(log_path) as log:
            raise RuntimeError(f"{name} failed (exit {code}); {log_path} ends:\n{log.read()[-3000:]}")


def make_records(
    teacher_dir: str, vocab_file: str, out_dir: str, questions: int, samples: int, keep_incorrect: bool = False
) -> str:
    """Serve -> generate -> build; returns the records directory (`keep_incorrect`: smoke runs' untrained teacher).

    `questions` are split evenly over the in-distribution forms, each asked with a demonstration of its own form.
    """
    os.makedirs(out_dir, exist_ok=True)
    logs = os.path.join(out_dir, "logs")
    os.makedirs(logs, exist_ok=True)
    per_form = -(-questions // len(lab_problems.ID_DATASETS))
    teacher_files = []
    with TeacherServer(teacher_dir, vocab_file, os.path.join(logs, "serve.log")) as server:
        for dataset in lab_problems.ID_DATASETS:
            prompt = write_prompt(os.path.join(out_dir, f"prompt-{dataset}.txt"), dataset)
            teacher_files.append(os.path.join(out_dir, f"teacher-{dataset}.jsonl"))
            argv = generate_argv(server.url, dataset, per_form, prompt, samples, teacher_files[-1])
            step(f"generate-{dataset}", argv, logs)
    records = os.path.join(out_dir, "records")
    step("build", build_argv(teacher_files, records, keep_incorrect), logs)
    return records
