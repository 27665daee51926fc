"""Teacher-to-student tokenizer alignment: per student target token, the teacher's top-K as student ids.

`align(teacher, target_text, vocab, k, method)` with `method` `"fast"` (`fast.py`, linear time,
the default) or `"dtw"` (`dtw.py`, Fu et al.'s dynamic time warping, the reference);
`align_many` does the same for many samples, sharing the array work (`transfer.alignments`). Inputs:
teacher tokens (`teacher_tokens.py`), the raw student target (`targets.cot_target_text`; it is
normalized with `distill.data.normalize.normalize_text` here) and the student vocabulary
(`student.StudentVocab`). Output: `transfer.Alignment`, rows in the `distill.contracts.distill_examples` encoding.
"""

from __future__ import annotations

from collections.abc import Sequence

from distill.build.align import dtw, fast
from distill.build.align.student import ByteStudentVocab, StudentVocab, student_vocab
from distill.build.align.teacher_tokens import TeacherSequence
from distill.build.align.transfer import Alignment, alignments

METHODS = {"fast": fast.blocks, "dtw": dtw.blocks}


def align_many(
    samples: Sequence[tuple[TeacherSequence, str]], vocab: StudentVocab, k: int, method: str = "fast"
) -> list[Alignment]:
    """For each (teacher tokens, raw target text): the student targets with the teacher's distributions
    where `method` transfers them."""
    if method not in METHODS:
        raise ValueError(f"Unknown alignment method {method!r}; expected one of {sorted(METHODS)}")
    return alignments([METHODS[method](teacher, text, vocab) for teacher, text in samples], k)


def align(teacher: TeacherSequence, target_text: str, vocab: StudentVocab, k: int, method: str = "fast") -> Alignment:
    """`align_many` of one sample."""
    return align_many([(teacher, target_text)], vocab, k, method)[0]


__all__ = [
    "METHODS",
    "Alignment",
    "ByteStudentVocab",
    "StudentVocab",
    "TeacherSequence",
    "align",
    "align_many",
    "student_vocab",
]
