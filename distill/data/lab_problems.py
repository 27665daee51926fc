"""The specialization lab's math: +/- chains asked in many forms, some trained on and some never.

Why these problems: the lab must show specialization at a scale a 2-core CPU trains in minutes,
so each problem is a short chain of additions and subtractions whose chain of thought is one
line per step ("12 + 7 = 19."), which a small byte-level T5 can learn, while answering a 3-step
chain in one forward pass is hard for it. The skill is the same in every form; the surface is
not, as the paper's out-of-distribution sets are other datasets of the same skill.

A form is a *phrasing* of the operations inside a *frame* (`question_text`):

| phrasing \\ frame | equals `{e} = ?` | what `What is {e}?` | compute `Compute {e}.` | find `Find {e}.` |
| --- | --- | --- | --- | --- |
| symbols `12 + 7 - 5` | ID | ID | ID | OOD |
| spoken `12 plus 7 minus 5` | OOD | ID | OOD | ID |
| verbal `12 add 7 take away 5` | ID | OOD | ID | ID |

* In distribution (ID, `ID_DATASETS`): eight cells, the teacher's questions and the students'
  training data, so every phrasing and every frame is trained on;
* out of distribution (OOD, `OOD_DATASETS`): the four other cells, each a phrasing and a frame
  seen in training but never together, and `lab_words` ("Start with 12. Add 7. Take away 5. What
  is the result?"), a question shape no chain is trained on;
* `lab_large` (a range shift, reported apart from OOD): symbols in the equals frame, start 30-69,
  so every value is larger than the trained forms'.

Why a grid: measured with gold chains from the same stage-0 model (docs/lab.md), a student
fine-tuned on one form answers that form (48-64%) and almost nothing reworded, not even "What is
12 + 7 - 5?" (3%) or "Compute 12 + 7 - 5." (2%): at this size one trained surface is memorised.
Trained on several phrasings and frames it carries the chain over to unseen combinations, as a
model trained on GSM8K's varied wording carries it to MultiArith's.

Why the range shift is not in the OOD mean: the general model (stage 0) reads one-step questions
over 1-99 (`general_suite`'s `add` / `sub`, in the `STYLES` symbols, words and spoken), but no arm
of the tiny student wrote a right sum above the trained range inside a chain (0% in every arm of
the first full lab): range extrapolation, which the lab-notes found does not happen at this size
either for length. It is still evaluated and reported (`range` in lab.md).

Every form has 2-3 steps, like the training data: length alone is a poor split (a small model
that learned 3 steps writes 3 steps). The rationale is the same in every form. Intermediate
values never go below 0.

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
    """How a chain is written (a style, or a phrasing in a frame), and the ranges its numbers come from."""

    start: tuple[int, int]
    operand: tuple[int, int]
    style: str  # one of STYLES (a whole-question shape) or PHRASINGS
    frame: str | None = None  # one of FRAMES with a phrasing; None with a style


STYLES = ("symbols", "words", "spoken")  # whole questions: the general suite's one-step forms
PHRASINGS = {
    "symbols": {"+": "+", "-": "-"},
    "spoken": {"+": "plus", "-": "minus"},
    "verbal": {"+": "add", "-": "take away"},
}
FRAMES = {
    "equals": "{e} = ?",
    "what": "What is {e}?",
    "compute": "Compute {e}.",
    "find": "Find {e}.",
}
SMALL = {"start": (1, 29), "operand": (1, 9)}
ID_CELLS = (
    ("symbols", "equals"), ("symbols", "what"), ("symbols", "compute"), ("spoken", "what"),
    ("spoken", "find"), ("verbal", "equals"), ("verbal", "compute"), ("verbal", "find"),
)  # fmt: skip
OOD_CELLS = (("symbols", "find"), ("spoken", "equals"), ("spoken", "compute"), ("verbal", "what"))


def cell_name(phrasing: str, frame: str) -> str:
    return f"lab_{phrasing}_{frame}"


FORMS = {
    **{cell_name(p, f): Form(**SMALL, style=p, frame=f) for p, f in ID_CELLS + OOD_CELLS},
    "lab_words": Form(**SMALL, style="words"),
    "lab_large": Form(start=(30, 69), operand=(1, 9), style="symbols", frame="equals"),
}
ID_DATASETS = tuple(cell_name(p, f) for p, f in ID_CELLS)
OOD_DATASETS = (*(cell_name(p, f) for p, f in OOD_CELLS), "lab_words")
RANGE_DATASETS = ("lab_large",)
_WORD_OPS = {"+": "Add", "-": "Take away"}
_STYLE_FRAMES = {"symbols": "equals", "spoken": "what"}


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


def question_text(start: int, steps: list[tuple[str, int]], style: str, frame: str | None = None) -> str:
    """The question in a phrasing and frame, or in one of `STYLES` (the general suite's one-step questions).

    The styles `symbols` and `spoken` are those phrasings in their own frames ("12 + 7 = ?",
    "What is 12 plus 7?"); `words` is a shape of its own.
    """
    if style == "words" and frame is None:
        said = " ".join(f"{_WORD_OPS[op]} {operand}." for op, operand in steps)
        return f"Start with {start}. {said} What is the result?"
    frame = frame or _STYLE_FRAMES.get(style)
    if style not in PHRASINGS or frame not in FRAMES:
        raise ValueError(
            f"Unknown question form {style!r} in frame {frame!r}; expected a style of {STYLES}"
            f" or a phrasing of {sorted(PHRASINGS)} in a frame of {sorted(FRAMES)}"
        )
    words = PHRASINGS[style]
    return FRAMES[frame].format(e=f"{start} " + " ".join(f"{words[op]} {operand}" for op, operand in steps))


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
            question = question_text(start, steps, form.style, form.frame)
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
