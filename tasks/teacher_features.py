"""Teacher top-k features through seqio, kept aligned with `targets`: task preprocessors and a feature converter.

A distillation example carries, per target position, the teacher's K alternatives
(`teacher_topk_ids`, `teacher_topk_logprobs`, [len(targets), K]; `distill/contracts/distill_examples.py`). Every
step that changes `targets` must change them the same way, or the loss matches the student
against the teacher's distribution for another token:

* `parse_records` (before the cache point) turns a parsed record into task features: tokenized
  `inputs`, int32 `targets` and the teacher rows reshaped to [len, K], checking that there is one
  row per target token.
* `align_teacher_to_targets` (after seqio's `append_eos_after_trim`) trims the rows the way the
  targets were trimmed and adds a no-mass row for the EOS, so EOS is a one-hot target (NLL), as in
  the paper.
* `DistillationFeatureConverter` is `seqio.EncDecFeatureConverter` plus
  `decoder_teacher_topk_ids` / `decoder_teacher_topk_logprobs`, [L, K] per row, packed or not,
  and `decoder_format_ids` ([L], each target token's format code; `distill.contracts.format_ids`)
  when the task tags its tokens with `format_ids`.

Why the converter encodes before packing: seqio's packer handles only rank-1 int32 features
and takes the count of non-zero entries as a feature's length, and `pack=True` refuses
pass-through features. So the teacher rows are flattened to [len * K] and made packable
without loss of information: ids are stored + 1 (id 0 is a real id), and log-probs as the int32
bit pattern of their float32 value (+0.0 is the only float whose bits are all zero, so 0.0 is
written as -0.0). The flat length is K times the target length, so seqio's greedy packer
makes the same decision for both features and for `targets`; after packing (or padding) the
rows are decoded and reshaped to [L, K]. Padding positions get id 0 and `NO_MASS` (-inf). A
dataset without teacher features (an evaluation task) converts exactly as with
`EncDecFeatureConverter`, so one model config trains on distillation data and evaluates on
plain tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import seqio
import tensorflow as tf

from distill.contracts.distill_examples import (
    DECODER_TEACHER_IDS,
    DECODER_TEACHER_LOGPROBS,
    NO_MASS,
    TEACHER_IDS,
    TEACHER_LOGPROBS,
    TEXT_FEATURES,
)
from distill.contracts.format_ids import DECODER_FORMAT_IDS, FORMAT_IDS

_DECODER_TEACHER = {TEACHER_IDS: DECODER_TEACHER_IDS, TEACHER_LOGPROBS: DECODER_TEACHER_LOGPROBS}

# Token features that are not text: seqio needs a vocabulary object but never encodes with it here.
_NOT_TEXT = seqio.PassThroughVocabulary(size=0)
TEACHER_OUTPUT_FEATURES = {
    TEACHER_IDS: seqio.Feature(_NOT_TEXT, add_eos=False, dtype=tf.int32, rank=2),
    TEACHER_LOGPROBS: seqio.Feature(_NOT_TEXT, add_eos=False, dtype=tf.float32, rank=2),
}
FORMAT_ID_FEATURE = seqio.Feature(_NOT_TEXT, add_eos=False, dtype=tf.int32)


@seqio.map_over_dataset
def parse_records(
    features: Mapping[str, Any], output_features: Mapping[str, seqio.Feature], top_k: int
) -> dict[str, tf.Tensor]:
    """A parsed `distill_examples` example -> `inputs`, `targets`, [len, K] teacher rows (plus its text fields)."""
    targets = tf.cast(tf.sparse.to_dense(features["targets"]), tf.int32)
    ids = tf.cast(tf.sparse.to_dense(features[TEACHER_IDS]), tf.int32)
    logprobs = tf.sparse.to_dense(features[TEACHER_LOGPROBS], default_value=NO_MASS)
    rows = tf.size(targets) * top_k
    checks = [
        tf.debugging.Assert(
            tf.equal(tf.size(value), rows),
            [
                f"distillation record: {key} is not [len(targets), K={top_k}]; question_id",
                features["question_id"],
                "sample_id",
                features["sample_id"],
            ],
        )
        for key, value in ((TEACHER_IDS, ids), (TEACHER_LOGPROBS, logprobs))
    ]
    with tf.control_dependencies(checks):
        out = {name: features[name] for name in (*TEXT_FEATURES, "sample_id")}
        out["inputs"] = output_features["inputs"].vocabulary.encode_tf(features["inputs_pretokenized"])
        out["targets"] = targets
        out[TEACHER_IDS] = tf.reshape(ids, [-1, top_k])
        out[TEACHER_LOGPROBS] = tf.reshape(logprobs, [-1, top_k])
    return out


@seqio.map_over_dataset
def align_teacher_to_targets(features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """After `append_eos_after_trim`: keep the rows of the kept target tokens, then a no-mass row for EOS."""
    kept = tf.shape(features["targets"])[0] - 1
    ids, logprobs = features[TEACHER_IDS], features[TEACHER_LOGPROBS]
    eos_row = [1, tf.shape(ids)[1]]
    return {
        **features,
        TEACHER_IDS: tf.concat([ids[:kept], tf.zeros(eos_row, ids.dtype)], 0),
        TEACHER_LOGPROBS: tf.concat([logprobs[:kept], tf.fill(eos_row, tf.constant(NO_MASS, logprobs.dtype))], 0),
    }


def teacher_top_k(element_spec: Mapping[str, tf.TensorSpec]) -> int | None:
    """K of a dataset's teacher features, or None when it has none (e.g. an evaluation task)."""
    present = [key for key in (TEACHER_IDS, TEACHER_LOGPROBS) if key in element_spec]
    if not present:
        return None
    if len(present) == 1:
        raise ValueError(f"The dataset has {present[0]} but not its partner: both teacher features are needed.")
    shape = element_spec[TEACHER_IDS].shape
    if shape.rank != 2 or shape[1] is None or element_spec[TEACHER_LOGPROBS].shape != shape:
        raise ValueError(
            f"Teacher features must be [len, K] with a static K, got {shape} and {element_spec[TEACHER_LOGPROBS].shape}"
        )
    return int(shape[1])


@seqio.map_over_dataset
def no_teacher_mass(features: Mapping[str, tf.Tensor], top_k: int) -> dict[str, tf.Tensor]:
    """Teacher rows with nothing to transfer ([len(targets), K]: id 0, `NO_MASS`) for a plain task's example.

    Such an example (a replay of general tasks beside the distillation records) then trains by
    NLL on its targets, as the EOS row of a record does. Apply it after the targets are final
    (after `append_eos_after_trim`).
    """
    length = tf.shape(features["targets"])[0]
    return {
        **features,
        TEACHER_IDS: tf.zeros([length, top_k], tf.int32),
        TEACHER_LOGPROBS: tf.fill([length, top_k], tf.constant(NO_MASS, tf.float32)),
    }


def _encode(features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Teacher rows -> flat int32 features that seqio can pack or pad (every real entry non-zero)."""
    check = tf.debugging.assert_equal(
        tf.shape(features[TEACHER_IDS])[0],
        tf.shape(features["targets"])[0],
        message="teacher features are not aligned with targets (one row per target token expected)",
    )
    with tf.control_dependencies([check]):
        ids = tf.reshape(features[TEACHER_IDS] + 1, [-1])
    logprobs = features[TEACHER_LOGPROBS]
    logprobs = tf.where(logprobs == 0.0, tf.constant(-0.0, tf.float32), logprobs)
    return {**features, TEACHER_IDS: ids, TEACHER_LOGPROBS: tf.reshape(tf.bitcast(logprobs, tf.int32), [-1])}


class DistillationFeatureConverter(seqio.EncDecFeatureConverter):
    """`EncDecFeatureConverter` that also emits the teacher rows and format ids aligned with `decoder_target_tokens`.

    Task feature lengths are the usual `{'inputs', 'targets'}`; the teacher features and the
    format ids take the targets' length. K, and whether the tokens carry format ids, are read from
    the dataset on each call.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._top_k: int | None = None
        self._format_ids = False
        super().__init__(*args, **kwargs)

    @property
    def MODEL_FEATURES(self) -> dict[str, seqio.FeatureConverter.FeatureSpec]:  # noqa: N802 - seqio's name.
        features = dict(seqio.EncDecFeatureConverter.MODEL_FEATURES)
        if self._top_k:  # Flat int32 encodings while seqio validates them; decoded in __call__.
            features.update({name: self.FeatureSpec(dtype=tf.int32) for name in _DECODER_TEACHER.values()})
        if self._format_ids:
            features[DECODER_FORMAT_IDS] = self.FeatureSpec(dtype=tf.int32)
        return features

    def __call__(self, ds: tf.data.Dataset, task_feature_lengths: Mapping[str, int]) -> tf.data.Dataset:
        self._top_k = teacher_top_k(ds.element_spec)
        self._format_ids = FORMAT_IDS in ds.element_spec
        ds = super().__call__(ds, task_feature_lengths)
        if not self._top_k:
            return ds
        return ds.map(self._decode, num_parallel_calls=tf.data.AUTOTUNE)

    def _extra_lengths(self, task_feature_lengths: Mapping[str, int]) -> dict[str, int]:
        """Task features packed beside `targets`, by task feature name, with their packed lengths."""
        targets = task_feature_lengths["targets"]
        lengths = {TEACHER_IDS: targets * self._top_k, TEACHER_LOGPROBS: targets * self._top_k} if self._top_k else {}
        return {**lengths, FORMAT_IDS: targets} if self._format_ids else lengths

    def _convert_features(self, ds: tf.data.Dataset, task_feature_lengths: Mapping[str, int]) -> tf.data.Dataset:
        extra = self._extra_lengths(task_feature_lengths)
        if not extra:
            return super()._convert_features(ds, task_feature_lengths)
        if self._top_k:
            ds = ds.map(_encode, num_parallel_calls=tf.data.AUTOTUNE)
        ds = self._pack_or_pad(ds, {**task_feature_lengths, **extra})
        return ds.map(self._convert_example, num_parallel_calls=tf.data.AUTOTUNE)

    def _convert_example(self, features: Mapping[str, tf.Tensor]) -> Mapping[str, tf.Tensor]:
        converted = dict(super()._convert_example(features))
        if self._top_k:
            converted.update({out: features[key] for key, out in _DECODER_TEACHER.items()})
        if self._format_ids:
            converted[DECODER_FORMAT_IDS] = features[FORMAT_IDS]
        return converted

    def get_model_feature_lengths(self, task_feature_lengths: Mapping[str, int]) -> Mapping[str, int]:
        lengths = dict(super().get_model_feature_lengths(task_feature_lengths))
        names = {**_DECODER_TEACHER, FORMAT_IDS: DECODER_FORMAT_IDS}
        lengths.update({names[key]: length for key, length in self._extra_lengths(task_feature_lengths).items()})
        return lengths

    def _decode(self, features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Flat encodings -> [L, K] ids and log-probs; padding -> id 0, NO_MASS."""
        stored = tf.reshape(features[DECODER_TEACHER_IDS], [-1, self._top_k])
        real = stored > 0
        bits = tf.reshape(features[DECODER_TEACHER_LOGPROBS], [-1, self._top_k])
        return {
            **features,
            DECODER_TEACHER_IDS: tf.where(real, stored - 1, 0),
            DECODER_TEACHER_LOGPROBS: tf.where(real, tf.bitcast(bits, tf.float32), NO_MASS),
        }
