"""Readers for the data files: one function per file format, each returning records with stable ids.

Why separate from the data directory: these take a path, so they can be pointed at any copy of a
file (tests use deliberately broken ones), and `distill.data.sources` adds the data-directory lookup,
sha256 check and caching. A malformed record raises `DataFormatError` naming file, line, field.

Ids are derived from the file, not from load order, so they are stable across runs and machines:
GSM8K `gsm8k-{split}-{row:04d}` (0-based row, the index Hugging Face `gsm8k` and Fu et al.'s
`validation_index.npy` use), MultiArith/AddSub/SingleEq `{dataset}-{iIndex}`, SVAMP
`svamp-{ID}`, ASDiv `asdiv-{row:04d}` (row of `asdiv_2096_pal.jsonl`), BBH `bbh-{task}-{row:03d}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from distill.data.data_dir import DataFormatError
from distill.data.jsonio import JsonAtLine, field, read_json_array, read_jsonl

ANSWER_MARK = "\n####"


@dataclass(frozen=True)
class MathProblem:
    """A math word problem.

    `answer` is canonical (no commas, no trailing zeros: "1080", "-3", "9.43") for metrics;
    `answer_text` is the answer as the source writes it ("1,080"), which Fu et al.'s templates
    put after "The answer is"; `rationale` is GSM8K's gold solution (calculator notes kept, the
    `#### N` line removed), None for datasets without one.
    """

    id: str
    question: str
    answer: str
    answer_text: str
    rationale: str | None = None


@dataclass(frozen=True)
class BBHExample:
    id: str
    task: str
    input: str
    target: str


@dataclass(frozen=True)
class BBHExemplar:
    """One worked example of a BBH CoT prompt: question, chain of thought, final answer (no period)."""

    question: str
    reasoning: str
    answer: str


@dataclass(frozen=True)
class BBHPrompt:
    """A BBH 3-shot CoT prompt with its canary lines removed: full text, task description, exemplars."""

    text: str
    description: str
    exemplars: tuple[BBHExemplar, ...]


def canonical_number(value: object, path: str, line: int, name: str) -> str:
    """A number (int, float or numeric string such as "1,080") as a canonical decimal string."""
    text = str(value).replace(",", "").strip() if not isinstance(value, bool) else ""
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise DataFormatError(path, line, name, f"expected a number, got {value!r:.60}")
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def read_gsm8k(path: str, split: str) -> list[MathProblem]:
    """GSM8K JSONL: {question, answer}; answer = rationale with <<calc>> notes, then "\\n#### N"."""
    problems = []
    for row, record in enumerate(read_jsonl(path)):
        question = field(record, "question", str, path)
        solution = field(record, "answer", str, path)
        if solution.count(ANSWER_MARK) != 1:
            raise DataFormatError(path, record.line, "answer", "expected exactly one '\\n#### <number>' line")
        rationale, answer_text = solution.split(ANSWER_MARK)
        answer_text = answer_text.strip()
        answer = canonical_number(answer_text, path, record.line, "answer")
        problems.append(MathProblem(f"gsm8k-{split}-{row:04d}", question, answer, answer_text, rationale))
    return problems


def _unique(problems: list[MathProblem], records: list[JsonAtLine], path: str, id_field: str) -> list[MathProblem]:
    seen: dict[str, int] = {}
    for problem, record in zip(problems, records, strict=True):
        if problem.id in seen:
            problem_text = f"duplicate id {problem.id} (first on line {seen[problem.id]})"
            raise DataFormatError(path, record.line, id_field, problem_text)
        seen[problem.id] = record.line
    return problems


def read_mawps(path: str, dataset: str) -> list[MathProblem]:
    """MultiArith / AddSub / SingleEq JSON (Kojima et al.'s copies): sQuestion, lSolutions[0], iIndex."""
    records = read_json_array(path)
    problems = []
    for record in records:
        index = field(record, "iIndex", int, path)
        question = field(record, "sQuestion", str, path).strip()
        solutions = field(record, "lSolutions", list, path)
        if not solutions:
            raise DataFormatError(path, record.line, "lSolutions", "empty list")
        answer = canonical_number(solutions[0], path, record.line, "lSolutions")
        problems.append(MathProblem(f"{dataset}-{index}", question, answer, answer))
    return _unique(problems, records, path, "iIndex")


def read_svamp(path: str) -> list[MathProblem]:
    """SVAMP JSON: question = Body + " " + Question, answer = Answer."""
    records = read_json_array(path)
    problems = []
    for record in records:
        ident = field(record, "ID", str, path)
        question = field(record, "Body", str, path) + " " + field(record, "Question", str, path)
        answer = canonical_number(field(record, "Answer", (int, float), path), path, record.line, "Answer")
        problems.append(MathProblem(f"svamp-{ident}", question.strip(), answer, answer))
    return _unique(problems, records, path, "ID")


def read_asdiv(path: str) -> list[MathProblem]:
    """ASDiv's 2,096-problem numeric subset (PAL's asdiv.jsonl): {input, target}."""
    problems = []
    for row, record in enumerate(read_jsonl(path)):
        question = field(record, "input", str, path).strip()
        answer = canonical_number(field(record, "target", (int, float), path), path, record.line, "target")
        problems.append(MathProblem(f"asdiv-{row:04d}", question, answer, answer))
    return problems


def read_bbh_task(path: str, task: str) -> list[BBHExample]:
    """A BBH task file: {"canary": ..., "examples": [{input, target}, ...]}."""
    examples = []
    for row, record in enumerate(read_json_array(path, key="examples")):
        text = field(record, "input", str, path)
        target = field(record, "target", str, path)
        examples.append(BBHExample(f"bbh-{task}-{row:03d}", task, text, target))
    return examples


_CANARY = re.compile(r"canary GUID|BENCHMARK DATA SHOULD NEVER APPEAR", re.IGNORECASE)
_FINAL = "So the answer is "


def read_bbh_prompt(path: str) -> BBHPrompt:
    """A BBH cot-prompts/*.txt: canary line and '-----' separator dropped, then 'Q: ... A: ...' exemplars."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    first = 0
    while first < len(lines) and (_CANARY.search(lines[first]) or lines[first].strip() in ("-----", "")):
        first += 1
    text = "\n".join(lines[first:]).strip()
    description, *blocks = text.split("\n\nQ: ")
    if not blocks:
        raise DataFormatError(path, first + 1, "Q:", "no 'Q: ... A: ...' exemplar found")
    exemplars, offset = [], len(description)
    for block in blocks:
        line = first + 1 + text.count("\n", 0, offset) + 2
        offset += len("\n\nQ: ") + len(block)
        question, has_answer, reply = block.partition("\nA: ")
        if not has_answer:
            raise DataFormatError(path, line, "A:", "exemplar without an 'A:' line")
        if _FINAL not in reply:
            raise DataFormatError(path, line, "A:", f"exemplar without '{_FINAL.strip()}'")
        reasoning, answer = reply.rsplit(_FINAL, 1)
        answer = answer.strip().removesuffix(".")
        exemplars.append(BBHExemplar(question, reasoning.strip(), answer))
    return BBHPrompt(text, description.strip(), tuple(exemplars))
