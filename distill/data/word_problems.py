"""Synthetic GSM8K-style word problems with exactly k arithmetic steps (no data files needed).

Why: the offline quickstart and CPU experiments need multi-step reasoning data with gold
rationales that needs no download, and whose difficulty is a dial (k). Each problem is a short
story ("Mia has 12 apples. Then Liam gives Mia 5 more apples. ...") with one operation per
sentence; the rationale has one line per step, each with its equation ("After getting 5 more, Mia
has 12 + 5 = 17 apples."), in the shape of a GSM8K gold solution, so the same four formats apply.

Operations: add, take away (never below 1), double/triple (while the count is at most 50) and
keeping one of d equal piles (only when d divides the count), so every intermediate value and
answer is a positive integer.

Splits are fixed lists from `random.Random` seeded with a string (stable across runs and
platforms). Test is drawn first, then validation, then train, each skipping questions already
drawn, so no question is in two splits and growing train leaves the evaluation sets unchanged.
"""

from __future__ import annotations

import functools
import random

from distill.data.loaders import MathProblem

SPLIT_SIZES = {"train": 10_000, "validation": 500, "test": 500}
STEP_COUNTS = (2, 3, 4, 5)  # registered as synthetic_k{k}_{format}
_DRAW_ORDER = ("test", "validation", "train")

_PEOPLE = (
    ("Mia", "she", "her"),
    ("Liam", "he", "his"),
    ("Ava", "she", "her"),
    ("Noah", "he", "his"),
    ("Emma", "she", "her"),
    ("Lucas", "he", "his"),
    ("Sofia", "she", "her"),
    ("Omar", "he", "his"),
    ("Priya", "she", "her"),
    ("Kenji", "he", "his"),
)
_ITEMS = ("apples", "marbles", "stickers", "cookies", "pencils", "books", "shells", "cards", "coins", "beads")
_MULTIPLIERS = {2: "doubles", 3: "triples"}


def _step(rng: random.Random, value: int, name: str, subject: str, possessive: str, item: str) -> tuple[str, str, int]:
    """One (story sentence, rationale line, new value)."""
    options = ["add"]
    if value >= 2:
        options.append("take")
    if value <= 50:
        options.append("multiply")
    divisors = [d for d in (2, 3, 4, 5) if value % d == 0 and value // d >= 1]
    if divisors:
        options.append("split")
    op = rng.choice(options)
    if op == "add":
        n = rng.randint(2, 30)
        friend = rng.choice([p[0] for p in _PEOPLE if p[0] != name])
        return (
            f"Then {friend} gives {name} {n} more {item}.",
            f"After getting {n} more, {name} has {value} + {n} = {value + n} {item}.",
            value + n,
        )
    if op == "take":
        n = rng.randint(1, min(value - 1, 30))
        return (
            f"Then {subject} gives away {n} {item}.",
            f"After giving away {n}, {name} has {value} - {n} = {value - n} {item}.",
            value - n,
        )
    if op == "multiply":
        factor = rng.choice(tuple(_MULTIPLIERS))
        verb = _MULTIPLIERS[factor]
        return (
            f"Then the number of {item} {name} has {verb}.",
            f"After the number {verb}, {name} has {value} * {factor} = {value * factor} {item}.",
            value * factor,
        )
    d = rng.choice(divisors)
    return (
        f"Then {subject} splits {possessive} {item} into {d} equal piles and keeps only one pile.",
        f"One of {d} equal piles is {value} / {d} = {value // d} {item}.",
        value // d,
    )


def word_problem(rng: random.Random, steps: int, ident: str) -> MathProblem:
    """A problem with exactly `steps` operations, its one-line-per-step rationale and answer."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    name, subject, possessive = rng.choice(_PEOPLE)
    item = rng.choice(_ITEMS)
    value = rng.randint(5, 40)
    story, lines = [f"{name} has {value} {item}."], [f"{name} starts with {value} {item}."]
    for _ in range(steps):
        sentence, line, value = _step(rng, value, name, subject, possessive, item)
        story.append(sentence)
        lines.append(line)
    story.append(f"How many {item} does {name} have now?")
    return MathProblem(ident, " ".join(story), str(value), str(value), "\n".join(lines))


@functools.cache
def _all_splits(steps: int) -> dict[str, tuple[MathProblem, ...]]:
    seen: set[str] = set()
    out = {}
    for split in _DRAW_ORDER:
        rng = random.Random(f"cot-specialize/word-problems/k{steps}/{split}")
        problems: list[MathProblem] = []
        while len(problems) < SPLIT_SIZES[split]:
            problem = word_problem(rng, steps, f"synthetic-k{steps}-{split}-{len(problems):05d}")
            if problem.question not in seen:
                seen.add(problem.question)
                problems.append(problem)
        out[split] = tuple(problems)
    return out


def problems(steps: int, split: str) -> tuple[MathProblem, ...]:
    """The fixed `split` ("train" 10,000, "validation" 500, "test" 500) of k-step problems."""
    if split not in SPLIT_SIZES:
        raise ValueError(f"split must be one of {tuple(SPLIT_SIZES)}, not {split!r}")
    return _all_splits(steps)[split]
