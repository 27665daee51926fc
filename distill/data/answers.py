"""Answer extraction and metrics for math word problems, the rules shared with BIG-Bench Hard, and majority vote.

Model outputs are free text, so every number this project reports depends on how an answer is read
out of that text. The rules here follow the original code (Fu et al. 2023, docs/method.md sections
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
BIG-Bench Hard answers are read in `distill.data.bbh_answers` with the same shared rules.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

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
