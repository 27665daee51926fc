"""Task examples: a dataset split in one format, as the string dicts a seqio source yields.

Why a module: this is where records, splits, formats, demonstrations and normalization meet, so
every task builds its text the same way. Each example has

* `inputs`, `targets`: the formatted, normalized text (tokenized later by seqio, which also
  keeps them as `inputs_pretokenized` / `targets_pretokenized`);
* `id`: the record's stable id (e.g. `gsm8k-test-0042`, `bbh-navigate-007`);
* `answer`: the gold answer, canonical for math ("1080"), the normalized target for BBH.

Example lists are cached per (dataset, split, format, demonstration settings, data directory).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from distill.data import data_dir, demos, formats, lab_problems, sources, splits, word_problems
from distill.data.demos import DemoSettings
from distill.data.formats import Demo
from distill.data.loaders import BBHExample, BBHPrompt, MathProblem
from distill.data.normalize import normalize_text

FIELDS = ("id", "inputs", "targets", "answer")
SYNTHETIC_PREFIX = "synthetic_k"


def math_example(problem: MathProblem, fmt: str, shots: Sequence[Demo] = ()) -> dict[str, str]:
    """One math problem in format `fmt` (with `shots` for ic_* formats), normalized."""
    return {
        "id": problem.id,
        "inputs": normalize_text(formats.math_input(fmt, problem.question, shots)),
        "targets": normalize_text(formats.math_target(fmt, problem.answer_text, problem.rationale)),
        "answer": problem.answer,
    }


def bbh_example(example: BBHExample, prompt: BBHPrompt, fmt: str) -> dict[str, str]:
    """One BBH example in format `cot` or `ao`, normalized; the target is the gold answer."""
    target = normalize_text(example.target)
    return {
        "id": example.id,
        "inputs": normalize_text(formats.bbh_input(fmt, prompt, example.input)),
        "targets": target,
        "answer": target,
    }


def synthetic_steps(dataset: str) -> int | None:
    """k for a `synthetic_k{k}` dataset name, else None."""
    if dataset.startswith(SYNTHETIC_PREFIX) and dataset[len(SYNTHETIC_PREFIX) :].isdigit():
        return int(dataset[len(SYNTHETIC_PREFIX) :])
    return None


def problems(dataset: str, split: str) -> tuple[MathProblem, ...]:
    """The problems of a math dataset split (the real datasets, `synthetic_k{k}` or the lab's `lab_*`)."""
    steps = synthetic_steps(dataset)
    if steps is not None:
        return word_problems.problems(steps, split)
    if dataset in lab_problems.FORMS:
        return lab_problems.problems(dataset, split)
    return splits.split_problems(dataset, split)


def is_generated(dataset: str) -> bool:
    """A dataset made by code (`synthetic_k{k}`, the lab's `lab_*`): it needs no data files."""
    return synthetic_steps(dataset) is not None or dataset in lab_problems.FORMS


def demo_pool(dataset: str) -> tuple[MathProblem, ...]:
    """Where ic_* demonstrations come from: GSM8K train (generated problems: their own train split)."""
    return problems(dataset if is_generated(dataset) else "gsm8k", "train")


@functools.lru_cache(maxsize=32)
def _math_examples(
    dataset: str, split: str, fmt: str, settings: DemoSettings, directory: str | None
) -> tuple[dict[str, str], ...]:
    del directory  # part of the cache key only
    in_context = formats.is_in_context(fmt)
    pool = demo_pool(dataset) if in_context and not settings.prompt_file else ()
    return tuple(
        math_example(p, fmt, demos.demos_for(p.id, pool, settings) if in_context else ())
        for p in problems(dataset, split)
    )


def _directory_key() -> str | None:
    return data_dir.data_dir() if data_dir.is_configured() else None


def math_examples(dataset: str, split: str, fmt: str, settings: DemoSettings | None = None) -> tuple[dict, ...]:
    """All examples of a math dataset split in format `fmt` (default: the gin demo settings)."""
    settings = settings or demos.demo_settings()
    return _math_examples(dataset, split, fmt, settings, _directory_key())


@functools.lru_cache(maxsize=64)
def _bbh_examples(task: str, fmt: str, directory: str | None) -> tuple[dict[str, str], ...]:
    del directory
    prompt = sources.bbh_prompt(task)
    return tuple(bbh_example(e, prompt, fmt) for e in sources.bbh_examples(task))


def bbh_examples(task: str, fmt: str) -> tuple[dict[str, str], ...]:
    """All examples of a BBH task in format `cot` or `ao`."""
    return _bbh_examples(task, fmt, _directory_key())
