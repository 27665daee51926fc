"""The fast alignment: character offsets through the normalization, linear time, exact where Fu et al.'s DTW transfers.

How: the teacher tokens' text (their bytes joined) is normalized with `normalize_with_origins`,
which says for every normalized character which teacher token produced it. The student target is
`normalize_text` of the raw target (the completion, plus an answer line if it has none), so the
teacher's normalized text is a prefix of it, and every student character is owned by one teacher
token (or by none, after the teacher's text). Where the two texts differ otherwise (teacher
strings that do not spell the completion), characters are matched by a banded DP (a longest
common subsequence, `targets.char_alignment`) and unmatched characters belong to no teacher token. Student spans
come from SentencePiece (`StudentVocab.encode`). One pass over the spans then applies two rules:

1. **identical** (Fu et al.'s rule): the student token's characters are exactly those of one
   teacher token (teacher tokens whose characters all vanished, e.g. a newline folded into the
   next word's space, are ignored), and the student piece equals the teacher string with `' '`
   -> `'▁'`. Its target is `transfer.fu_block`: the same as `dtw`'s, so wherever `dtw`
   transfers with the same teacher token, both give identical rows. (On GSM8K they differ only
   where DTW pairs a student token with an identical string elsewhere, e.g. inside a removed
   `<<...>>` note or one word over; tests/test_align.py checks each such case.)
2. **merged** (extra): the student token is made of teacher tokens that are whitespace only,
   then one teacher token that ends where the student token ends and normalizes to the student
   piece, e.g. `"\\n", "If"` -> `▁If`, `"If"` at the start of the text -> `▁If` (the dummy
   prefix), `" ×"` -> `▁*`. Its target is `transfer.merged_candidates`: by the chain rule over
   the whitespace tokens, each teacher alternative that normalizes to a single student piece
   (with the `▁` the whitespace gives it), mass adding up where several land on one piece. Fu
   et al.'s DTW gives these one-hot targets.

Every other position (numbers split differently, calculator notes, escaped characters, ...) gets
no teacher mass (plain NLL on the sampled text), as in Fu et al.
"""

from __future__ import annotations

import numpy as np

from distill.build.align.student import StudentVocab
from distill.build.align.targets import char_alignment, normalize_with_origins
from distill.build.align.teacher_tokens import TeacherSequence
from distill.build.align.transfer import Block, fu_block, merged_block
from distill.data.normalize import normalize_text


def teacher_owners(teacher: TeacherSequence, normalized: str) -> tuple[np.ndarray, np.ndarray]:
    """(owner, partial): the teacher token of each character of `normalized` (-1: none; len(teacher):
    after the teacher's text), and per teacher token whether it holds part of a character only.
    """
    n = len(teacher)
    lengths = np.fromiter(map(len, teacher.texts), np.int64, n)
    data = b"".join(teacher.texts)
    byte_owner = np.repeat(np.arange(n), lengths)
    try:
        text = data.decode("utf-8")
        starts = None if text.isascii() else np.flatnonzero((np.frombuffer(data, np.uint8) & 0xC0) != 0x80)
    except UnicodeDecodeError:  # strings that are not UTF-8 as a whole: one surrogate per stray byte
        text = data.decode("utf-8", "surrogateescape")
        widths = [1 if "\udc80" <= c <= "\udcff" else len(c.encode("utf-8")) for c in text]
        starts = np.concatenate(([0], np.cumsum(widths)[:-1])).astype(np.int64)
    if starts is None:
        char_owner, partial = byte_owner, np.zeros(n, bool)
    else:
        char_owner = byte_owner[starts]
        at_char = np.zeros(len(data) + 1, bool)
        at_char[starts] = True
        at_char[len(data)] = True
        bounds = np.concatenate(([0], np.cumsum(lengths)))
        partial = ~(at_char[bounds[:-1]] & at_char[bounds[1:]])
    teacher_text, origins = normalize_with_origins(text)
    owner = np.where(origins >= 0, char_owner[np.maximum(origins, 0)], -1)
    if normalized.startswith(teacher_text):
        return np.concatenate((owner, np.full(len(normalized) - len(teacher_text), n))).astype(np.int64), partial
    matched = char_alignment(teacher_text, normalized)
    return np.where(matched >= 0, owner[np.maximum(matched, 0)], -1).astype(np.int64), partial


def blocks(teacher: TeacherSequence, target_text: str, vocab: StudentVocab) -> tuple[np.ndarray, list[Block]]:
    """The student tokens of `normalize_text(target_text)` and where the rules transfer (module docstring)."""
    normalized = normalize_text(target_text)
    ids, starts, ends = vocab.encode(normalized)
    if not (len(teacher) and len(ids)):
        return ids, []
    owner, partial = teacher_owners(teacher, normalized)
    return ids, _apply_rules(teacher, vocab, ids, starts, ends, owner, partial)


def _apply_rules(
    teacher: TeacherSequence,
    vocab: StudentVocab,
    ids: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    owner: np.ndarray,
    partial: np.ndarray,
) -> list[Block]:
    """The `identical` and `merged` blocks (module docstring)."""
    n = len(teacher)
    unknown = owner < 0
    known = teacher.known()
    has_unknown = bool(unknown.any())
    filled = np.maximum.accumulate(owner) if has_unknown else owner
    bounds = np.searchsorted(filled, np.arange(n + 1))  # token t owns characters bounds[t]:bounds[t+1]
    last_owner = filled[np.maximum(ends - 1, 0)]  # the teacher token of the student token's last character
    last = np.minimum(np.maximum(last_owner, 0), n - 1)
    # The student token ends where one teacher token ends, over characters known on both sides.
    ends_together = (ends > starts) & (last_owner < n) & (bounds[last + 1] == ends) & ~partial[last] & known[last]
    if has_unknown:
        unknown_before = np.concatenate(([0], np.cumsum(unknown)))
        ends_together &= (last_owner >= 0) & (unknown_before[ends] == unknown_before[starts])
    # Identical: it also starts where that token starts, and the sampled token maps to its id.
    exact = np.flatnonzero(ends_together & (bounds[last] == starts))
    exact_block = fu_block(teacher, exact.tolist(), last[exact].tolist(), vocab)
    same = exact_block.ids[:, 0] == ids[exact] if len(exact) else np.zeros(0, bool)
    identical = Block(
        "identical", exact[same].tolist(), last[exact[same]].tolist(), exact_block.ids[same], exact_block.logprobs[same]
    )
    ends_together[exact[same]] = False
    texts, known_list, bounds_list = teacher.texts, known.tolist(), bounds.tolist()
    merged: list[tuple[int, int, int, bool]] = []
    for j in np.flatnonzero(ends_together).tolist():
        start, x = int(starts[j]), int(last[j])
        first = x  # extend back over whitespace tokens inside the student token (empty ones attach forward)
        while first and bounds_list[first - 1] >= start and texts[first - 1].isspace() and known_list[first - 1]:
            first -= 1
        after_space = j == 0
        if (
            bounds_list[first] == start
            and (not first or bounds_list[first - 1] < start)
            and vocab.normalized_id(texts[x], after_space or first < x) == ids[j]
        ):
            merged.append((j, first, x, after_space))
    return [identical, merged_block(teacher, merged, vocab)]
