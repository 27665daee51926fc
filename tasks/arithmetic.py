"""Synthetic multi-step arithmetic: an offline seqio task for demos and tests (no data files).

`synthetic_arithmetic_bytes`: inputs like "12 + 7 - 5 = ?", targets with a worked chain
"12 + 7 = 19. 19 - 5 = 14. The answer is 14.", byte vocabulary. Each split is a fixed,
seeded list, so every run sees the same examples.
"""

from __future__ import annotations

import numpy as np
import seqio

SPLIT_SIZES = {"train": 20_000, "validation": 256, "test": 256}
_SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 2}


def arithmetic_example(rng: np.random.Generator) -> dict[str, str]:
    """A 2-3 step +/- problem over small non-negative numbers, with its worked solution."""
    value = int(rng.integers(1, 50))
    question, steps = [str(value)], []
    for _ in range(int(rng.integers(2, 4))):
        operand = int(rng.integers(1, 30))
        op = "-" if rng.random() < 0.5 and operand <= value else "+"
        result = value - operand if op == "-" else value + operand
        question.append(f"{op} {operand}")
        steps.append(f"{value} {op} {operand} = {result}.")
        value = result
    return {"inputs": " ".join(question) + " = ?", "targets": " ".join(steps) + f" The answer is {value}."}


def arithmetic_split(split: str) -> list[dict[str, str]]:
    rng = np.random.default_rng(_SPLIT_SEEDS[split])
    return [arithmetic_example(rng) for _ in range(SPLIT_SIZES[split])]


def _dataset_fn(split: str, shuffle_files: bool, seed: int | None = None):
    import tensorflow as tf

    del shuffle_files, seed
    examples = arithmetic_split(split)
    return tf.data.Dataset.from_tensor_slices(
        {key: [example[key] for example in examples] for key in ("inputs", "targets")}
    )


BYTE_FEATURES = {
    "inputs": seqio.Feature(seqio.ByteVocabulary(), add_eos=True),
    "targets": seqio.Feature(seqio.ByteVocabulary(), add_eos=True),
}

seqio.TaskRegistry.add(
    "synthetic_arithmetic_bytes",
    source=seqio.FunctionDataSource(_dataset_fn, splits=tuple(SPLIT_SIZES)),
    preprocessors=[
        seqio.preprocessors.tokenize,
        seqio.CacheDatasetPlaceholder(),
        seqio.preprocessors.append_eos_after_trim,
    ],
    output_features=BYTE_FEATURES,
    metric_fns=[],
)
