"""Student target text from a teacher completion, and where each normalized character came from.

Why: the student is trained on `distill.data.normalize.normalize_text` of its target (calculator notes
removed, characters T5 lacks escaped or folded, whitespace runs folded to one space), so the
student's text is not the teacher's. To map teacher tokens onto student tokens in linear time,
`normalize_with_origins` runs the same normalization while recording, for every output
character, the input character it came from; the result is checked against `normalize_text`
itself, so there is one normalization and this module only tracks it. Conventions:

* a replacement's characters (`&lt;` for `<`, `1/2` for `½`) come from the replaced character;
* a folded whitespace run's single space comes from the run's *last* character, the one that
  precedes the next word: GPT-style tokens carry their leading space (`" 24"`), as
  SentencePiece's `▁24` does, so the space lands in the same token on both sides;
* removed characters (calculator notes, leading/trailing whitespace) have no output character.

Where texts differ in a way the normalization does not explain (teacher token strings that do not
spell the completion), `char_alignment` matches characters by an edit-distance DP, banded and
limited to the stretch between the common prefix and suffix.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from distill.data.formats import ANSWER_PREFIX
from distill.data.normalize import _NON_ASCII, ASCII_ESCAPES, CALCULATOR_NOTE, _non_ascii, normalize_text

_ESCAPABLE = re.compile("|".join(re.escape(c) for c in ASCII_ESCAPES))
_WORD = re.compile(r"\S+")
_ASCII_SPACE = np.array([chr(c).isspace() for c in range(128)])
_ANSWER_MARK = ANSWER_PREFIX.strip().lower()


def cot_target_text(completion: str, answer: str) -> str:
    """The raw CoT target for a teacher completion (before `normalize_text`).

    The completion itself when its last line states the answer (Fu et al. cut completions after
    the first line with "answer is"), else the completion and `"\\nThe answer is " + answer`, the
    line `distill.data.formats.math_target` ends every CoT target with.
    """
    lines = completion.rstrip().rsplit("\n", 1)
    if _ANSWER_MARK in lines[-1].lower():
        return completion
    return f"{completion}\n{ANSWER_PREFIX}{answer}"


def normalize_with_origins(text: str) -> tuple[str, np.ndarray]:
    """(`normalize_text(text)`, origins): origins[k] is the index in `text` of output character k.

    An origin is -1 only if `normalize_text` ever does something this tracking does not know;
    then the characters are matched by `char_alignment`, and unmatched ones have no origin.
    """
    origins = np.arange(len(text))
    out = text
    if "<<" in out:
        out, origins = _substitute(CALCULATOR_NOTE, lambda m: ((), ()), out, origins)
    if not out.isascii():
        out, origins = _substitute(_NON_ASCII, _non_ascii_pieces, out, origins)
    if _ESCAPABLE.search(out):
        out, origins = _substitute(_ESCAPABLE, lambda m: ((ASCII_ESCAPES[m.group()],), (m.start(),)), out, origins)
    out, origins = _fold_whitespace(out, origins)
    expected = normalize_text(text)
    if out != expected:  # normalize_text changed under us: recover the origins by matching characters
        return expected, char_alignment(text, expected)
    return out, origins


Pieces = tuple[tuple[str, ...], tuple[int, ...]]


def _non_ascii_pieces(match: re.Match[str]) -> Pieces:
    """normalize's non-ASCII rewrite: the optional digit stays itself, the rest comes from the character."""
    digit = match.group(1)
    rewritten = _non_ascii(match)[len(digit) :]
    return (digit, rewritten), (match.start(1), match.start(2))


def _substitute(
    pattern: re.Pattern[str], pieces: Callable[[re.Match[str]], Pieces], text: str, origins: np.ndarray
) -> tuple[str, np.ndarray]:
    parts: list[str] = []
    index: list[np.ndarray] = []
    position = 0
    for match in pattern.finditer(text):
        parts.append(text[position : match.start()])
        index.append(np.arange(position, match.start()))
        for piece, source in zip(*pieces(match), strict=True):
            parts.append(piece)
            index.append(np.full(len(piece), source))
        position = match.end()
    parts.append(text[position:])
    index.append(np.arange(position, len(text)))
    return "".join(parts), origins[np.concatenate(index).astype(np.int64)]


def _fold_whitespace(text: str, origins: np.ndarray) -> tuple[str, np.ndarray]:
    """`" ".join(text.split())`, each space taken from the last character of its run."""
    if text.isascii():
        codes = np.frombuffer(text.encode("ascii"), np.uint8)
        space = _ASCII_SPACE[codes]
        keep = ~space
        keep[:-1] |= space[:-1] & ~space[1:]  # the last character of a run before a word
        if keep.any():
            keep[: np.argmax(~space)] = False  # no leading run
        kept = codes[keep]
        kept[space[keep]] = ord(" ")
        return kept.tobytes().decode("ascii"), origins[keep]
    parts: list[str] = []
    index: list[int] = []
    for number, word in enumerate(_WORD.finditer(text)):
        start, end = word.span()
        if number:
            parts.append(" ")
            index.append(start - 1)
        parts.append(text[start:end])
        index.extend(range(start, end))
    return "".join(parts), origins[np.asarray(index, np.int64)]


def char_alignment(source: str, target: str, band: int = 16) -> np.ndarray:
    """For each character of `target`, the index of an equal character of `source` it is aligned to, or -1.

    A longest common subsequence (edit distance with insertions and deletions only), computed only
    between the common prefix and suffix and within `band` (plus the length difference) of the
    diagonal, so the cost is linear in the length for texts that differ in a few places.
    """
    result = np.full(len(target), -1, np.int64)
    prefix = 0
    limit = min(len(source), len(target))
    while prefix < limit and source[prefix] == target[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and source[-1 - suffix] == target[-1 - suffix]:
        suffix += 1
    result[:prefix] = np.arange(prefix)
    if suffix:
        result[len(target) - suffix :] = np.arange(len(source) - suffix, len(source))
    middle_source = source[prefix : len(source) - suffix]
    middle_target = target[prefix : len(target) - suffix]
    for t, s in _banded_matches(middle_source, middle_target, band):
        result[prefix + t] = prefix + s
    return result


def _banded_matches(source: str, target: str, band: int) -> list[tuple[int, int]]:
    """(target index, source index) pairs of equal characters on a minimum insert/delete path."""
    n, m = len(source), len(target)
    if not n or not m:
        return []
    width = band + abs(n - m)
    inf = n + m + 1
    # rows[i][j], for j in the band: insertions + deletions turning source[:i] into target[:j].
    rows: list[dict[int, int]] = [{j: j for j in range(min(m, width) + 1)}]
    for i in range(1, n + 1):
        previous, row = rows[-1], {}
        center = i * m // n
        for j in range(max(0, center - width), min(m, center + width) + 1):
            best = previous.get(j, inf) + 1
            if j:
                best = min(best, row.get(j - 1, inf) + 1)
                if source[i - 1] == target[j - 1]:
                    best = min(best, previous.get(j - 1, inf))
            row[j] = best
        rows.append(row)
    pairs = []
    i, j = n, m
    while i and j:
        here = rows[i].get(j, inf)
        if source[i - 1] == target[j - 1] and here == rows[i - 1].get(j - 1, inf):
            pairs.append((j - 1, i - 1))
            i, j = i - 1, j - 1
        elif here == rows[i - 1].get(j, inf) + 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]
