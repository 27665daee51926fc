"""The questions a teacher answers, with their gold answers and how a completion is graded.

Why a module of its own: the generator, the gold source and the summary must agree on what a
question's id is and on when an answer counts as correct. Ids are the tasks' stable ids
(`gsm8k-train-0017`, `svamp-chal-17`, `bbh-navigate-007`), so `tasks.gsm8k_validation_ids()`
filters teacher records directly; `--dataset gsm8k --split train` is already the 6,973 questions
left after the 500 validation questions are held out. Answers are read with `distill.data.answers`, the
same rules evaluation uses: math answers are compared numerically, BBH answers exactly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from distill.data import answers, bbh_answers, examples, sources
from distill.data.data_dir import DataFormatError
from distill.data.jsonio import field, read_jsonl

BBH_PREFIX = "bbh_"


@dataclass(frozen=True)
class Question:
    """One question. `gold` is canonical (a number string for math); `task` names a BBH task."""

    id: str
    dataset: str
    split: str
    text: str
    gold: str
    task: str | None = None
    rationale: str | None = None  # the dataset's gold solution, where it has one (GSM8K, synthetic)
    answer_text: str | None = None  # the answer as the dataset writes it ("1,080")


def bbh_task(dataset: str) -> str | None:
    """The BBH task of a `bbh_<task>` dataset name, else None."""
    task = dataset.removeprefix(BBH_PREFIX)
    return task if dataset.startswith(BBH_PREFIX) and task in sources.BBH_TASKS else None


def from_dataset(dataset: str, split: str) -> list[Question]:
    """A task dataset's split: math (`gsm8k`, `svamp`, ..., `synthetic_k3`, the lab's `lab_*`) or BBH (`bbh_<task>`)."""
    task = bbh_task(dataset)
    if task is not None:
        if split != "test":
            raise ValueError(f"BBH datasets have one split, 'test', not {split!r}")
        return [Question(e.id, dataset, split, e.input, e.target, task=task) for e in sources.bbh_examples(task)]
    if dataset not in sources.MATH_DATASETS and not examples.is_generated(dataset):
        known = ", ".join([*sources.MATH_DATASETS, "synthetic_k<k>", "bbh_<task>"])
        raise ValueError(f"Unknown dataset {dataset!r}; expected one of {known}")
    return [
        Question(p.id, dataset, split, p.question, p.answer, rationale=p.rationale, answer_text=p.answer_text)
        for p in examples.problems(dataset, split)
    ]


def from_file(path: str) -> list[Question]:
    """A user's JSONL file: `{"question": str, "answer": str or number, "id": str (optional)}` per line.

    Math questions; `answer` may be a bare number or any text the math reader understands
    ("#### 72", "9 (apples)"). Lines without an `id` get `<file stem>-<row>`.
    """
    stem = os.path.splitext(os.path.basename(path))[0]
    questions, seen = [], {}
    for row, record in enumerate(read_jsonl(path)):
        text = field(record, "question", str, path)
        raw = field(record, "answer", (str, int, float), path)
        gold = answers.math_postprocessor(str(raw))
        if not gold:
            raise DataFormatError(path, record.line, "answer", f"no number in {raw!r:.60}")
        ident = field(record, "id", str, path) if "id" in record.value else f"{stem}-{row:05d}"
        if ident in seen:
            raise DataFormatError(path, record.line, "id", f"duplicate id {ident!r} (first on line {seen[ident]})")
        seen[ident] = record.line
        questions.append(Question(ident, "questions", stem, text, gold))
    return questions


def _is_gold(question: Question, answer: str | None) -> bool:
    if answer is None:
        return False
    if question.task is not None:
        return answer == question.gold
    return answers.math_answers_equal(float(answer), float(question.gold))


def grade(question: Question, completion: str) -> tuple[str | None, bool]:
    """(the answer read from `completion`, whether it equals the gold answer)."""
    if question.task is not None:
        answer = bbh_answers.extract_bbh_answer(completion, question.task)
    else:
        answer = answers.math_postprocessor(completion) or None
    return answer, _is_gold(question, answer)


def majority_correct(question: Question, sample_answers: Sequence[str | None]) -> tuple[str | None, bool]:
    """The majority answer over samples (given in sample order) and whether it is correct."""
    answer = answers.majority_vote(sample_answers)
    return answer, _is_gold(question, answer)
