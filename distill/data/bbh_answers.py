"""Answer extraction and metrics for BIG-Bench Hard (BBH), on the shared rules of `distill.data.answers`.

BBH (`extract_bbh_answer`): the answer span is read according to the task's answer type (see
`BBH_ANSWER_TYPES`) and returned in the dataset's own spelling, so an extracted answer compares
equal to the task's gold `target` string. Text with no marker is read as if it followed the marker:
that is the answer-only protocol (the prompt ends with "the answer is "), and how gold targets
("(A)", "True", "] ) )") are read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from distill.data.answers import (
    _MARKER,
    _TRAILING_NOISE,
    _answer_spans,
    _as_text,
    _check_lengths,
    _format_number,
    _number_in_span,
)

# Answer types, from the tasks' gold targets (bbh/*.json) and CoT prompts (cot-prompts/*.txt).
MULTIPLE_CHOICE = "multiple_choice"  # "(A)" ... "(R)"
TRUE_FALSE = "true_false"  # "True" / "False"
YES_NO = "yes_no"  # "Yes" / "No"
PLAUSIBILITY = "plausibility"  # "yes" / "no" (lower case): "Is the following sentence plausible?"
VALID_INVALID = "valid_invalid"  # "valid" / "invalid"
NUMBER = "number"  # an integer, possibly negative: "-35", "8"
WORD_LIST = "word_list"  # lower-case words separated by single spaces: "costume counterpart oven"
DYCK = "dyck"  # closing brackets separated by single spaces: "] } ]"

BBH_ANSWER_TYPES: dict[str, str] = {
    "boolean_expressions": TRUE_FALSE,
    "causal_judgement": YES_NO,
    "date_understanding": MULTIPLE_CHOICE,
    "disambiguation_qa": MULTIPLE_CHOICE,
    "dyck_languages": DYCK,
    "formal_fallacies": VALID_INVALID,
    "geometric_shapes": MULTIPLE_CHOICE,
    "hyperbaton": MULTIPLE_CHOICE,
    "logical_deduction_five_objects": MULTIPLE_CHOICE,
    "logical_deduction_seven_objects": MULTIPLE_CHOICE,
    "logical_deduction_three_objects": MULTIPLE_CHOICE,
    # Also one free-text target ("Monsters, Inc") where an option holding a comma was split.
    "movie_recommendation": MULTIPLE_CHOICE,
    "multistep_arithmetic_two": NUMBER,
    "navigate": YES_NO,
    "object_counting": NUMBER,
    "penguins_in_a_table": MULTIPLE_CHOICE,
    "reasoning_about_colored_objects": MULTIPLE_CHOICE,
    # Also two free-text targets ("dearth, wind, & fire", "rita, sue and bob poo"), as above.
    "ruin_names": MULTIPLE_CHOICE,
    "salient_translation_error_detection": MULTIPLE_CHOICE,
    "snarks": MULTIPLE_CHOICE,
    "sports_understanding": PLAUSIBILITY,
    "temporal_sequences": MULTIPLE_CHOICE,
    "tracking_shuffled_objects_five_objects": MULTIPLE_CHOICE,
    "tracking_shuffled_objects_seven_objects": MULTIPLE_CHOICE,
    "tracking_shuffled_objects_three_objects": MULTIPLE_CHOICE,
    "web_of_lies": YES_NO,
    "word_sorting": WORD_LIST,
}

# Binary types: accepted words (lower case) -> the dataset's spelling. "not valid" and
# "not plausible" are plain English for the negative option; "not True" / "not yes" are not
# accepted (they read as expressions, not answers).
_CHOICES: dict[str, dict[str, str]] = {
    TRUE_FALSE: {"true": "True", "false": "False"},
    YES_NO: {"yes": "Yes", "no": "No"},
    PLAUSIBILITY: {
        "yes": "yes",
        "no": "no",
        "plausible": "yes",
        "implausible": "no",
        "not plausible": "no",
        "unplausible": "no",
    },
    VALID_INVALID: {"valid": "valid", "invalid": "invalid", "not valid": "invalid"},
}
# Option words distinctive enough to be found anywhere in an answer span (not "yes", "no",
# "true": "there is no way to know" does not answer "No").
_SEARCHABLE: dict[str, tuple[str, ...]] = {
    VALID_INVALID: ("valid", "invalid", "not valid"),
    PLAUSIBILITY: ("plausible", "implausible", "not plausible", "unplausible"),
}


def _words_pattern(words: Sequence[str]) -> re.Pattern[str]:
    """A case-insensitive pattern for whole words or phrases, longest first ("not valid" > "valid")."""
    alternatives = sorted((re.escape(word).replace(r"\ ", r"\s+") for word in words), key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(alternatives) + r")\b", re.IGNORECASE)


_CHOICE_PATTERNS = {kind: _words_pattern(list(words)) for kind, words in _CHOICES.items()}
_SEARCH_PATTERNS = {kind: _words_pattern(words) for kind, words in _SEARCHABLE.items()}

_LETTER_IN_PARENS = re.compile(r"\(([A-Za-z])\)")
_LEADING_LETTER = re.compile(
    r"(?:(?:option|choice)\s+)?(?:\(([A-Za-z])\)|([A-Z])\)|([A-Z])(?=\s*(?:[.,;:!?]|$)))",
    re.IGNORECASE,
)
_CLOSERS = ")]}>"
_LEADING_CLOSERS = re.compile(r"[\s)\]}>]+")
_WORD = re.compile(r"[a-z][a-z'&-]*")


def _read_choice(span: str, kind: str, marked: bool) -> str | None:
    """A binary answer: the leading option word, else (after a marker) the only one in the span.

    The second rule only holds for option words that are not everyday English ("valid",
    "plausible"): "So the answer is that the argument is invalid." gives "invalid", and a span
    naming both options ("valid or invalid") is ambiguous and gives None. For yes/no and
    true/false the answer must lead the span ("there is no way to know" is not "No").
    """
    pattern, spelling = _CHOICE_PATTERNS[kind], _CHOICES[kind]
    leading = pattern.match(span)
    if leading:
        return spelling[" ".join(leading.group(1).lower().split())]
    if not marked or kind not in _SEARCH_PATTERNS:
        return None
    found = {spelling[" ".join(m.group(1).lower().split())] for m in _SEARCH_PATTERNS[kind].finditer(span)}
    return found.pop() if len(found) == 1 else None


def _read_multiple_choice(span: str, marked: bool) -> str | None:
    """A letter option as "(X)": "(A)", "(a)", "A.", "A)", "option A", "(B) the bark knight rises".

    A bare letter counts only when the sentence ends after it, so "A man ..." or "I think (B)"
    are not read as options (A) or (I).

    After a marker, a span whose only lettered option is "(C)" gives "(C)" ("So the answer is
    the third one, (C)."), and a span with no letter is taken as free text (a few gold targets
    are option texts, e.g. "Monsters, Inc"). Without a marker only a leading letter counts, so a
    chain of thought that never answers is not read as "the first option it mentions".
    """
    leading = _LEADING_LETTER.match(span)
    if leading:
        letter = next(group for group in leading.groups() if group)
        return f"({letter.upper()})"
    if not marked:
        return None
    letters = {m.group(1).upper() for m in _LETTER_IN_PARENS.finditer(span)}
    if len(letters) == 1:
        return f"({letters.pop()})"
    if letters:
        return None
    return _free_text(span)


def _free_text(span: str) -> str | None:
    """An answer given as text: trimmed of quotes and final punctuation, spaces collapsed."""
    text = " ".join(span.strip(_TRAILING_NOISE).split())
    return text or None


def _read_number(span: str) -> str | None:
    """An integer answer (multistep_arithmetic_two, object_counting), as its canonical string."""
    value = _number_in_span(span)
    return None if value is None else _format_number(value)


def _read_word_list(span: str) -> str | None:
    """Sorted words as "a b c": lower-cased; quotes, commas, brackets dropped; single spaces.

    Every token must look like a word, so a chain of thought ("The first letter: ...") is not
    read as a word list.
    """
    for char in ',"[]*':
        span = span.replace(char, " ")
    words = [token.strip("'`") for token in span.lower().split()]
    if not words or not all(_WORD.fullmatch(word) for word in words):
        return None
    return " ".join(words)


def _read_dyck(span: str) -> str | None:
    """The leading run of closing brackets, one per token: "] } ]" (also from "]}]").

    A span that starts with an opening bracket (the model repeated the input) gives None.
    """
    match = _LEADING_CLOSERS.match(span)
    closers = [char for char in match.group() if char in _CLOSERS] if match else []
    return " ".join(closers) or None


def _read_bbh_span(span: str, kind: str, marked: bool) -> str | None:
    """Dispatch one answer span to the reader of its answer type."""
    if kind in _CHOICES:
        return _read_choice(span, kind, marked)
    if kind == MULTIPLE_CHOICE:
        return _read_multiple_choice(span, marked)
    if kind == NUMBER:
        return _read_number(span)
    if kind == WORD_LIST:
        return _read_word_list(span)
    if kind == DYCK:
        return _read_dyck(span)
    raise ValueError(f"unknown BBH answer type {kind!r}")


def _answer_type(task: str) -> str:
    try:
        return BBH_ANSWER_TYPES[task]
    except KeyError:
        raise ValueError(f"unknown BBH task {task!r}; known: {', '.join(sorted(BBH_ANSWER_TYPES))}") from None


def extract_bbh_answer(text: str, task: str) -> str | None:
    """The answer of a BBH output (or gold target) in the task's gold spelling, or None.

    Reads the first "So the answer is ..." span that yields an answer of the task's type; text
    without a marker is read as an answer-only output (its leading answer).
    """
    kind = _answer_type(task)
    spans, _, marked = _answer_spans(_as_text(text), _MARKER)
    for span in spans:
        answer = _read_bbh_span(span, kind, marked)
        if answer is not None:
            return answer
    return None


def bbh_postprocessor(task: str) -> Callable[..., str]:
    """A seqio postprocess_fn for one BBH task: the extracted answer, "" if none.

    A gold target is an answer by definition: one that no reader recognises is kept as free
    text rather than turned into "no answer".
    """
    _answer_type(task)

    def postprocess(output: str, example: dict | None = None, is_target: bool = False) -> str:
        del example
        answer = extract_bbh_answer(output, task)
        if answer is None and is_target:
            answer = _free_text(_as_text(output))
        return answer or ""

    postprocess.__name__ = f"bbh_postprocess_{task}"
    postprocess.__qualname__ = postprocess.__name__
    return postprocess


def bbh_accuracy(targets: Sequence[str], predictions: Sequence[str]) -> dict[str, float]:
    """seqio metric_fn: exact-match accuracy (%) of postprocessed answers, and % with no answer.

    An empty target never matches (not even an empty prediction).
    """
    n = _check_lengths(targets, predictions)
    if n == 0:
        return {"accuracy": 0.0, "no_answer": 0.0}
    correct = sum(bool(t) and t == p for t, p in zip(targets, predictions, strict=True))
    no_answer = sum(not p for p in predictions)
    return {"accuracy": 100.0 * correct / n, "no_answer": 100.0 * no_answer / n}
