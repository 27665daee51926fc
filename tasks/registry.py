"""SeqIO tasks and mixtures (registered on `import tasks`; nothing is read until a dataset is built).

Tasks:

* `{dataset}_{format}` for dataset in gsm8k, multiarith, asdiv, svamp, addsub, singleeq and format
  in zs_ao, zs_cot, ic_ao, ic_cot. GSM8K has train / validation / test, the others validation /
  test (sizes in `distill.data.splits`).
* `synthetic_k{k}_{format}` for k in 2..5: generated word problems with k steps, train /
  validation / test.
* `bbh_{task}_cot`, `bbh_{task}_ao` for the 27 BIG-Bench Hard tasks: split `test` (all examples).

Mixtures: `math_ood_{format}` (multiarith, asdiv, svamp, addsub, singleeq; validation / test),
`math_{format}` (GSM8K and those five: the evaluation set a specialization run tracks, in- and
out-of-distribution side by side), `synthetic_{format}` (k = 2..5), `synthetic_cot` (zero-shot
and in-context CoT, k = 2..5: the quickstart's test set),
`bbh_cot` and `bbh_ao` (the 27 tasks), all at equal rates (they are for evaluation).

Every task yields `inputs`, `targets` (tokenized), `inputs_pretokenized`, `targets_pretokenized`,
`id` and `answer`, in the vocabulary chosen by `tasks.vocabulary.vocabulary_kind()`. Metrics come
from `distill.data.answers`; its postprocessors see model outputs and references with the normalization's
character escapes undone (`distill.data.normalize.denormalize_text`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import seqio

from distill.data import answers, bbh_answers, examples, sources, splits, word_problems
from distill.data.formats import BBH_FORMATS, MATH_FORMATS
from distill.data.normalize import denormalize_text
from tasks import vocabulary

PREPROCESSORS = (
    seqio.preprocessors.tokenize,
    seqio.CacheDatasetPlaceholder(),
    seqio.preprocessors.append_eos_after_trim,
)
SYNTHETIC_DATASETS = tuple(f"synthetic_k{k}" for k in word_problems.STEP_COUNTS)


def tf_dataset(rows: tuple[dict[str, str], ...]):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices({key: [row[key] for row in rows] for key in examples.FIELDS})


def math_dataset_fn(dataset: str, fmt: str) -> Callable:
    def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None):
        del shuffle_files, seed  # seqio shuffles examples after preprocessing
        return tf_dataset(examples.math_examples(dataset, split, fmt))

    return dataset_fn


def _bbh_dataset_fn(task: str, fmt: str) -> Callable:
    def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None):
        del shuffle_files, seed
        if split != "test":
            raise ValueError(f"BBH tasks have only a 'test' split, not {split!r}")
        return tf_dataset(examples.bbh_examples(task, fmt))

    return dataset_fn


def denormalized(postprocess_fn: Callable[..., str]) -> Callable[..., str]:
    """`postprocess_fn` applied to text with `normalize_text`'s character escapes undone."""

    @functools.wraps(postprocess_fn)
    def postprocess(output: str | bytes, example: dict | None = None, is_target: bool = False) -> str:
        return postprocess_fn(denormalize_text(output), example=example, is_target=is_target)

    return postprocess


def add_task(name: str, dataset_fn: Callable, task_splits: tuple[str, ...], postprocess_fn, metric_fn) -> None:
    if name in seqio.TaskRegistry.names():
        return  # re-import (e.g. importlib.reload) keeps the first registration
    seqio.TaskRegistry.add(
        name,
        source=seqio.FunctionDataSource(dataset_fn, splits=task_splits),
        preprocessors=list(PREPROCESSORS),
        output_features=vocabulary.output_features(),
        postprocess_fn=postprocess_fn,
        metric_fns=[metric_fn],
        task_cls=vocabulary.VocabularyTask,
    )


def add_mixture(name: str, task_names: list) -> None:
    """`task_names`: names (rate 1) or (name, rate) pairs."""
    if name not in seqio.MixtureRegistry.names():
        seqio.MixtureRegistry.add(name, task_names, default_rate=1.0)


def math_task_names() -> list[str]:
    datasets = (*sources.MATH_DATASETS, *SYNTHETIC_DATASETS)
    return [f"{dataset}_{fmt}" for dataset in datasets for fmt in MATH_FORMATS]


def bbh_task_names() -> list[str]:
    return [f"bbh_{task}_{fmt}" for task in sources.BBH_TASKS for fmt in BBH_FORMATS]


def mixture_names() -> list[str]:
    math = [f"{prefix}_{fmt}" for prefix in ("math_ood", "math", "synthetic") for fmt in MATH_FORMATS]
    return [*math, "synthetic_cot"] + [f"bbh_{fmt}" for fmt in BBH_FORMATS]


def register() -> None:
    """Registers every task and mixture above (idempotent)."""
    math_postprocess = denormalized(answers.math_postprocessor)
    for dataset in (*sources.MATH_DATASETS, *SYNTHETIC_DATASETS):
        task_splits = splits.GSM8K_SPLITS if dataset == "gsm8k" or dataset in SYNTHETIC_DATASETS else splits.OOD_SPLITS
        for fmt in MATH_FORMATS:
            fn = math_dataset_fn(dataset, fmt)
            add_task(f"{dataset}_{fmt}", fn, task_splits, math_postprocess, answers.math_accuracy)
    for task in sources.BBH_TASKS:
        postprocess = denormalized(bbh_answers.bbh_postprocessor(task))
        for fmt in BBH_FORMATS:
            add_task(f"bbh_{task}_{fmt}", _bbh_dataset_fn(task, fmt), ("test",), postprocess, bbh_answers.bbh_accuracy)
    for fmt in MATH_FORMATS:
        add_mixture(f"math_ood_{fmt}", [f"{dataset}_{fmt}" for dataset in sources.OOD_DATASETS])
        add_mixture(f"math_{fmt}", [f"{dataset}_{fmt}" for dataset in sources.MATH_DATASETS])
        add_mixture(f"synthetic_{fmt}", [f"{dataset}_{fmt}" for dataset in SYNTHETIC_DATASETS])
    add_mixture("synthetic_cot", [f"{d}_{fmt}" for d in SYNTHETIC_DATASETS for fmt in ("zs_cot", "ic_cot")])
    for fmt in BBH_FORMATS:
        add_mixture(f"bbh_{fmt}", [f"bbh_{task}_{fmt}" for task in sources.BBH_TASKS])
