"""Fu et al.'s alignment (docs/method.md 3.2), the reference the fast method is checked against.

Teacher token strings g_1..g_n and the student pieces t_1..t_m of the normalized target are
aligned by dynamic time warping with cost `editdistance(g.replace(' ', ''), t.replace('▁', ''))`:

    M[0][0] = 0, M[0][j>0] = M[i>0][0] = inf
    M[i+1][j+1] = c(g_i, t_j) + min(M[i][j+1], M[i+1][j], M[i][j])

then backtracked on M[1:, 1:] from (n-1, m-1), moving to the smallest of diagonal, up, left
(ties in that order), ending at (0, 0). A student token aligned to exactly one teacher token
with the identical string (`t_j == g_i.replace(' ', '▁')`) gets the teacher's distribution
(`transfer.fu_block`); every other position gets none (the sampled token's NLL, i.e. Fu et
al.'s one-hot). EOS is not a row here: the task appends it, and it is one-hot there too.

Same results as the notebook's pure-Python loops, faster: edit distances are computed once per
distinct string pair, and each DP row is one vectorized min-plus scan (costs are integers, so
the arithmetic is exact).
"""

from __future__ import annotations

import editdistance
import numpy as np

from distill.build.align.student import SPACE, StudentVocab
from distill.build.align.teacher_tokens import TeacherSequence
from distill.build.align.transfer import Block, fu_block
from distill.data.normalize import normalize_text

_INF = 1 << 40


def cost_matrix(teacher: list[str], student: list[str]) -> np.ndarray:
    """[n, m] edit distances between teacher strings without spaces and student pieces without `▁`."""
    teacher_keys = [g.replace(" ", "") for g in teacher]
    student_keys = [t.replace(SPACE, "") for t in student]
    teacher_unique = {g: i for i, g in enumerate(dict.fromkeys(teacher_keys))}
    student_unique = {t: i for i, t in enumerate(dict.fromkeys(student_keys))}
    distances = np.array([[editdistance.eval(g, t) for t in student_unique] for g in teacher_unique], np.int64).reshape(
        len(teacher_unique), len(student_unique)
    )
    return distances[np.ix_([teacher_unique[g] for g in teacher_keys], [student_unique[t] for t in student_keys])]


def accumulated(cost: np.ndarray) -> np.ndarray:
    """M[1:, 1:] of the recurrence above."""
    n, m = cost.shape
    previous = np.full(m + 1, _INF, np.int64)
    previous[0] = 0
    matrix = np.empty((n, m), np.int64)
    for i in range(n):
        # M[i+1][j+1] = min(c_j + min(up_j, diag_j), c_j + M[i+1][j]): a min-plus prefix scan.
        best_above = cost[i] + np.minimum(previous[1:], previous[:-1])
        prefix = np.cumsum(cost[i])
        row = prefix + np.minimum.accumulate(best_above - prefix)
        matrix[i] = row
        previous = np.concatenate(([_INF], row))
    return matrix


def backtrace(matrix: np.ndarray) -> list[list[int]]:
    """For each student position, the teacher indices the warping path aligns to it."""
    n, m = matrix.shape
    partners: list[list[int]] = [[] for _ in range(m)]
    i, j = n - 1, m - 1
    while i > 0 or j > 0:
        partners[j].append(i)
        diagonal = matrix[i - 1, j - 1] if i > 0 and j > 0 else _INF
        up = matrix[i - 1, j] if i > 0 else _INF
        left = matrix[i, j - 1] if j > 0 else _INF
        if diagonal <= up and diagonal <= left:
            i, j = i - 1, j - 1
        elif up <= left:
            i -= 1
        else:
            j -= 1
    partners[0].append(0)
    return partners


def blocks(teacher: TeacherSequence, target_text: str, vocab: StudentVocab) -> tuple[np.ndarray, list[Block]]:
    """The student tokens of `normalize_text(target_text)` and where Fu et al.'s rule transfers."""
    ids, _, _ = vocab.encode(normalize_text(target_text))
    pieces = [vocab.pieces[i] for i in ids]
    strings = teacher.strings()
    positions, tokens = [], []
    if strings and pieces:
        known = teacher.known()
        for j, partners in enumerate(backtrace(accumulated(cost_matrix(strings, pieces)))):
            i = partners[0]
            if len(partners) == 1 and known[i] and pieces[j] == strings[i].replace(" ", SPACE):
                positions.append(j)
                tokens.append(i)
    return ids, [fu_block(teacher, positions, tokens, vocab)]
