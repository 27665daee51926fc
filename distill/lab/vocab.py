"""The lab teacher's vocabulary: a small SentencePiece model trained on the lab's own corpus.

Why its own vocabulary: the teacher must tokenize differently from the byte-level student, so
that `distill.build` aligns real teacher tokens to student bytes, as a GPT teacher's BPE is
aligned to T5's pieces. Digits are split (`split_digits`), so every digit of a result is one teacher
piece and one student byte: that is where the teacher's distribution transfers. Ids follow T5:
pad 0, EOS 1, unk 2, no BOS (seqio's `SentencePieceVocabulary` expects that).
"""

from __future__ import annotations

import io
import os

import sentencepiece

from distill.data import examples, formats, general_suite, lab_problems
from distill.data.normalize import normalize_text

VOCAB_SIZE = 128  # at most; the corpus supports fewer (hard_vocab_limit off). <= the teacher gin's vocab_size
CORPUS_PER_DATASET = 2_000


def corpus() -> list[str]:
    """Normalized inputs and targets of every lab dataset's train split, as the models see them."""
    lines = []
    for dataset in lab_problems.FORMS:
        for fmt in formats.MATH_FORMATS:
            for example in examples.math_examples(dataset, "train", fmt)[:CORPUS_PER_DATASET]:
                lines += [example["inputs"], example["targets"]]
    for task, fmt in general_suite.task_formats():
        for example in general_suite.examples(task, fmt, "train")[:200]:
            lines += [normalize_text(example["inputs"]), normalize_text(example["targets"])]
    return lines


def train(path: str) -> str:
    """Writes the model to `path` (.model), deterministically; returns the path."""
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()),
        model_writer=model,
        vocab_size=VOCAB_SIZE,
        model_type="unigram",
        character_coverage=1.0,
        split_digits=True,
        hard_vocab_limit=False,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.getvalue())
    return path
