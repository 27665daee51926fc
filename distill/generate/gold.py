"""`--source gsm8k-gold`: GSM8K's human rationales as teacher records, so a student can be specialized without an API.

Each question gets one record (sample 0): the gold solution without its `<<...>>` calculator
notes, then "The answer is N" (the tasks' CoT target, `distill.data.formats.math_target`), graded by the
same reader as teacher samples; no log-probs (`tokens` is null), no usage, api `gold`.
"""

from __future__ import annotations

from distill.contracts import teacher_records
from distill.data import formats
from distill.generate import prompts, samples
from distill.generate.questions import Question
from distill.generate.responses import Choice
from distill.generate.store import Store

ORIGIN = samples.Origin("gsm8k-gold", "gold", prompts.Prompt("none", ""), cut=False)
NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0}


def write(questions: list[Question], store: Store) -> int:
    """Appends the gold record of every question not yet stored; returns how many were written."""
    records = []
    for question in questions:
        if question.rationale is None:
            raise ValueError(f"{question.id} has no gold rationale ({question.dataset} has none)")
        if 0 in store.done(question.id):
            continue
        text = formats.math_target("zs_cot", question.answer_text or question.gold, question.rationale)
        record, _ = samples.record(ORIGIN, question, 0, Choice(text, "stop", None), {}, NO_USAGE)
        store.check_compatible(record)
        records.append(record)
    teacher_records.append(store.path, records)
    for record in records:
        store.tally.add(record)
    return len(records)
