"""The datasets as read from the data directory: which file each comes from, verified and cached.

Why a module of its own: the loaders are pure functions of a path; this is the one place that maps
dataset names to files in the data directory (checking their sha256 through `data_dir.data_file`)
and keeps the parsed records, so each file is read once per process and only when a dataset is
actually built (never at `import tasks`).
"""

from __future__ import annotations

import functools
import os

from distill.data import data_dir, loaders
from distill.data.loaders import BBHExample, BBHPrompt, MathProblem

MATH_DATASETS = ("gsm8k", "multiarith", "asdiv", "svamp", "addsub", "singleeq")
OOD_DATASETS = ("multiarith", "asdiv", "svamp", "addsub", "singleeq")

MATH_FILES = {
    "gsm8k_train": "gsm8k/train.jsonl",
    "gsm8k_test": "gsm8k/test.jsonl",
    "multiarith": "multiarith/MultiArith.json",
    "addsub": "addsub/AddSub.json",
    "singleeq": "singleeq/questions.json",
    "svamp": "svamp/SVAMP.json",
    "asdiv": "asdiv/asdiv_2096_pal.jsonl",
}

# The 27 BIG-Bench Hard tasks (Suzgun et al. 2022), as named by their files.
BBH_TASKS = (
    "boolean_expressions",
    "causal_judgement",
    "date_understanding",
    "disambiguation_qa",
    "dyck_languages",
    "formal_fallacies",
    "geometric_shapes",
    "hyperbaton",
    "logical_deduction_five_objects",
    "logical_deduction_seven_objects",
    "logical_deduction_three_objects",
    "movie_recommendation",
    "multistep_arithmetic_two",
    "navigate",
    "object_counting",
    "penguins_in_a_table",
    "reasoning_about_colored_objects",
    "ruin_names",
    "salient_translation_error_detection",
    "snarks",
    "sports_understanding",
    "temporal_sequences",
    "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects",
    "tracking_shuffled_objects_three_objects",
    "web_of_lies",
    "word_sorting",
)


def _cache_key() -> str:
    """Cached reads are per data directory, so pointing elsewhere (e.g. in tests) reads again."""
    return data_dir.data_dir()


@functools.cache
def _math_file(name: str, directory: str) -> tuple[MathProblem, ...]:
    del directory
    path = data_dir.data_file(MATH_FILES[name])
    if name.startswith("gsm8k_"):
        return tuple(loaders.read_gsm8k(path, name.removeprefix("gsm8k_")))
    if name == "svamp":
        return tuple(loaders.read_svamp(path))
    if name == "asdiv":
        return tuple(loaders.read_asdiv(path))
    return tuple(loaders.read_mawps(path, name))


def gsm8k(split: str) -> tuple[MathProblem, ...]:
    """GSM8K's official `train` (7,473) or `test` (1,319) file."""
    if split not in ("train", "test"):
        raise ValueError(f"GSM8K files are 'train' and 'test', not {split!r}")
    return _math_file(f"gsm8k_{split}", _cache_key())


def ood(dataset: str) -> tuple[MathProblem, ...]:
    """All problems of an out-of-distribution math dataset (before splitting)."""
    if dataset not in OOD_DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; expected one of {OOD_DATASETS}")
    return _math_file(dataset, _cache_key())


@functools.cache
def _bbh_examples(task: str, directory: str) -> tuple[BBHExample, ...]:
    del directory
    return tuple(loaders.read_bbh_task(data_dir.data_file(f"bbh/bbh/{task}.json"), task))


@functools.cache
def _bbh_prompt(task: str, directory: str) -> BBHPrompt:
    del directory
    return loaders.read_bbh_prompt(data_dir.data_file(f"bbh/cot-prompts/{task}.txt"))


def _check_bbh(task: str) -> None:
    if task not in BBH_TASKS:
        raise ValueError(f"Unknown BBH task {task!r}; expected one of {BBH_TASKS}")


def bbh_examples(task: str) -> tuple[BBHExample, ...]:
    """Every example of a BBH task (all are evaluation data)."""
    _check_bbh(task)
    return _bbh_examples(task, _cache_key())


def bbh_prompt(task: str) -> BBHPrompt:
    """The task's 3-shot CoT prompt (Suzgun et al.), canary lines stripped."""
    _check_bbh(task)
    return _bbh_prompt(task, _cache_key())


def resolve(path: str) -> str:
    """An absolute path as is; a relative one inside the data directory (verified if known)."""
    return path if os.path.isabs(path) else data_dir.data_file(path)
