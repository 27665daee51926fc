"""The specialization lab's math: +/- chains in one trained form and two forms never trained on.

Why these problems: the lab must show specialization at a scale a 2-core CPU trains in minutes,
so each problem is a short chain of additions and subtractions whose chain of thought is one
line per step ("12 + 7 = 19."), which a small byte-level T5 can learn, while answering a 3-step
chain in one forward pass is hard for it. The skill is the same in every form; the surface is
not, as the paper's out-of-distribution sets are other datasets of the same skill:

* `lab_symbols` (in distribution: the teacher's questions): "12 + 7 - 5 = ?", start 1-29,
  operands 1-9 (small numbers: a tiny model learns their sums within the lab's minutes);
* `lab_words` (OOD, reworded): "Start with 12. Add 7. Take away 5. What is the result?", the same
  ranges;
* `lab_spoken` (OOD, reworded): "What is 12 plus 7 minus 5?", the same ranges;
* `lab_large` (a range shift, reported apart from OOD): symbols, start 30-69, operands 1-9, so
  every value is larger than the trained form's.

Why the range shift is not in the OOD mean: the general model (stage 0) reads every form in one
step (`general_suite`'s `add` / `sub` ask one-step questions in all three styles, over 1-99),
as a FlanT5 reads rewordings; a rewording then tests whether the specialized chain carries over
to what the general model understands. The first full lab had `lab_large` in the OOD mean: no arm
of that tiny student wrote a right sum above the trained range in a chain (0% in every arm), so it
measures range extrapolation, which the lab-notes found does not happen at this size either for
length. It is still evaluated and reported (`range` in lab.md).

Every form has 2-3 steps, like the training data: length alone is a poor split (a small model
that learned 3 steps writes 3 steps). The rationale is the same in every form, so a model that
learned the chain in one form can carry it over. Intermediate values never go below 0.

Splits are fixed lists from `random.Random` seeded with a string; test is drawn first, then
validation, then train, each skipping questions already drawn, so no question is in two splits.
"""

from __future__ import annotations

import dataclasses
import functools
import random

from distill.data.loaders import MathProblem

SPLIT_SIZES = {"train": 6_000, "validation": 200, "test": 400}
_DRAW_ORDER = ("test", "validation", "train")
STEP_RANGE = (2, 3)


@dataclasses.dataclass(frozen=True)
class Form:
    """How a chain is written, and the ranges its numbers come from."""

    start: tuple[int, int]
    operand: tuple[int, int]
    style: str  # symbols, words or spoken: how `question_text` writes it


FORMS = {
    "lab_symbols": Form(start=(1, 29), operand=(1, 9), style="symbols"),
    "lab_words": Form(start=(1, 29), operand=(1, 9), style="words"),
    "lab_spoken": Form(start=(1, 29), operand=(1, 9), style="spoken"),
    "lab_large": Form(start=(30, 69), operand=(1, 9), style="symbols"),
}
STYLES = ("symbols", "words", "spoken")
ID_DATASETS = ("lab_symbols",)
OOD_DATASETS = ("lab_words", "lab_spoken")
RANGE_DATASETS = ("lab_large",)
_WORD_OPS = {"+": "Add", "-": "Take away"}
_SPOKEN_OPS = {"+": "plus", "-": "minus"}


def chain(rng: random.Random, form: Form) -> tuple[int, list[tuple[str, int]]]:
    """A start value and 2-3 (operator, operand) steps that never go below zero."""
    value = start = rng.randint(*form.start)
    steps = []
    for _ in range(rng.randint(*STEP_RANGE)):
        operand = rng.randint(*form.operand)
        op = "-" if rng.random() < 0.5 and operand <= value else "+"
        steps.append((op, operand))
        value = value - operand if op == "-" else value + operand
    return start, steps


def question_text(start: int, steps: list[tuple[str, int]], style: str) -> str:
    """The question in one of `STYLES` (also the general suite's one-step questions)."""
    if style == "words":
        said = " ".join(f"{_WORD_OPS[op]} {operand}." for op, operand in steps)
        return f"Start with {start}. {said} What is the result?"
    if style == "spoken":
        return f"What is {start} " + " ".join(f"{_SPOKEN_OPS[op]} {operand}" for op, operand in steps) + "?"
    if style != "symbols":
        raise ValueError(f"Unknown question style {style!r}; expected one of {STYLES}")
    return f"{start} " + " ".join(f"{op} {operand}" for op, operand in steps) + " = ?"


def rationale_and_answer(start: int, steps: list[tuple[str, int]]) -> tuple[str, int]:
    """One line per step, `a + b = c.`, and the final value."""
    lines, value = [], start
    for op, operand in steps:
        result = value - operand if op == "-" else value + operand
        lines.append(f"{value} {op} {operand} = {result}.")
        value = result
    return "\n".join(lines), value


@functools.cache
def _all_splits(dataset: str) -> dict[str, tuple[MathProblem, ...]]:
    form = FORMS[dataset]
    rng = random.Random(f"cot-specialize/{dataset}")
    seen: set[str] = set()
    splits: dict[str, tuple[MathProblem, ...]] = {}
    for split in _DRAW_ORDER:
        drawn: list[MathProblem] = []
        while len(drawn) < SPLIT_SIZES[split]:
            start, steps = chain(rng, form)
            question = question_text(start, steps, form.style)
            if question in seen:
                continue
            seen.add(question)
            rationale, answer = rationale_and_answer(start, steps)
            problem_id = f"{dataset}-{split}-{len(drawn):05d}"
            drawn.append(MathProblem(problem_id, question, str(answer), str(answer), rationale))
        splits[split] = tuple(drawn)
    return splits


def problems(dataset: str, split: str) -> tuple[MathProblem, ...]:
    """The problems of a lab dataset split (deterministic, no data files)."""
    if dataset not in FORMS:
        raise ValueError(f"Unknown lab dataset {dataset!r}; expected one of {sorted(FORMS)}")
    if split not in SPLIT_SIZES:
        raise ValueError(f"Unknown split {split!r} of {dataset}; expected one of {sorted(SPLIT_SIZES)}")
    return _all_splits(dataset)[split]
