"""The tasks' output vocabulary: T5 SentencePiece (default) or bytes, chosen when data is built.

Why each piece:

* `T5Vocabulary` finds its model file only when first used: the data directory's verified
  `tokenizers/t5/spiece.model` plus T5X's 100 sentinels (32,100 ids), or, with no data directory
  configured, T5X's `gs://t5-data/vocabs/cc_all.32000.100extra/sentencepiece.model` (sentinels
  included). So `import tasks` works without data, and a missing file fails when data is read.
* It compares by content. seqio's `SentencePieceVocabulary.__eq__` compares file paths, so the
  same vocabulary under two paths (T5X's gs:// model vs a local spiece.model + `extra_ids=100`)
  would count as different. Here two vocabularies are equal iff their pieces, scores, types,
  normalizer and the trainer settings that affect encoding agree. Python gives a subclass's
  `__eq__` priority, so `model_vocabulary == task_vocabulary` uses this rule too, with the
  plain `seqio.SentencePieceVocabulary` of `gin/models/t5_1_1/base.gin`.
* It keeps one TF tokenizer for all datasets (see `tf_tokenizer`).
* The choice between T5, bytes and a SentencePiece model of one's own (`sentencepiece:PATH`, e.g.
  the lab teacher's) is `vocabulary_kind()`: the gin binding
  `vocabulary_kind.kind`, else `$COT_VOCABULARY`, else `"t5"`. Tasks read it through
  `VocabularyTask.output_features` each time they are used, so a gin binding parsed after
  `import tasks` (gin files import `tasks` first) still takes effect. `"byte"` gives
  `seqio.ByteVocabulary()`, equal to the ByT5 model gins' vocabulary, and needs no files.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import OrderedDict
from collections.abc import Mapping

import gin
import seqio
from sentencepiece import sentencepiece_model_pb2

from distill.data import data_dir

ENV_VAR = "COT_VOCABULARY"
KINDS = ("t5", "byte")
SENTENCEPIECE_PREFIX = "sentencepiece:"  # or "sentencepiece:/path/to/model": a SentencePiece model of one's own
T5_EXTRA_IDS = 100
T5X_DEFAULT_MODEL = "gs://t5-data/vocabs/cc_all.32000.100extra/sentencepiece.model"  # sentinels built in
DATA_DIR_MODEL = "tokenizers/t5/spiece.model"

# Trainer settings that change how text is encoded or decoded (the rest is training metadata).
_ENCODING_TRAINER_FIELDS = (
    "model_type",
    "byte_fallback",
    "treat_whitespace_as_suffix",
    "unk_surface",
    "unk_id",
    "bos_id",
    "eos_id",
    "pad_id",
)


@functools.lru_cache(maxsize=8)
def _fingerprint(sp_model: bytes) -> bytes:
    """sha256 of what determines ids and text: pieces, normalizers, encoding trainer settings."""
    model = sentencepiece_model_pb2.ModelProto.FromString(sp_model)
    kept = sentencepiece_model_pb2.ModelProto()
    kept.pieces.extend(model.pieces)
    kept.normalizer_spec.CopyFrom(model.normalizer_spec)
    kept.denormalizer_spec.CopyFrom(model.denormalizer_spec)
    for name in _ENCODING_TRAINER_FIELDS:
        setattr(kept.trainer_spec, name, getattr(model.trainer_spec, name))
    return hashlib.sha256(kept.SerializeToString(deterministic=True)).digest()


def default_t5_model() -> tuple[str, int]:
    """(model file, extra ids): the data directory's spiece.model + 100, else T5X's gs:// model + 0."""
    if data_dir.is_configured():
        return data_dir.data_file(DATA_DIR_MODEL), T5_EXTRA_IDS
    return T5X_DEFAULT_MODEL, 0


class T5Vocabulary(seqio.SentencePieceVocabulary):
    """A T5 SentencePiece vocabulary resolved on first use and compared by content."""

    def __init__(self, sentencepiece_model_file: str | None = None, extra_ids: int | None = None):
        super().__init__(sentencepiece_model_file or "", extra_ids or 0)
        self._requested = (sentencepiece_model_file, extra_ids)
        self._resolved = sentencepiece_model_file is not None
        self._tf_tokenizer = None

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_tf_tokenizer", None)  # a TF resource: rebuilt on demand
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._tf_tokenizer = None

    def _resolve(self) -> None:
        if self._resolved:
            return
        path, extra_ids = default_t5_model()
        self._sentencepiece_model_file = path
        if self._requested[1] is None:
            self._extra_ids = extra_ids
        self._resolved = True

    def _model_context(self):
        self._resolve()
        return super()._model_context()

    @property
    def tf_tokenizer(self):
        """One TF tokenizer, created eagerly and shared by every dataset.

        seqio builds a new one each time a dataset is traced, and each loads the 800 KB model into
        a fresh TF resource (~0.3 s per feature per dataset: ~30 s to start the 27-task BBH
        mixture). Created under `tf.init_scope()`, the resource belongs to no traced function,
        so every pipeline can capture it.
        """
        if self._tf_tokenizer is None:
            import tensorflow as tf

            with tf.init_scope():
                self._tf_tokenizer = super().tf_tokenizer
        return self._tf_tokenizer

    @property
    def sentencepiece_model_file(self) -> str:
        self._resolve()
        return self._sentencepiece_model_file

    @property
    def extra_ids(self) -> int:
        self._resolve()
        return self._extra_ids

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, seqio.SentencePieceVocabulary):
            return False
        return _fingerprint(self.sp_model) == _fingerprint(other.sp_model)

    __hash__ = None  # type: ignore[assignment]  # equality needs the model; as seqio's, unhashable

    def __repr__(self) -> str:
        if not self._resolved:
            return "T5Vocabulary(<model file found on first use>)"
        return f"T5Vocabulary({self._sentencepiece_model_file!r}, extra_ids={self._extra_ids})"


@gin.configurable
def vocabulary_kind(kind: str | None = None) -> str:
    """ "t5", "byte" or "sentencepiece:PATH": the gin binding, else $COT_VOCABULARY, else "t5"."""
    kind = kind or os.environ.get(ENV_VAR) or "t5"
    if kind not in KINDS and not (kind.startswith(SENTENCEPIECE_PREFIX) and len(kind) > len(SENTENCEPIECE_PREFIX)):
        raise ValueError(
            f"Unknown vocabulary kind {kind!r} (from gin or ${ENV_VAR}); "
            f"expected one of {KINDS} or {SENTENCEPIECE_PREFIX}/path/to/model"
        )
    return kind


T5_VOCABULARY = T5Vocabulary()
BYTE_VOCABULARY = seqio.ByteVocabulary()


@functools.cache
def _vocabulary(kind: str) -> seqio.Vocabulary:
    if kind == "t5":
        return T5_VOCABULARY
    if kind == "byte":
        return BYTE_VOCABULARY
    path = kind[len(SENTENCEPIECE_PREFIX) :]
    if not os.path.isfile(path):
        raise FileNotFoundError(f"vocabulary_kind {kind!r}: no SentencePiece model at {path}")
    return seqio.SentencePieceVocabulary(path)


def task_vocabulary() -> seqio.Vocabulary:
    """The vocabulary tasks tokenize with now."""
    return _vocabulary(vocabulary_kind())


@functools.cache
def _features(kind: str) -> Mapping[str, seqio.Feature]:
    vocab = _vocabulary(kind)
    return OrderedDict(
        (name, seqio.Feature(vocabulary=vocab, add_eos=True, required=True)) for name in ("inputs", "targets")
    )


def output_features() -> Mapping[str, seqio.Feature]:
    """inputs/targets features in the selected vocabulary (the same objects on every call)."""
    return _features(vocabulary_kind())


class VocabularyTask(seqio.Task):
    """A seqio Task whose output features follow `vocabulary_kind()` at the time of use."""

    @property
    def output_features(self) -> Mapping[str, seqio.Feature]:
        return output_features()
