"""One teacher record -> the distillation examples of each data format (`distill_examples.DistillExample`).

Why its own module: this is where Fu et al.'s data recipe (docs/method.md sections 1.3 and 2)
meets the alignment, and `distill.build` only schedules it over files and cores. Per record:

* dropped, with a reason, when the answer is wrong (unless incorrect samples are kept), when the
  question is one of the GSM8K validation questions (by id or by text, so a user's own question
  file cannot leak them either), or when the completion is empty;
* CoT formats (`zs_cot`, `ic_cot`): the target is the completion (plus `"The answer is N"` if
  its last line gives no answer, `align.targets.cot_target_text`), normalized, with the teacher's
  distributions aligned onto it (`distill.build.align`);
* answer-only formats (`zs_ao`, `ic_ao`): `"The answer is N"` with the gold answer, no teacher
  mass (NLL, as Fu et al.);
* inputs are the `distill.data.formats` templates, normalized; in-context formats get demonstrations
  drawn as `distill.data.demos.sample_demos(question_id, pool, n, seed + sample index)` from the pool
  of the record's dataset (GSM8K train; a synthetic dataset's own train split) (a fresh
  draw per teacher sample, as Fu et al.'s per-instance draw, but reproducible), or the exemplars
  of a fixed prompt file.

A record of the `gold` API (a gold rationale, no log-probs) is an example with `sample_id` -1.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

from distill.build.align import Alignment, StudentVocab, align_many, teacher_tokens
from distill.build.align.targets import cot_target_text
from distill.contracts import distill_examples
from distill.data import data_dir, demos, formats
from distill.data import examples as data_examples
from distill.data.demos import DemoSettings
from distill.data.loaders import MathProblem
from distill.data.normalize import normalize_text

DROP_REASONS = ("incorrect", "validation_question", "empty_completion")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What to build from each record."""

    formats: tuple[str, ...]
    top_k: int
    method: str = "fast"
    keep_incorrect: bool = False
    token_source: str = "bytes"
    retokenize: str | None = None
    demo_settings: DemoSettings = dataclasses.field(default_factory=DemoSettings)


@dataclasses.dataclass
class Outcome:
    """The examples of one record per format, or the reason it was dropped; alignment counts for CoT."""

    question_id: str
    dropped: str | None = None
    examples: dict[str, distill_examples.DistillExample] = dataclasses.field(default_factory=dict)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    teacher_tokens: bool = True


class RecordConverter:
    """Converts records under one recipe (holds the vocabulary, tokenizer, validation set and demo pools).

    `demo_pool(dataset)` gives the problems in-context demonstrations of a record of `dataset` are
    drawn from (`distill.data.examples.demo_pool`: GSM8K train, or a synthetic dataset's own train split).
    """

    def __init__(
        self,
        recipe: Recipe,
        vocab: StudentVocab,
        validation_ids: frozenset[str] | None,
        validation_questions: frozenset[str] | None,
        demo_pool: Callable[[str], Sequence[MathProblem]] | None,
    ) -> None:
        """`validation_ids` / `validation_questions` None: no data directory, so only records of
        generated datasets (`distill.data.examples.is_generated`) can be converted."""
        for fmt in recipe.formats:
            if fmt not in formats.MATH_FORMATS:
                raise ValueError(f"Unknown format {fmt!r}; expected some of {formats.MATH_FORMATS}")
        self.recipe = recipe
        self.vocab = vocab
        self.generated_only = validation_ids is None or validation_questions is None
        self.validation_ids = validation_ids or frozenset()
        self.validation_questions = frozenset(q.strip() for q in validation_questions or ())
        self.demo_pool = functools.cache(demo_pool) if demo_pool else None
        self.tokenize = teacher_tokens.load_tokenizer(recipe.retokenize) if recipe.retokenize else None

    def convert(self, batch: Sequence[dict[str, Any]]) -> list[Outcome]:
        """The outcome of each validated record (CoT targets aligned together: `distill.build.align.align_many`)."""
        outcomes = [self._filter(record) for record in batch]
        kept = [(record, outcome) for record, outcome in zip(batch, outcomes, strict=True) if not outcome.dropped]
        cot = [fmt for fmt in self.recipe.formats if fmt.endswith("_cot")]
        texts = [cot_target_text(r["completion"], r["answer"] or r["gold_answer"]) for r, _ in kept] if cot else []
        samples = [(self._teacher(record), text) for (record, _), text in zip(kept, texts, strict=True)]
        aligned = align_many(samples, self.vocab, self.recipe.top_k, self.recipe.method)
        for index, (record, outcome) in enumerate(kept):
            sample_id = -1 if record["api"] == "gold" else record["sample_index"]
            if cot:
                outcome.counts = aligned[index].counts
                target = normalize_text(texts[index])
                for fmt in cot:
                    outcome.examples[fmt] = self._example(record, fmt, sample_id, target, aligned[index])
            for fmt in (f for f in self.recipe.formats if f.endswith("_ao")):
                target = normalize_text(formats.math_target(fmt, record["gold_answer"]))
                outcome.examples[fmt] = self._example(record, fmt, sample_id, target, None)
        return outcomes

    def _filter(self, record: dict[str, Any]) -> Outcome:
        qid = record["question_id"]
        if self.generated_only and not data_examples.is_generated(record["dataset"]):
            raise ValueError(
                f"question {qid}: dataset {record['dataset']!r} needs the data directory (GSM8K's validation "
                f"questions are never trained on): set {data_dir.ENV_VAR}"
            )
        if not (record["correct"] or self.recipe.keep_incorrect):
            return Outcome(qid, "incorrect")
        if qid in self.validation_ids or record["question"].strip() in self.validation_questions:
            return Outcome(qid, "validation_question")
        if not normalize_text(record["completion"]):
            return Outcome(qid, "empty_completion")
        return Outcome(qid, teacher_tokens=record["tokens"] is not None)

    def _teacher(self, record: dict[str, Any]) -> teacher_tokens.TeacherSequence:
        tokens = teacher_tokens.from_record(record, self.recipe.token_source)
        if self.tokenize is None:
            return tokens
        return teacher_tokens.retokenize(record["completion"], self.tokenize, tokens)

    def _example(
        self, record: dict[str, Any], fmt: str, sample_id: int, target: str, aligned: Alignment | None
    ) -> distill_examples.DistillExample:
        """One example; `aligned` None: an answer-only target without teacher mass."""
        shots = self._demos(record, sample_id) if formats.is_in_context(fmt) else ()
        if aligned is None:
            ids = self.vocab.encode(target)[0]
            teacher_ids, teacher_logprobs = distill_examples.no_mass_rows(len(ids), self.recipe.top_k)
        else:
            ids, teacher_ids, teacher_logprobs = aligned.targets, aligned.teacher_ids, aligned.teacher_logprobs
        return distill_examples.DistillExample(
            inputs_pretokenized=normalize_text(formats.math_input(fmt, record["question"], shots)),
            targets_pretokenized=target,
            targets=ids,
            teacher_ids=teacher_ids,
            teacher_logprobs=teacher_logprobs,
            format=fmt,
            question_id=record["question_id"],
            sample_id=sample_id,
            answer=record["gold_answer"],
        )

    def _demos(self, record: dict[str, Any], sample_id: int) -> Sequence[formats.Demo]:
        settings = self.recipe.demo_settings
        if settings.prompt_file:
            return demos.fixed_demos(settings.prompt_file)
        seed = settings.seed + max(sample_id, 0)
        pool = self.demo_pool(record["dataset"])
        return demos.sample_demos(record["question_id"], pool, settings.num_demos, seed)
