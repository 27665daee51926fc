"""Distillation records from teacher records: `python -m distill.build`.

    python -m distill.build --teacher runs/teacher/gsm8k.jsonl --out runs/records \\
        --formats zs_ao,zs_cot,ic_ao,ic_cot --top-k 5 --method fast

Reads teacher records (`distill.contracts.teacher_records`, JSONL), converts each with
`distill.build.examples` (filters, formats, alignment) on `--workers` processes, and writes per
format sharded TFRecords, `stats.json` and, last, `manifest.json` (`distill.contracts.distill_examples`). Answer-only
formats get one example per question (the first kept sample, as Fu et al.); CoT formats one per
kept sample. Output order follows input order whatever the number of workers.

Needs the data directory (`$COT_DATA_DIR`) for the GSM8K validation questions, which are never
built into records, and the GSM8K train rationales that in-context demonstrations come from.
A malformed record stops the build with an error naming the file, line and field, except a torn
last line (undecodable, without its newline: what a `distill.generate` killed mid-append leaves),
which is skipped with a warning. A (question, sample) of one teacher, prompt and sampling setting
(`teacher_records.sample_key`) read before is a duplicate (two runs appended to one file, or a
file given twice): it is counted in `stats.json` and dropped, the first one kept.
"""

from __future__ import annotations

import argparse
import collections
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from tqdm import tqdm

from distill.build import shards
from distill.build.align import METHODS, student_vocab
from distill.build.align.teacher_tokens import SOURCES
from distill.build.examples import DROP_REASONS, Outcome, Recipe, RecordConverter
from distill.contracts import distill_examples, durable, teacher_records
from distill.data import data_dir, demos, examples, formats, splits
from tasks import vocabulary

log = logging.getLogger("distill.build")

STATS = "stats.json"
BATCH = 32  # records per worker task, aligned together

Line = tuple[str, int, bytes]

_converter: RecordConverter | None = None  # per process, set before the workers fork


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m distill.build", description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", nargs="+", required=True, metavar="FILE", help="teacher record JSONL files")
    parser.add_argument("--out", required=True, help="output directory (must not hold a finished build)")
    parser.add_argument(
        "--vocab", help="student SentencePiece model, or `byte` for a byte-level student (default: T5's spiece.model)"
    )
    parser.add_argument("--formats", default=",".join(formats.MATH_FORMATS), help="comma-separated data formats")
    parser.add_argument("--top-k", type=int, default=5, help="teacher alternatives kept per student position")
    parser.add_argument("--method", choices=sorted(METHODS), default="fast", help="alignment method")
    parser.add_argument("--keep-incorrect", action="store_true", help="keep samples whose answer is wrong")
    parser.add_argument("--teacher-tokens", choices=SOURCES, default="bytes", help="read token bytes or strings")
    parser.add_argument("--retokenize", metavar="TOKENIZER", help="re-tokenize with a .tiktoken / tokenizer.json")
    parser.add_argument("--demos", type=int, default=4, help="in-context demonstrations per example")
    parser.add_argument("--demo-seed", type=int, default=0, help="seed of the demonstration draws")
    parser.add_argument("--demo-prompt", help="fixed demonstrations from a prompt file instead of draws")
    parser.add_argument("--shard-size", type=int, default=50_000, help="examples per TFRecord shard")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (1: no pool)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    args.formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    unknown = [f for f in args.formats if f not in formats.MATH_FORMATS]
    if unknown or not args.formats:
        parser.error(f"--formats: unknown {unknown or 'none given'}; choose from {','.join(formats.MATH_FORMATS)}")
    if args.top_k < 1 or args.workers < 1 or args.shard_size < 1:
        parser.error("--top-k, --workers and --shard-size must be >= 1")
    for path in args.teacher:
        if not os.path.isfile(path):
            parser.error(f"--teacher: {path}: no such file")
    if args.vocab != distill_examples.BYTE_VOCABULARY:
        args.vocab = os.path.abspath(args.vocab or vocabulary.default_t5_model()[0])
    if args.vocab != distill_examples.BYTE_VOCABULARY and not os.path.isfile(args.vocab):
        parser.error(f"--vocab: {args.vocab}: no such file")
    if os.path.exists(os.path.join(args.out, distill_examples.MANIFEST)):
        parser.error(
            f"--out: {args.out} already holds a finished build ({distill_examples.MANIFEST}); choose another directory"
        )
    return args


def recipe_of(args: argparse.Namespace) -> Recipe:
    return Recipe(
        formats=args.formats,
        top_k=args.top_k,
        method=args.method,
        keep_incorrect=args.keep_incorrect,
        token_source=args.teacher_tokens,
        retokenize=args.retokenize,
        demo_settings=demos.demo_settings(args.demos, args.demo_prompt, args.demo_seed),
    )


def converter_for(recipe: Recipe, vocab_file: str) -> RecordConverter:
    """A converter with the GSM8K validation questions and, for in-context formats, the demonstration pool."""
    needs_pool = any(formats.is_in_context(f) for f in recipe.formats) and not recipe.demo_settings.prompt_file
    pool = examples.demo_pool if needs_pool else None
    if not data_dir.is_configured():  # Enough for generated datasets; a real one's record stops the build.
        return RecordConverter(recipe, student_vocab(vocab_file), None, None, pool)
    return RecordConverter(
        recipe, student_vocab(vocab_file), splits.gsm8k_validation_ids(), splits.gsm8k_validation_questions(), pool
    )


def lines(paths: Sequence[str]) -> Iterator[Line]:
    """(path, line number, raw line) of every non-blank line."""
    for path in paths:
        with open(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                if raw.strip():
                    yield path, number, raw


def batches(items: Iterator[Line], size: int) -> Iterator[list[Line]]:
    batch: list[Line] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def convert_batch(batch: list[Line]) -> list[tuple[Outcome | None, dict[str, bytes], int, Any]]:
    """Worker task, per line: (outcome without examples, serialized examples per format, bytes read,
    the record's `teacher_records.sample_key`); a torn last line gives (None, {}, bytes read, the warning).
    """
    parsed: list[dict[str, Any] | str] = []
    for path, number, raw in batch:
        try:
            parsed.append(teacher_records.parse_line(raw, f"{path}:{number}"))
        except teacher_records.TornLineError:
            parsed.append(f"{path}:{number}: skipping a torn last line ({len(raw)} bytes) an interrupted writer left")
    outcomes = iter(_converter.convert([r for r in parsed if not isinstance(r, str)]))
    results = []
    for record, (_, _, raw) in zip(parsed, batch, strict=True):
        if isinstance(record, str):
            results.append((None, {}, len(raw), record))
            continue
        outcome = next(outcomes)
        serialized = {fmt: distill_examples.serialize(example) for fmt, example in outcome.examples.items()}
        outcome.examples = {}
        results.append((outcome, serialized, len(raw), teacher_records.sample_key(record)))
    return results


class BuildStats:
    """The build's statistics (written as stats.json)."""

    def __init__(self, recipe: Recipe) -> None:
        self.samples_in = 0
        self.samples_out = 0
        self.duplicates = 0  # records of a (teacher, question, sample) already read, dropped
        self.torn_lines = 0  # torn last lines skipped
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self.without_teacher_tokens = 0
        self.alignment: collections.Counter[str] = collections.Counter()
        self.examples = dict.fromkeys(recipe.formats, 0)

    def add(self, outcome: Outcome) -> None:
        self.samples_in += 1
        if outcome.dropped:
            self.dropped[outcome.dropped] += 1
            return
        self.samples_out += 1
        self.without_teacher_tokens += not outcome.teacher_tokens
        self.alignment.update(outcome.counts)

    def report(self, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
        positions = self.alignment.get("positions", 0)
        return {
            "teacher_files": list(args.teacher),
            "method": args.method,
            "top_k": args.top_k,
            "samples_in": self.samples_in,
            "samples_out": self.samples_out,
            "duplicates": self.duplicates,
            "torn_lines": self.torn_lines,
            "dropped": self.dropped,
            "samples_without_teacher_tokens": self.without_teacher_tokens,
            "examples": self.examples,
            "cot_positions": positions,
            "transferred_positions": self.alignment.get("transferred", 0),
            "transferred_fraction": self.alignment.get("transferred", 0) / positions if positions else 0.0,
            "rules": {k: v for k, v in self.alignment.items() if k not in ("positions", "transferred")},
            "seconds": round(seconds, 3),
            "samples_per_s": round(self.samples_in / seconds, 1) if seconds else None,
        }


def build(args: argparse.Namespace) -> dict[str, Any]:
    """Runs the build; returns the stats."""
    global _converter
    started = time.perf_counter()
    recipe = recipe_of(args)
    _converter = converter_for(recipe, args.vocab)
    shards.start(args.out)
    writers = {fmt: shards.ShardWriter(args.out, fmt, args.shard_size) for fmt in recipe.formats}
    answer_only_done: dict[str, set[str]] = {fmt: set() for fmt in recipe.formats if fmt.endswith("_ao")}
    tally = BuildStats(recipe)
    seen: set[tuple] = set()
    total_bytes = sum(os.path.getsize(p) for p in args.teacher)
    progress = tqdm(total=total_bytes, unit="B", unit_scale=True, disable=args.no_progress, desc="build")
    work = batches(lines(args.teacher), BATCH)
    pool = multiprocessing.get_context("fork").Pool(args.workers) if args.workers > 1 else None
    try:
        results = pool.imap(convert_batch, work) if pool else map(convert_batch, work)
        for batch in results:
            for outcome, serialized, size, key in batch:
                progress.update(size)
                if outcome is None:
                    log.warning("%s", key)
                    tally.torn_lines += 1
                    continue
                if key in seen:
                    tally.duplicates += 1
                    continue
                seen.add(key)
                tally.add(outcome)
                for fmt, example in serialized.items():
                    if fmt in answer_only_done:
                        if outcome.question_id in answer_only_done[fmt]:
                            continue
                        answer_only_done[fmt].add(outcome.question_id)
                    writers[fmt].write(example)
                    tally.examples[fmt] += 1
            progress.set_postfix(samples=tally.samples_in, kept=tally.samples_out, refresh=False)
    finally:
        if pool:
            pool.terminate()
            pool.join()
        progress.close()
    files = {fmt: writer.close() for fmt, writer in writers.items()}
    shards.finish(args.out)
    stats = tally.report(args, time.perf_counter() - started)
    durable.write_json(os.path.join(args.out, STATS), stats)
    distill_examples.write_manifest(
        args.out,
        {
            "top_k": args.top_k,
            "vocabulary": args.vocab,
            "method": args.method,
            "formats": {fmt: {"examples": tally.examples[fmt], "files": files[fmt]} for fmt in recipe.formats},
            "stats": STATS,
        },
    )
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        stats = build(args)
    except teacher_records.RecordError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    dropped = ", ".join(f"{v} {k}" for k, v in stats["dropped"].items() if v) or "none"
    if stats["duplicates"]:
        dropped += f"; {stats['duplicates']} duplicate records"
    print(
        f"{stats['samples_in']} samples in, {stats['samples_out']} kept (dropped: {dropped}); examples "
        + ", ".join(f"{fmt} {n}" for fmt, n in stats["examples"].items())
        + f"; teacher mass at {stats['transferred_fraction']:.1%} of CoT positions"
        + f"; {stats['seconds']:.1f} s -> {args.out}"
    )
    return 0
