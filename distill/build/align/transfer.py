"""Teacher distributions at student positions: the candidates each alignment rule transfers, as [len, K] rows.

Both aligners (`dtw`, `fast`) decide *where* the teacher's distribution applies; this module
decides *what* it is, so the two agree by construction wherever they choose the same teacher
token. A rule yields candidates (student ids, -1 for none, and log-probs); `rows` de-duplicates
them keeping the first, drops the -1s and keeps the K most likely, for all positions at once.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from distill.build.align.student import StudentVocab
from distill.build.align.teacher_tokens import TeacherSequence
from distill.contracts.distill_examples import NO_MASS, no_mass_rows

RULES = ("identical", "merged")  # `Alignment.rule` codes 1, 2 (0: nothing transferred)


@dataclasses.dataclass
class Block:
    """Student `positions` where `rule` applies, the teacher token each one ends with, [P, W] candidates."""

    rule: str
    positions: list[int] | np.ndarray
    tokens: list[int] | np.ndarray
    ids: np.ndarray
    logprobs: np.ndarray


@dataclasses.dataclass
class Alignment:
    """Student target ids and per position the teacher's top-K (ids 0 and `NO_MASS` where nothing transfers).

    `rule[j]` says which rule filled position j (index into ("none",) + RULES) and `source[j]` the
    teacher token it came from (the last one for `merged`; -1: none). `counts` has `positions`,
    `transferred` and one count per rule.
    """

    targets: np.ndarray
    teacher_ids: np.ndarray
    teacher_logprobs: np.ndarray
    rule: np.ndarray
    source: np.ndarray
    counts: dict[str, int]


def alignments(parts: list[tuple[np.ndarray, list[Block]]], k: int) -> list[Alignment]:
    """The `Alignment` of each (student targets, blocks filling them), computed for all at once."""
    lengths = [len(targets) for targets, _ in parts]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    blocks, positions = [], []  # the non-empty blocks, and their positions in the concatenated targets
    for (_, part_blocks), offset in zip(parts, offsets, strict=False):
        for block in part_blocks:
            if len(block.positions):
                blocks.append(block)
                positions.append(np.asarray(block.positions, np.int64) + offset)
    teacher_ids, teacher_logprobs = rows(int(offsets[-1]), k, blocks, positions)
    rule = np.zeros(int(offsets[-1]), np.int8)
    source = np.full(int(offsets[-1]), -1, np.int64)
    for block, where in zip(blocks, positions, strict=True):
        rule[where] = RULES.index(block.rule) + 1
        source[where] = block.tokens
    has_mass = np.concatenate(([0], np.cumsum(np.isfinite(teacher_logprobs[:, 0]))))
    results = []
    for i, (targets, part_blocks) in enumerate(parts):
        start, stop = offsets[i], offsets[i + 1]
        counts = {"positions": len(targets), "transferred": int(has_mass[stop] - has_mass[start])}
        for block in part_blocks:
            counts[block.rule] = counts.get(block.rule, 0) + len(block.positions)
        part = slice(start, stop)
        results.append(Alignment(targets, teacher_ids[part], teacher_logprobs[part], rule[part], source[part], counts))
    return results


def fu_block(teacher: TeacherSequence, positions: list[int], tokens: list[int], vocab: StudentVocab) -> Block:
    """Fu et al.'s targets for student `positions` identical to teacher `tokens` (docs/method.md 3.2).

    Per position the teacher token's candidates (the sampled token, then its top alternatives),
    each mapped by `fu_id` (kept if it is a student piece; `rows` de-duplicates keeping the
    first), log-probs unchanged (not renormalized).
    """
    candidates = teacher.candidates
    ids = vocab.fu_ids([text for t in tokens for text in candidates[t]])
    array = np.fromiter(ids, np.int64, len(ids)).reshape(len(tokens), teacher.logprobs.shape[1])
    return Block("identical", positions, tokens, array, teacher.logprobs[tokens])


def merged_block(teacher: TeacherSequence, groups: list[tuple[int, int, int, bool]], vocab: StudentVocab) -> Block:
    """`merged_candidates` for each (student position, first, last teacher token, after_space)."""
    candidates = [merged_candidates(teacher, first, last, vocab, after_space) for _, first, last, after_space in groups]
    width = max((len(c) for c in candidates), default=0)
    ids = [[i for i, _ in c] + [-1] * (width - len(c)) for c in candidates]
    logprobs = [[lp for _, lp in c] + [NO_MASS] * (width - len(c)) for c in candidates]
    shape = (len(groups), width)
    positions, tokens = [g[0] for g in groups], [g[2] for g in groups]
    return Block("merged", positions, tokens, np.array(ids, np.int64).reshape(shape), np.array(logprobs).reshape(shape))


def merged_candidates(
    teacher: TeacherSequence, first: int, last: int, vocab: StudentVocab, after_space: bool
) -> list[tuple[int, float]]:
    """The distribution of one student token made of teacher tokens first..last (all but the last whitespace).

    Chain rule over the teacher's path: an alternative at token r has probability
    P(tokens first..r-1 as sampled) * P(alternative | them), and becomes the student piece it
    normalizes to (`StudentVocab.normalized_id`; after whitespace it gets a leading `▁`).
    Distinct teacher continuations landing on one student piece add up; whitespace-only
    alternatives, which only continue the whitespace, are left out, so the mass stays <= 1.
    `after_space`: the first teacher token starts after whitespace (or at the start of the text).
    """
    mass: dict[int, float] = {}
    prefix = 0.0
    for position in range(first, last + 1):
        logprobs = teacher.logprobs[position].tolist()
        seen: set[bytes] = set()
        for text, logprob in zip(teacher.candidates[position], logprobs, strict=True):
            if text in seen:
                continue
            seen.add(text)
            student_id = vocab.normalized_id(text, after_space or position > first)
            if student_id >= 0:
                total = prefix + logprob
                mass[student_id] = float(np.logaddexp(mass[student_id], total)) if student_id in mass else total
        prefix += logprobs[0]
    return list(mass.items())


def rows(length: int, k: int, blocks: list[Block], positions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """[length, k] teacher ids and log-probs: at each block's `positions` its k most likely distinct candidates."""
    ids, logprobs = no_mass_rows(length, k)
    if not blocks:
        return ids, logprobs
    width = max(b.ids.shape[1] for b in blocks)
    where = np.concatenate(positions)
    candidate_ids = np.full((len(where), width), -1, np.int64)
    scores = np.full((len(where), width), NO_MASS)
    offset = 0
    for block in blocks:
        count, block_width = block.ids.shape
        candidate_ids[offset : offset + count, :block_width] = block.ids
        scores[offset : offset + count, :block_width] = block.logprobs
        offset += count
    # A candidate counts if it is a student piece and no earlier candidate of its row has its id.
    repeated = (candidate_ids[:, :, None] == candidate_ids[:, None, :]) & _earlier(width)
    scores = np.where((candidate_ids >= 0) & ~repeated.any(axis=2), scores, NO_MASS)
    # Most likely first within each row (stable: ties keep candidate order), the first k kept.
    row = np.arange(len(where))[:, None]
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    best = scores[row, order]
    ids[where, : order.shape[1]] = np.where(best > NO_MASS, candidate_ids[row, order], 0)
    logprobs[where, : order.shape[1]] = best
    return ids, logprobs


@functools.cache
def _earlier(width: int) -> np.ndarray:
    return np.tri(width, k=-1, dtype=bool)
