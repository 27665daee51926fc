"""The lab's starting models as small committed artifacts: stage 0, the teacher and its vocabulary.

    python -m distill.lab --out out/lab_artifacts --export artifacts/lab [--stage0-steps N] [--teacher-steps N]

Why: `make demo` must show specialization within 10 minutes on 2 CPU cores, which leaves no time
to train a general model and a teacher first. `--export` trains both as the lab does, then writes
them params only (no optimizer state) in bfloat16, which the engine restores into float32 models
(`checkpoints.load_params` reads any saved dtype), so both fit the repository's 20 MB budget:

    DIR/teacher_spm.model        the teacher's SentencePiece vocabulary (distill/lab/vocab.py)
    DIR/stage0/checkpoint_<N>    the general model
    DIR/teacher/checkpoint_<N>   the teacher

`--artifacts DIR` starts the lab (or the demo) from them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil

import ml_dtypes
import numpy as np

VOCAB_FILE = "teacher_spm.model"


@dataclasses.dataclass(frozen=True)
class Artifacts:
    stage0: str  # a checkpoint_<N> directory
    teacher: str
    vocab_file: str


def export_params(checkpoint: str, out_dir: str) -> str:
    """A params-only bfloat16 copy of `checkpoint` (a checkpoint_<N> dir) as `out_dir/checkpoint_<N>` (replaced)."""
    from distill.convert import orbax_params
    from distill.engine import checkpoints

    step = int(os.path.basename(os.path.normpath(checkpoint)).split("_")[-1])
    shutil.rmtree(out_dir, ignore_errors=True)
    leaves = checkpoints.open_params(checkpoint)
    params = ((name, np.asarray(leaf.read(), np.float32).astype(ml_dtypes.bfloat16)) for name, leaf in leaves.items())
    return orbax_params.write(out_dir, step, params)


def export(out_dir: str, trained: Artifacts) -> Artifacts:
    """Writes the trained stage 0, teacher and vocabulary to `out_dir`; returns their new paths."""
    os.makedirs(out_dir, exist_ok=True)
    vocab_file = os.path.join(out_dir, VOCAB_FILE)
    if os.path.abspath(trained.vocab_file) != os.path.abspath(vocab_file):
        shutil.copyfile(trained.vocab_file, vocab_file)
    stage0 = export_params(trained.stage0, os.path.join(out_dir, "stage0"))
    teacher = export_params(trained.teacher, os.path.join(out_dir, "teacher"))
    return Artifacts(stage0, teacher, vocab_file)


def find(directory: str) -> Artifacts:
    """The artifacts in `directory` (as `export` writes them), checked to exist."""

    def checkpoint(name: str) -> str:
        parent = os.path.join(directory, name)
        found = sorted(d for d in os.listdir(parent) if d.startswith("checkpoint_")) if os.path.isdir(parent) else []
        if len(found) != 1:
            raise FileNotFoundError(f"{parent}: expected one checkpoint_<N> (python -m distill.lab --export), {found}")
        return os.path.join(parent, found[0])

    vocab_file = os.path.join(directory, VOCAB_FILE)
    if not os.path.isfile(vocab_file):
        raise FileNotFoundError(f"{vocab_file}: no teacher vocabulary (python -m distill.lab --export)")
    return Artifacts(checkpoint("stage0"), checkpoint("teacher"), vocab_file)
