"""Distillation examples on disk: the contract between `distill.build` and the SeqIO tasks in `tasks/`.

A records directory holds, per data format (`zs_ao`, `zs_cot`, `ic_ao`, `ic_cot`), TFRecord shards
`{format}.tfrecord-{i:05d}-of-{n:05d}` of `tf.train.Example`s, and `manifest.json`, which
names the schema, the student vocabulary, K and the shards, so a reader needs no flags to
interpret the files.

Features of one example:

| feature | type | meaning |
| --- | --- | --- |
| `inputs_pretokenized`, `targets_pretokenized` | bytes | the normalized texts |
| `targets` | int64 list | student token ids of the target, without EOS (the task appends it) |
| `teacher_topk_ids` | int64 list | flattened [len(targets), K]: the teacher's top-K alternatives per student position |
| `teacher_topk_logprobs` | float list | flattened [len(targets), K]: their log-probabilities |
| `format`, `question_id` | bytes | data format and question id |
| `sample_id` | int64 | the teacher sample index (`-1` for a gold rationale) |
| `answer` | bytes | the gold answer, for evaluation metrics |

A position where the teacher transfers no probability has every log-prob at `NO_MASS`
(`-inf`) and ids 0: training falls back to the sampled token's NLL there (a one-hot teacher on
the target token is the same thing). Unused slots of a partly filled row are padded the same way.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np

from distill.contracts import durable

SCHEMA = "cot-specialize/distill-records/1"
MANIFEST = "manifest.json"
NO_MASS = float("-inf")
BYTE_VOCABULARY = "byte"  # the manifest's `vocabulary` for a byte-level student (else a SentencePiece file)
# Teacher features: per example on disk, and as the packed batch keys the loss reads ([batch, length, K]).
TEACHER_IDS = "teacher_topk_ids"
TEACHER_LOGPROBS = "teacher_topk_logprobs"
DECODER_TEACHER_IDS = "decoder_teacher_topk_ids"
DECODER_TEACHER_LOGPROBS = "decoder_teacher_topk_logprobs"
TEXT_FEATURES = ("inputs_pretokenized", "targets_pretokenized", "format", "question_id", "answer")


@dataclasses.dataclass
class DistillExample:
    """One training example; `teacher_ids` / `teacher_logprobs` are [len(targets), K] arrays."""

    inputs_pretokenized: str
    targets_pretokenized: str
    targets: np.ndarray
    teacher_ids: np.ndarray
    teacher_logprobs: np.ndarray
    format: str
    question_id: str
    sample_id: int
    answer: str

    def __post_init__(self) -> None:
        length = len(self.targets)
        if self.teacher_ids.shape != self.teacher_logprobs.shape or self.teacher_ids.shape[:1] != (length,):
            raise ValueError(
                f"{self.question_id}#{self.sample_id}: teacher arrays {self.teacher_ids.shape} / "
                f"{self.teacher_logprobs.shape} do not match {length} target tokens"
            )


def no_mass_rows(length: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Teacher arrays for `length` positions with nothing transferred (answer-only targets, gold rationales)."""
    return np.zeros((length, k), np.int64), np.full((length, k), NO_MASS, np.float32)


def serialize(example: DistillExample) -> bytes:
    """A `tf.train.Example` in the wire format (TensorFlow imported lazily: only builders and readers need it).

    Deterministic (map entries in key order), so the same example gives the same bytes in every
    process: a build's shards do not depend on hash seeds or worker count.
    """
    import tensorflow as tf

    def text(value: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))

    def ints(values: Any) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=np.asarray(values, np.int64).ravel()))

    features = {name: text(getattr(example, name)) for name in TEXT_FEATURES}
    features["targets"] = ints(example.targets)
    features[TEACHER_IDS] = ints(example.teacher_ids)
    features[TEACHER_LOGPROBS] = tf.train.Feature(
        float_list=tf.train.FloatList(value=np.asarray(example.teacher_logprobs, np.float32).ravel())
    )
    features["sample_id"] = ints([example.sample_id])
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString(deterministic=True)


def feature_description() -> dict[str, Any]:
    """The `tf.io.parse_single_example` spec (flat teacher lists; readers reshape them to [-1, K])."""
    import tensorflow as tf

    spec: dict[str, Any] = {name: tf.io.FixedLenFeature([], tf.string) for name in TEXT_FEATURES}
    spec["targets"] = tf.io.VarLenFeature(tf.int64)
    spec[TEACHER_IDS] = tf.io.VarLenFeature(tf.int64)
    spec[TEACHER_LOGPROBS] = tf.io.VarLenFeature(tf.float32)
    spec["sample_id"] = tf.io.FixedLenFeature([], tf.int64)
    return spec


def shard_name(fmt: str, index: int, count: int) -> str:
    return f"{fmt}.tfrecord-{index:05d}-of-{count:05d}"


def write_manifest(out_dir: str, manifest: dict[str, Any]) -> None:
    """Writes `manifest.json` last and atomically, so a directory with one is complete."""
    durable.write_json(os.path.join(out_dir, MANIFEST), {"schema": SCHEMA, **manifest}, sort_keys=True)


def read_manifest(records_dir: str) -> dict[str, Any]:
    """The manifest of a records directory, with a clear error when it is missing or of another schema.

    Required keys: `top_k` (int), `vocabulary` (path of the student SentencePiece model),
    `formats` ({format: {"examples": int, "files": [shard names]}}).
    """
    path = os.path.join(records_dir, MANIFEST)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no manifest; is {records_dir!r} the --out of a finished `distill.build`?")
    with open(path) as f:
        manifest = json.load(f)
    if manifest.get("schema") != SCHEMA:
        raise ValueError(f"{path}: field 'schema' is {manifest.get('schema')!r}; expected {SCHEMA!r}")
    for key in ("top_k", "vocabulary", "formats"):
        if key not in manifest:
            raise ValueError(f"{path}: missing field {key!r}")
    return manifest
