"""The lab's general suite: small tasks that stand for a general model's abilities (the BBH analog).

Why: the paper trades a FlanT5 student's generic ability (BIG-Bench Hard) for math chain of
thought. The lab's stage-0 model learns these tasks first, so specialization has something to
trade away, and their held-out accuracy measures how much of it is lost and how much replay keeps.

Tasks (each example: `inputs`, `targets`, `id`, `answer`; answers are exact strings):

* `copy`: "Copy: k q t a" -> "k q t a";
* `reverse`: "Reverse: k q t a" -> "a t q k";
* `sort`: "Sort: 7 3 9 1" -> "1 3 7 9";
* `count`: "Count the a: a b a c a" -> "3";
* `max`: "Max: 12 45 7 30" -> "45";
* `mapping`: in-context only. Each episode draws a fresh mapping of four letters to four other
  letters; the demonstrations apply it ("Map: b d => x q") to pairs that show both letters of the
  query's new pair, so reading the demonstrations solves it and nothing else does;
* `add`, `sub`: one-step arithmetic, asked in any of the lab's three question styles
  (`lab_problems.question_text`: "52 + 7 = ?", "Start with 52. Add 7. What is the result?",
  "What is 52 plus 7?") and answered as an equation, "52 + 7 = 59" (first number 1-99, second
  1-9, results never below 0). Why every style: a general model reads many phrasings of a
  problem it can solve in one step, as FlanT5 does; specialization then teaches multi-step chains
  in one style, and the reworded OOD chains ask whether they carry over. Why an equation: a chain
  of thought computes each step right after writing "a + b = " itself; a bare answer would teach
  stage 0 nothing the chain's steps look like.

Zero-shot inputs are the task line alone; in-context inputs put two demonstrations of the same
task first ("input => target" lines). Every split is a fixed, seeded list (test drawn first).
"""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Callable

from distill.data import lab_problems

TASKS = ("copy", "reverse", "sort", "count", "max", "mapping", "add", "sub")
ZERO_SHOT_TASKS = tuple(t for t in TASKS if t != "mapping")  # mapping is defined by its demonstrations
FORMATS = ("zs", "ic")
SPLIT_SIZES = {"train": 4_000, "validation": 100, "test": 200}
DEMOS = 2
# Consecutive repeated draws after which a split stops short: a task with fewer distinct inputs than
# the split sizes (zero-shot one-step arithmetic has 891 sums) gets what exists, test split first.
_GIVE_UP_AFTER = 2_000
_LETTERS = string.ascii_lowercase[:12]

Example = tuple[str, str]  # (task input, target)


def _letters(rng: random.Random) -> list[str]:
    return [rng.choice(_LETTERS) for _ in range(rng.randint(3, 6))]


def _copy(rng: random.Random) -> Example:
    items = _letters(rng)
    return f"Copy: {' '.join(items)}", " ".join(items)


def _reverse(rng: random.Random) -> Example:
    items = _letters(rng)
    return f"Reverse: {' '.join(items)}", " ".join(reversed(items))


def _sort(rng: random.Random) -> Example:
    digits = [str(rng.randint(0, 9)) for _ in range(rng.randint(3, 6))]
    return f"Sort: {' '.join(digits)}", " ".join(sorted(digits))


def _count(rng: random.Random) -> Example:
    target = rng.choice("abc")
    items = [rng.choice("abcd") for _ in range(rng.randint(3, 8))]
    return f"Count the {target}: {' '.join(items)}", str(items.count(target))


def _max(rng: random.Random) -> Example:
    numbers = [rng.randint(1, 99) for _ in range(rng.randint(3, 5))]
    return f"Max: {' '.join(map(str, numbers))}", str(max(numbers))


def _one_step(rng: random.Random, a: int, op: str, b: int) -> Example:
    question = lab_problems.question_text(a, [(op, b)], rng.choice(lab_problems.STYLES))
    step, _ = lab_problems.rationale_and_answer(a, [(op, b)])  # "a + b = c.", as a chain's step
    return question, step.rstrip(".")


def _add(rng: random.Random) -> Example:
    a, b = rng.randint(1, 99), rng.randint(1, 9)
    return _one_step(rng, a, "+", b)


def _sub(rng: random.Random) -> Example:
    a = rng.randint(1, 99)
    b = rng.randint(1, min(a, 9))
    return _one_step(rng, a, "-", b)


_GENERATORS: dict[str, Callable[[random.Random], Example]] = {
    "copy": _copy,
    "reverse": _reverse,
    "sort": _sort,
    "count": _count,
    "max": _max,
    "add": _add,
    "sub": _sub,
}


def _mapping_episode(rng: random.Random) -> tuple[list[Example], Example]:
    """Two demonstrations and a query of one fresh letter mapping; the demonstrations show both query letters."""
    sources = rng.sample(_LETTERS[:6], 4)
    targets = rng.sample(string.ascii_lowercase[14:], 4)
    mapping = dict(zip(sources, targets, strict=True))
    first, second, other, another = sources
    pairs = [[first, other], [another, second], [first, second]]  # demo, demo, query
    rng.shuffle(pairs[0])
    rng.shuffle(pairs[1])
    episode = [(f"Map: {' '.join(p)}", " ".join(mapping[c] for c in p)) for p in pairs]
    return episode[:DEMOS], episode[DEMOS]


def _render(task_input: str, demos: list[Example]) -> str:
    return "".join(f"{i} => {t}\n" for i, t in demos) + f"{task_input} =>"


@functools.cache
def _split_examples(task: str, fmt: str) -> dict[str, tuple[dict[str, str], ...]]:
    if task not in TASKS or fmt not in FORMATS or (fmt == "zs" and task not in ZERO_SHOT_TASKS):
        raise ValueError(f"No general-suite task {task!r} in format {fmt!r}")
    rng = random.Random(f"cot-specialize/general/{task}/{fmt}")
    seen: set[str] = set()
    splits: dict[str, tuple[dict[str, str], ...]] = {}
    for split in ("test", "validation", "train"):
        drawn: list[dict[str, str]] = []
        misses = 0
        while len(drawn) < SPLIT_SIZES[split] and misses < _GIVE_UP_AFTER:
            if task == "mapping":
                demos, (task_input, target) = _mapping_episode(rng)
            else:
                task_input, target = _GENERATORS[task](rng)
                demos = [_GENERATORS[task](rng) for _ in range(DEMOS)] if fmt == "ic" else []
            inputs = _render(task_input, demos)
            if inputs in seen:
                misses += 1
                continue
            misses = 0
            seen.add(inputs)
            example_id = f"general-{task}-{fmt}-{split}-{len(drawn):05d}"
            drawn.append({"id": example_id, "inputs": inputs, "targets": target, "answer": target})
        splits[split] = tuple(drawn)
    return splits


def examples(task: str, fmt: str, split: str) -> tuple[dict[str, str], ...]:
    """The examples of one task, format (`zs` or `ic`) and split."""
    return _split_examples(task, fmt)[split]


def task_formats() -> list[tuple[str, str]]:
    """Every (task, format) of the suite: zero-shot for all but `mapping`, in-context for all."""
    return [(t, f) for t in TASKS for f in FORMATS if f == "ic" or t in ZERO_SHOT_TASKS]


def exact_match(targets: list[str], predictions: list[str]) -> dict[str, float]:
    """seqio metric_fn: exact-match accuracy (%) after stripping whitespace."""
    if not targets:
        return {"accuracy": 0.0}
    correct = sum(t.strip() == p.strip() for t, p in zip(targets, predictions, strict=True))
    return {"accuracy": 100.0 * correct / len(targets)}
