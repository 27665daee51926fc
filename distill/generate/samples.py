"""One API choice into one teacher record: the paper's cut moved to a token boundary, then graded.

The record's invariant (`distill/contracts/teacher_records.py`): when `tokens` is not null, their bytes
concatenated are exactly `completion` in UTF-8. So with log-probs, the text is what the tokens
spell, cut where the paper cuts (`prompts.cut_point`), moved back to the last token boundary
at or before the cut, and further back while the bytes kept are not valid UTF-8 (a character
split across tokens, or a server that sampled stray bytes). Tokens reaching past the API's
`text` (a stop string inside the last token) are cut at the text's end as well. When a server's
tokens do not spell its `text` at all (a tokenizer whose decode drops a leading space), the
tokens win: they are what the aligner maps onto the student's tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from distill.contracts import teacher_records
from distill.generate import prompts, questions
from distill.generate.responses import Choice


@dataclass(frozen=True)
class Origin:
    """What every record of a run shares: teacher, prompt and sampling settings."""

    model: str
    api: str
    prompt: prompts.Prompt
    cut: bool = True


@dataclass(frozen=True)
class Trimmed:
    completion: str
    tokens: list[dict[str, Any]] | None
    cut: bool  # something the teacher wrote was dropped
    spelled: bool  # the tokens spell the API's text (always True without tokens)


def trim(choice: Choice, cut: bool = True) -> Trimmed:
    """The completion a record keeps of `choice` (see the module docstring), with its tokens."""
    text = choice.text.encode("utf-8")
    if choice.tokens is None:
        end = prompts.cut_point(text) if cut else len(text)
        return Trimmed(text[:end].decode("utf-8"), None, end < len(text), True)
    data = b"".join(bytes(t["bytes"]) for t in choice.tokens)
    spelled = data.startswith(text)
    natural_end = len(text) if spelled else len(data)
    end = min(natural_end, prompts.cut_point(data[:natural_end])) if cut else natural_end
    kept, length = 0, 0
    for token in choice.tokens:
        if length + len(token["bytes"]) > end:
            break
        length += len(token["bytes"])
        kept += 1
    while True:
        try:
            completion = data[:length].decode("utf-8")
            break
        except UnicodeDecodeError as error:  # drop tokens back to before the first invalid sequence
            while length > error.start:
                kept -= 1
                length -= len(choice.tokens[kept]["bytes"])
    return Trimmed(completion, choice.tokens[:kept], length < natural_end, spelled)


def record(
    origin: Origin,
    question: questions.Question,
    index: int,
    choice: Choice,
    sampling: dict[str, Any],
    usage: dict[str, int],
) -> tuple[dict[str, Any], Trimmed]:
    """The teacher record of sample `index` of `question` (and how it was trimmed)."""
    trimmed = trim(choice, origin.cut)
    answer, correct = questions.grade(question, trimmed.completion)
    record = {
        "schema": teacher_records.SCHEMA,
        "question_id": question.id,
        "dataset": question.dataset,
        "split": question.split,
        "question": question.text,
        "gold_answer": question.gold,
        "sample_index": index,
        "prompt_name": origin.prompt.name,
        "prompt_sha256": origin.prompt.sha256,
        "model": origin.model,
        "api": origin.api,
        "sampling": sampling,
        "completion": trimmed.completion,
        "answer": answer,
        "correct": correct,
        "finish_reason": "cut" if trimmed.cut else choice.finish_reason,
        "usage": usage,
        "tokens": trimmed.tokens,
    }
    return record, trimmed
