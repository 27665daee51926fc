"""The lab's training runs, each the `train_t5x.py` command a user would type (printed before it runs).

Stage 0 trains the general student on the general suite; the teacher trains on gold chains of the
in-distribution form with its own vocabulary; stage-1 arms train from stage 0 (or from scratch)
on distillation records or answer-only data, evaluated every `eval_period` steps on `lab_eval`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import shlex
import subprocess
import sys
import time

STUDENT = "gin/experiments/lab/student.gin"
TEACHER = "gin/experiments/lab/teacher.gin"
TRAIN = "gin/experiments/lab/train.gin"
DISTILL = "gin/experiments/lab/distill.gin"
REPLAY = "gin/experiments/lab/replay.gin"
# Measured maxima: general-suite inputs fit 176 bytes (in-context one-step arithmetic in the words
# style) and targets 12; the teacher's in-context CoT inputs (1 demonstration, LAB_DEMOS) of the
# in-distribution forms are at most 159 lab pieces and its chains 49. Stage 0 packs (most
# general-suite examples fill a fifth of a row), into 32-byte target rows so that several answers share one.
STAGE0_LENGTHS = "{'inputs': 176, 'targets': 32}"
TEACHER_LENGTHS = "{'inputs': 160, 'targets': 56}"


@dataclasses.dataclass(frozen=True)
class Run:
    """One `train_t5x.py` invocation: gin files and `--gin.X=value` bindings (values as gin literals)."""

    name: str
    gin_files: tuple[str, ...]
    bindings: dict[str, str]

    def argv(self) -> list[str]:
        flags = [f"--gin_file={f}" for f in self.gin_files]
        flags += [f"--gin.{k}={v}" for k, v in self.bindings.items()]
        return [sys.executable, "train_t5x.py", *flags]


def quoted(value: str) -> str:
    """A gin string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stage0(model_dir: str, steps: int, seed: int = 0) -> Run:
    bindings = {
        "MODEL_DIR": quoted(model_dir),
        "MIXTURE_OR_TASK_NAME": quoted("lab_general"),
        "TASK_FEATURE_LENGTHS": STAGE0_LENGTHS,
        "PACK": "True",
        "TRAIN_STEPS": str(steps),
        "RANDOM_SEED": str(seed),
    }
    return Run("stage0", (STUDENT, TRAIN), bindings)


def teacher(model_dir: str, vocab_file: str, steps: int, seed: int = 0) -> Run:
    bindings = {
        "MODEL_DIR": quoted(model_dir),
        "MIXTURE_OR_TASK_NAME": quoted("lab_id_cot"),
        "TASK_FEATURE_LENGTHS": TEACHER_LENGTHS,
        "TRAIN_STEPS": str(steps),
        "RANDOM_SEED": str(seed),
        "LAB_TEACHER_VOCAB": quoted(vocab_file),
        "BATCH_SIZE": "16",
        "vocabulary.vocabulary_kind.kind": quoted(f"sentencepiece:{vocab_file}"),
    }
    return Run("teacher", (TEACHER, TRAIN), bindings)


def run(job: Run, log_dir: str, cpus: frozenset[int] | None = None) -> float:
    """Runs `job` (output to `log_dir/<name>.log`), raising with the log's tail if it fails; returns seconds.

    `cpus`: the cores it may use (Linux), so that runs side by side do not share one.
    """
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(log_dir, f"{job.name}.log")
    pinned = f" (cores {sorted(cpus)})" if cpus else ""
    print(f"[{job.name}] $ {shlex.join(job.argv())}{pinned}", flush=True)
    start = time.monotonic()
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    with open(log_path, "w") as log:
        proc = subprocess.run(job.argv(), stdout=log, stderr=subprocess.STDOUT, check=False, preexec_fn=pin)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        with open(log_path) as log:
            tail = log.read()[-3000:]
        raise RuntimeError(f"{job.name} failed (exit {proc.returncode}); {log_path} ends:\n{tail}")
    print(f"[{job.name}] done in {seconds:.0f} s (log: {log_path})", flush=True)
    return seconds


def lanes(count: int) -> list[frozenset[int]]:
    """The usable cores split into `count` disjoint sets (one per lane of runs side by side).

    Why: the lab's models are small, so a run's matrix products use one core nearly as well as
    two; measured here, two arms pinned to a core each ran at 0.63 s/step each, one arm on both
    cores at 0.56-0.76: side by side, about twice the runs per hour.
    """
    cores = sorted(os.sched_getaffinity(0))
    count = max(1, min(count, len(cores)))
    return [frozenset(cores[i::count]) for i in range(count)]


def run_all(jobs: list[tuple[Run, str]], log_dir: str, lane_count: int) -> None:
    """Runs each (job, model_dir) not `finished`, `lane_count` at a time, each lane on its own cores."""
    pending = [job for job, model_dir in jobs if not finished(model_dir)]
    if lane_count <= 1:
        for job in pending:
            run(job, log_dir)
        return
    queue, cpu_sets = iter(pending), lanes(lane_count)

    def lane(cpus: frozenset[int]) -> None:
        # A list iterator's next() is one call under the GIL: two lanes never take the same job,
        # where checking a list and then popping it could race for the last one.
        for job in iter(lambda: next(queue, None), None):
            run(job, log_dir, cpus)

    with concurrent.futures.ThreadPoolExecutor(len(cpu_sets)) as pool:
        for future in [pool.submit(lane, cpus) for cpus in cpu_sets]:
            future.result()


def finished(model_dir: str) -> bool:
    """Whether `model_dir` holds a run's record and a checkpoint (a stopped lab resumes after it)."""
    return os.path.exists(os.path.join(model_dir, "run.json")) and any(
        n.startswith("checkpoint_") for n in os.listdir(model_dir)
    )
