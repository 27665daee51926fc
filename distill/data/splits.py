"""Deterministic train / validation / test splits of the math datasets.

Why: none of these datasets ships a validation split, yet checkpoint selection needs one (Fu et al.
select on out-of-distribution validation accuracy and report test accuracy), and distillation data
must not contain the questions used for validation.

How: a problem is held out for validation when its id ranks among the first `k` by
sha256(f"{SPLIT_SALT}:{id}"). This depends only on the ids (themselves derived from the data files)
and the salt: no RNG whose stream could change between library versions, no dependence on load
order. Changing `SPLIT_SALT` or a size below changes every reported number, so both are fixed.

Sizes (validation / test):

| dataset | all | validation | test | rule |
| --- | ---: | ---: | ---: | --- |
| gsm8k | 7,473 train + 1,319 test | 500 (of train) | 1,319 (official test) | train = the other 6,973 |
| multiarith | 600 | 200 | 400 | a third, at most 500 |
| addsub | 395 | 132 | 263 | a third, at most 500 |
| singleeq | 508 | 169 | 339 | a third, at most 500 |
| svamp | 1,000 | 333 | 667 | a third, at most 500 |
| asdiv | 2,096 | 500 | 1,596 | a third, at most 500 |

"A third, at most 500" reproduces the 200 / 400 MultiArith split of Fu et al.'s code and the
paper's "500 instances as the validation set" where a dataset is large enough, while leaving the
bigger part of every dataset for test.
"""

from __future__ import annotations

import functools
import hashlib

from distill.data import data_dir, sources
from distill.data.loaders import MathProblem

SPLIT_SALT = "cot-specialize/splits/v1"
GSM8K_VALIDATION_SIZE = 500
MAX_VALIDATION = 500

GSM8K_SPLITS = ("train", "validation", "test")
OOD_SPLITS = ("validation", "test")

# Documented sizes; tests check that the data gives exactly these.
SPLIT_SIZES = {
    "gsm8k": {"train": 6_973, "validation": 500, "test": 1_319},
    "multiarith": {"validation": 200, "test": 400},
    "addsub": {"validation": 132, "test": 263},
    "singleeq": {"validation": 169, "test": 339},
    "svamp": {"validation": 333, "test": 667},
    "asdiv": {"validation": 500, "test": 1_596},
}


def ood_validation_size(total: int) -> int:
    """A third of the dataset (rounded), at most 500."""
    return min(MAX_VALIDATION, round(total / 3))


def held_out_ids(ids: list[str], count: int, salt: str = SPLIT_SALT) -> frozenset[str]:
    """The `count` ids ranking first by sha256(salt:id): a seeded, order-independent choice."""
    if count > len(ids):
        raise ValueError(f"cannot hold out {count} of {len(ids)} ids")
    ranked = sorted(ids, key=lambda ident: hashlib.sha256(f"{salt}:{ident}".encode()).hexdigest())
    return frozenset(ranked[:count])


@functools.cache
def _gsm8k_validation(directory: str) -> frozenset[str]:
    del directory
    return held_out_ids([p.id for p in sources.gsm8k("train")], GSM8K_VALIDATION_SIZE)


def gsm8k_validation_ids() -> frozenset[str]:
    """Ids (`gsm8k-train-NNNN`) of the 500 GSM8K train questions held out for validation.

    Distillation data must exclude these questions (teacher outputs for them would leak the
    validation set into training).
    """
    return _gsm8k_validation(data_dir.data_dir())


def gsm8k_validation_rows() -> list[int]:
    """The same questions as 0-based rows of gsm8k/train.jsonl (= Hugging Face `gsm8k` train indices)."""
    return sorted(int(ident.rsplit("-", 1)[1]) for ident in gsm8k_validation_ids())


def gsm8k_validation_questions() -> frozenset[str]:
    """The same questions as text, for filtering data keyed by question rather than id."""
    held_out = gsm8k_validation_ids()
    return frozenset(p.question for p in sources.gsm8k("train") if p.id in held_out)


def splits_of(dataset: str) -> tuple[str, ...]:
    return GSM8K_SPLITS if dataset == "gsm8k" else OOD_SPLITS


def split_problems(dataset: str, split: str) -> tuple[MathProblem, ...]:
    """The problems of one split, in file order."""
    if split not in splits_of(dataset):
        raise ValueError(f"{dataset} has splits {splits_of(dataset)}, not {split!r}")
    if dataset == "gsm8k":
        if split == "test":
            return sources.gsm8k("test")
        held_out = gsm8k_validation_ids()
        keep = split == "validation"
        return tuple(p for p in sources.gsm8k("train") if (p.id in held_out) == keep)
    problems = sources.ood(dataset)
    held_out = held_out_ids([p.id for p in problems], ood_validation_size(len(problems)))
    keep = split == "validation"
    return tuple(p for p in problems if (p.id in held_out) == keep)
