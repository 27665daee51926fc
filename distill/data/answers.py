"""Answer extraction and metrics for math word problems and BIG-Bench Hard (BBH).

Model outputs are free text, so every number this project reports depends on how an answer is read
out of that text. The rules here follow the original code (Fu et al. 2023, paper-method.md sections
1.3, 5.2 and 5.3) and fix its known weak spots (e.g. "1,000" read as 0, no fractions, substring
matching that accepts "(A) or (B)").

Shared rules
  * The answer marker is "answer is" (as in "The answer is 18" and "So the answer is (A)"), or
    "answer:"; math also accepts GSM8K's "#### 18". The FIRST marker whose answer span yields an
    answer wins: models that were not given a stop sequence keep writing a new "Q: ..." with its
    own "The answer is ...", and the original code also keeps only the text up to the first
    "answer is" line.
  * A runaway continuation ("... Q: <a new question>") is cut off before anything is read.
  * The answer span is the text after the marker up to the end of its sentence (a newline, or
    ".", "!", "?" or ";" followed by whitespace, a capital or the end), so "3.5" and "$1,234.50."
    survive.

Math (`extract_math_answer`): the first number in the answer span (after the last "=" there, for
"The answer is 5 + 4 = 9"), else a number written in words ("twelve"), else the last number of the
text before the marker (the original code's rule). Numbers may carry a currency sign, thousands
separators, decimals, a sign, a percent sign (50% reads as 50: GSM8K gold answers state percents
as the number) and units; "3/4" and "1 1/2" are fractions.

BBH (`extract_bbh_answer`): the answer span is read according to the task's answer type (see
`BBH_ANSWER_TYPES`) and returned in the dataset's own spelling, so an extracted answer compares
equal to the task's gold `target` string. Text with no marker is read as if it followed the marker:
that is the answer-only protocol (the prompt ends with "the answer is "), and how gold targets
("(A)", "True", "] ) )") are read.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

# ---------------------------------------------------------------------------------------------
# Shared text handling
# ---------------------------------------------------------------------------------------------

# "answer is" / "answer:" (e.g. "The answer is", "So the answer is:", "Final answer: 7").
_MARKER = re.compile(r"\banswer\s+is\b\s*:?|\banswer\s*:", re.IGNORECASE)
# GSM8K gold rationales end with "#### <answer>".
_MATH_MARKER = re.compile(_MARKER.pattern + r"|####", re.IGNORECASE)
# A new question the model started writing after its own answer ("... Q: ...", "Question 2: ...").
_CONTINUATION = re.compile(r"(?:^|\s)(?:Q|Question)\s*\d*\s*:\s")
# End of the answer's sentence: a newline, or terminal punctuation followed by a space, the end,
# or a capital ("18.So ..." from outputs decoded without spaces); not the point in "3.5".
_SENTENCE_END = re.compile(r"\n|[.!?;](?=\s|$|[A-Z])")
# Leading noise between the marker and the answer: spaces, quotes, colons, markdown emphasis.
_LEADING_NOISE = " \t\r\n\"'`*:="
# A list bullet ("- valid", copied from the options list); "-3" is a number, not a bullet.
_BULLET = re.compile(r"^[-•]\s+")
_TRAILING_NOISE = " \t\r\n\"'`*.,;:!?"


def _as_text(text: str | bytes) -> str:
    """Decode bytes: seqio may hand over `targets_pretokenized` as bytes."""
    return text.decode("utf-8") if isinstance(text, bytes) else text


def _cut_continuation(text: str) -> str:
    """Drop a new question the model wrote after answering, so its numbers cannot be read."""
    match = _CONTINUATION.search(text, 1)
    return text[: match.start()] if match else text


def _first_sentence(text: str) -> str:
    """The text up to the end of its first sentence, without leading noise or a list bullet."""
    text = _BULLET.sub("", text.lstrip(_LEADING_NOISE))
    match = _SENTENCE_END.search(text)
    return text[: match.start()] if match else text


def _answer_spans(text: str, marker: re.Pattern[str]) -> tuple[list[str], str, bool]:
    """The sentence after each marker, the text before the first marker, and whether any was found.

    With no marker the single span is the whole text (answer-only outputs and gold targets).
    """
    text = _cut_continuation(text)
    matches = list(marker.finditer(text))
    if not matches:
        return [_first_sentence(text)], text, False
    return [_first_sentence(text[m.end() :]) for m in matches], text[: matches[0].start()], True


# ---------------------------------------------------------------------------------------------
# Math
# ---------------------------------------------------------------------------------------------

# Tolerances of `math_answers_equal`; see there.
MATH_ABS_TOL = 1e-6
MATH_REL_TOL = 1e-12

_CURRENCY = "$£€¥₹"
# One number: optional sign (not a binary minus: "10-3" is not -3), optional currency sign,
# then a mixed number ("1 1/2"), a fraction ("3/4"), or a decimal with optional thousands
# separators ("1,234.50", ".5"). The lookbehind keeps digits glued to a word ("x2") or to a
# decimal point out.
_NUMBER = re.compile(
    rf"""
    (?:(?<![\w.)])(?P<sign>[-−]))?
    (?:[{_CURRENCY}]\s?)?
    (?<![\w.])
    (?:
        (?P<whole>\d+)\s(?P<mnum>\d+)/(?P<mden>0*[1-9]\d*)(?![\d.,]\d)
      | (?P<num>\d+)\s?/\s?(?P<den>0*[1-9]\d*)(?![\d.,]\d)
      | (?P<dec>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?(?![\d,]\d)|\d+(?:\.\d+)?|\.\d+)
    )
    """,
    re.VERBOSE,
)

_UNITS = {
    word: value
    for value, word in enumerate(
        [
            *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
            *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"),
        ]
    )
}
_TENS = {
    word: 10 * value
    for value, word in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], 2)
}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER_WORDS = re.compile(
    r"\b(?:negative\s+|minus\s+)?(?:(?:" + "|".join([*_UNITS, *_TENS, *_SCALES]) + r")(?:[\s-]+(?:and[\s-]+)?|\b))+",
    re.IGNORECASE,
)


def _number_value(match: re.Match[str]) -> float:
    """The value of one `_NUMBER` match."""
    if match["whole"] is not None:
        numerator, denominator = int(match["mnum"]), int(match["mden"])
        value = int(match["whole"]) + numerator / denominator
        if numerator >= denominator:  # "3 4/2" is not a mixed number; read the fraction only
            value = numerator / denominator
    elif match["num"] is not None:
        value = int(match["num"]) / int(match["den"])
    else:
        value = float(match["dec"].replace(",", ""))
    return -value if match["sign"] else value


def _numbers(text: str) -> list[float]:
    """All numbers written with digits in `text`, in order."""
    return [_number_value(m) for m in _NUMBER.finditer(text)]


def _words_to_number(text: str) -> float | None:
    """The first number written in words ("twelve", "one hundred and five"), else None.

    Only read inside an answer span: students sometimes spell the final answer out.
    """
    match = _NUMBER_WORDS.search(text)
    if not match:
        return None
    words = re.findall(r"[a-z]+", match.group().lower())
    sign = -1.0 if words[0] in ("negative", "minus") else 1.0
    total = current = 0
    for word in words:
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word in _SCALES:
            total += max(current, 1) * _SCALES[word]
            current = 0
    return sign * (total + current)


def _number_in_span(span: str) -> float | None:
    """The answer in one answer span: the first number after its last "=", else a number word."""
    tail = span.rsplit("=", 1)[-1]
    numbers = _numbers(tail) or _numbers(span)
    if numbers:
        return numbers[0]
    return _words_to_number(span)


def extract_math_answer(text: str) -> float | None:
    """The numeric answer of a math output or gold text, or None if it states no number.

    Prefers the first "The answer is X" (or "#### X") that holds a number; otherwise the last
    number before that marker (or in the whole text), as the original code does.
    """
    spans, before, marked = _answer_spans(_as_text(text), _MATH_MARKER)
    if marked:
        for span in spans:
            value = _number_in_span(span)
            if value is not None:
                return value
    numbers = _numbers(before)
    if numbers:
        return numbers[-1]
    # No digits and no marker: only an answer-only output made of number words ("twelve.").
    if not marked and _NUMBER_WORDS.fullmatch(spans[0].strip(_TRAILING_NOISE)):
        return _words_to_number(spans[0])
    return None


def math_answers_equal(prediction: float | None, gold: float) -> bool:
    """Numeric equality with a tolerance that only absorbs floating-point noise.

    Equal iff |prediction - gold| <= max(1e-6, 1e-12 * |gold|) (`math.isclose` with
    abs_tol=1e-6, rel_tol=1e-12; the relative part only matters beyond 1e6, where float spacing
    of computed values can exceed 1e-6). That makes "3/4" equal 0.75 and "0.1 + 0.2"-style float
    noise harmless, while a rounded answer is still wrong: 0.33 is not 1/3, 0.67 is not 2/3, and
    50 (percent) is not 0.5. The datasets' answers are integers or cents, far coarser than 1e-6.
    None (no answer) is never equal.
    """
    if prediction is None or gold is None or math.isnan(prediction) or math.isnan(gold):
        return False
    return math.isclose(prediction, gold, rel_tol=MATH_REL_TOL, abs_tol=MATH_ABS_TOL)


def _format_number(value: float) -> str:
    """Canonical string of a number: integers without ".0", others with 15 significant digits.

    15 digits round away float noise ("0.30000000000000004" -> "0.3") and stay far inside the
    1e-6 tolerance of `math_answers_equal`.
    """
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.15g}"


def math_postprocessor(output: str, example: dict | None = None, is_target: bool = False) -> str:
    """seqio postprocess_fn: the extracted answer as a canonical number string, "" if none.

    The same rules read predictions and gold targets (a bare "18", "The answer is 18.", a GSM8K
    "... #### 18" rationale, or an ASDiv "9 (apples)"); `example` and `is_target` are unused.
    A gold text without a number gives "" and is scored wrong, as in the original code.
    """
    del example, is_target
    value = extract_math_answer(output)
    return "" if value is None else _format_number(value)


def _as_number(text: str) -> float | None:
    """A postprocessed answer string as a number (raw text is extracted, so both work)."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return extract_math_answer(text)


def _check_lengths(targets: Sequence[str], predictions: Sequence[str]) -> int:
    if len(targets) != len(predictions):
        raise ValueError(f"{len(targets)} targets but {len(predictions)} predictions")
    return len(targets)


def math_accuracy(targets: Sequence[str], predictions: Sequence[str]) -> dict[str, float]:
    """seqio metric_fn: accuracy (%) under `math_answers_equal`, and % of predictions with no answer.

    Accuracy is over all examples (correct / all), so unanswered and gold-without-number examples
    count as wrong.
    """
    n = _check_lengths(targets, predictions)
    if n == 0:
        return {"accuracy": 0.0, "no_answer": 0.0}
    correct = no_answer = 0
    for target, prediction in zip(targets, predictions, strict=True):
        predicted = _as_number(prediction)
        gold = _as_number(target)
        no_answer += predicted is None
        correct += gold is not None and math_answers_equal(predicted, gold)
    return {"accuracy": 100.0 * correct / n, "no_answer": 100.0 * no_answer / n}


# ---------------------------------------------------------------------------------------------
# BIG-Bench Hard
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Self-consistency
# ---------------------------------------------------------------------------------------------


def majority_vote(answers: Sequence[str | None]) -> str | None:
    """The most frequent answer among N sampled outputs (self-consistency), None if none answered.

    None and "" (no extractable answer) do not vote. Answers are compared as strings, so pass
    postprocessed (canonical) answers: "18" and "18.0" are then already one answer. Ties go to
    the tied answer that occurs first in `answers`, so the result is deterministic and, when
    sample 0 is the greedy output, prefers it.
    """
    counts = Counter(answer for answer in answers if answer is not None and answer != "")
    if not counts:
        return None
    # Counter keeps first-occurrence order and max() returns the first maximal key.
    return max(counts, key=counts.__getitem__)
