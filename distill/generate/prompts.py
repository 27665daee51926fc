"""The teacher's few-shot prompt (which file, its sha256, the query built from it) and the paper's cut.

Fu et al. (docs/method.md 1.2-1.3) sample code-davinci-002 with the 8-shot complexity-based GSM8K
prompt (`lib_prompt/prompt_complex.txt`, here the named prompt `complex`) as
`prompt + "\\nQuestion: " + question + "\\nLet's think step by step"`, without a stop sequence,
and keep a completion up to its first line containing "answer is"; the model otherwise runs on
into a new exemplar ("\\n\\nQuestion: ..."). `cut_point` is that rule, plus the end of the
exemplar (a blank line or a new "Question:"/"Q:" line) for completions that never state an
answer. A prompt whose exemplars say `Q:` gets `Q:` queries; BBH tasks use their own 3-shot CoT
prompt and template (`distill.data.formats.bbh_input`).

Records carry the prompt's name and the sha256 of its exact text, so data made with different
prompts is never mixed up.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass

from distill.data import formats, sources

NAMED_PROMPTS = {
    "complex": "prompts/flant5-cot-specialization/prompt_complex.txt",  # Fu et al.'s teacher prompt
    "original": "prompts/flant5-cot-specialization/prompt_original.txt",  # Wei et al.'s 8 exemplars
    "simple_4_cases": "prompts/flant5-cot-specialization/prompt_simple_4_cases.txt",  # Fu et al.'s eval prompt
}
DEFAULT_PROMPT = "complex"
BBH_PROMPT = "bbh-cot"  # the name recorded for a BBH task's own prompt


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str
    bbh_task: str | None = None

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def query(self, question: str) -> str:
        """The text sent to the teacher for one question."""
        if self.bbh_task is not None:
            return formats.bbh_input("cot", sources.bbh_prompt(self.bbh_task), question)
        label = "Q" if self.text.lstrip().startswith("Q:") else "Question"
        return f"{self.text}\n{label}: {question}\n{formats.COT_TRIGGER}"


def load(name_or_path: str) -> Prompt:
    """A named prompt, a prompt file (path), or a file relative to the data directory (sha256-checked)."""
    if name_or_path in NAMED_PROMPTS:
        path = sources.resolve(NAMED_PROMPTS[name_or_path])
    elif os.path.isfile(name_or_path):
        path = name_or_path
    else:
        path = sources.resolve(name_or_path)
    with open(path, encoding="utf-8") as f:
        return Prompt(name_or_path, f.read())


def bbh(task: str) -> Prompt:
    """A BBH task's 3-shot CoT prompt (its text, canary lines removed, is what the hash covers)."""
    return Prompt(BBH_PROMPT, sources.bbh_prompt(task).text, bbh_task=task)


_ANSWER = re.compile(rb"answer is", re.IGNORECASE)
_BLANK_LINE = re.compile(rb"\n[ \t\r]*\n")
_NEXT_QUESTION = re.compile(rb"\n[ \t]*(?:Question|Q)[ \t]*\d*[ \t]*:")


def cut_point(text: bytes) -> int:
    """Where the paper's cut ends a completion (UTF-8 bytes); `len(text)` when nothing is cut.

    The earliest of: the end of the first line containing "answer is" (its newline dropped), a
    blank line, or a line starting a new question. Leading whitespace (the newline after "Let's
    think step by step") is skipped first. All markers are ASCII, so the cut never splits a character.
    """
    start = len(text) - len(text.lstrip())
    cuts = [len(text)]
    answer = _ANSWER.search(text, start)
    if answer:
        end = text.find(b"\n", answer.end())
        cuts.append(len(text) if end < 0 else end)
    for pattern in (_BLANK_LINE, _NEXT_QUESTION):
        match = pattern.search(text, start)
        if match:
            cuts.append(match.start())
    return min(cuts)
