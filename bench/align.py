"""Alignment throughput, Fu et al.'s DTW vs the fast aligner, and `distill.build` end to end.

Why: the paper's alignment notebook needed about 58 minutes for the GSM8K teacher samples
(~60 samples/s, issue 6); a 200k-sample build must not be the slow step of a run. GSM8K gold
rationales tokenized with tiktoken p50k_base (Codex's encoding) stand in for teacher samples
(`distill.generate.stand_in`: real text and tokenization, synthetic top-5 distributions).

* alignment: samples/s on one core of `align_many` (batches of `--batch`), and with reading the
  tokens of the parsed records (`teacher_tokens.from_record`, `cot_target_text`) included,
  for `fast` over `--samples` (twice: the first pass fills the per-string caches, the second
  shows the steady state of a long build) and `dtw` over the first `--dtw-samples`; also at how
  many of the positions where DTW transfers `fast` gives DTW's exact row (tests/test_align.py
  shows that the others are DTW pairing tokens with different characters);
* build: `distill.build` on a JSONL file of `--build-samples` records with 1 worker and with
  `--workers`, wall time including setup (data files, demonstration pool, worker start) and the
  CPU time of all its processes, and the time that rate gives for `--extrapolate` samples (an
  extrapolation, not a run).

Wall and CPU seconds are both reported: on a shared machine the CPU time of the process is the
better measure of one core's throughput.

  python bench/align.py                                            # all 7,473 rationales
  python bench/align.py --samples 200 --dtw-samples 50 --build-samples 100 --json out.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

BENCH = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent)]  # Runs from a checkout, installed or not.
os.environ.setdefault("COT_DATA_DIR", str(BENCH.parent.parent / "shared" / "data"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from distill.build import cli as build
from distill.build.align import StudentVocab, align_many, teacher_tokens
from distill.build.align.targets import cot_target_text
from distill.contracts import teacher_records
from distill.data import data_dir, sources
from distill.generate import stand_in

PAPER_SAMPLES_PER_S = 60  # Fu et al.'s notebook, as quoted in issue 6 (not measured here)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=7473, help="GSM8K train rationales aligned by fast")
    parser.add_argument("--dtw-samples", type=int, default=1000, help="of those, aligned by dtw too")
    parser.add_argument("--build-samples", type=int, default=2000, help="records in the build benchmark")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="build processes")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64, help="samples per align_many call")
    parser.add_argument("--extrapolate", type=int, default=200_000, help="build size to extrapolate to")
    parser.add_argument("--json", help="write the report here")
    return parser.parse_args(argv)


def stand_ins(count: int, k: int) -> list[dict]:
    """`count` stand-in records, cycling over the GSM8K train problems (sample index = cycle)."""
    problems = sources.gsm8k("train")
    return [
        stand_in.record(problems[i % len(problems)], _p50k(), k, sample_index=i // len(problems)) for i in range(count)
    ]


def _p50k() -> str:
    return data_dir.data_file("tokenizers/gpt2/p50k_base.tiktoken")


def time_alignment(
    records: list[dict], vocab: StudentVocab, k: int, method: str, batch: int, label: str = ""
) -> dict[str, Any]:
    """CPU and wall seconds of reading the records' tokens (`from_record`, `cot_target_text`) and of aligning."""
    read_cpu = align_cpu = align_wall = 0.0
    results = []
    for start in range(0, len(records), batch):
        cpu = time.process_time()
        chunk = records[start : start + batch]
        samples = [(teacher_tokens.from_record(r), cot_target_text(r["completion"], r["gold_answer"])) for r in chunk]
        middle_wall, middle_cpu = time.perf_counter(), time.process_time()
        results.extend(align_many(samples, vocab, k, method))
        read_cpu += middle_cpu - cpu
        align_wall += time.perf_counter() - middle_wall
        align_cpu += time.process_time() - middle_cpu
    positions = sum(r.counts["positions"] for r in results)
    return {
        "part": f"alignment (1 core){label}",
        "method": method,
        "samples": len(records),
        "wall_s": align_wall,
        "cpu_s": align_cpu,
        "samples_per_s_wall": len(records) / align_wall,
        "samples_per_s_cpu": len(records) / align_cpu,
        "samples_per_s_cpu_with_reading": len(records) / (align_cpu + read_cpu),
        "transferred_fraction": sum(r.counts["transferred"] for r in results) / positions,
        "_results": results,
    }


def agreement(fast: list, dtw: list) -> dict[str, int]:
    """Positions where DTW transfers, and how many of them get DTW's exact row from fast."""
    where = same = 0
    for a, b in zip(fast, dtw, strict=False):
        mask = b.rule == 1
        where += int(mask.sum())
        rows_equal = (a.teacher_ids[mask] == b.teacher_ids[mask]).all(axis=1)
        rows_equal &= (a.teacher_logprobs[mask] == b.teacher_logprobs[mask]).all(axis=1)
        same += int(rows_equal.sum())
    return {"dtw_positions": where, "fast_equal": same}


def time_build(path: str, workers: int, k: int, samples: int, extrapolate: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        argv = ["--teacher", path, "--out", os.path.join(out, "records"), "--top-k", str(k)]
        args = build.parse_args([*argv, "--workers", str(workers), "--no-progress"])
        wall, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
        stats = build.build(args)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu + _children_cpu() - children
    rate = samples / wall
    return {
        "part": f"build ({workers} worker{'s' if workers > 1 else ''})",
        "method": "fast",
        "samples": samples,
        "wall_s": wall,
        "cpu_s": cpu,
        "samples_per_s_wall": rate,
        "samples_per_s_cpu": None,
        "samples_per_s_cpu_with_reading": None,
        "transferred_fraction": stats["transferred_fraction"],
        "examples": stats["examples"],
        "extrapolated_s": extrapolate / rate,
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine() -> dict[str, Any]:
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| part | method | samples | wall s | CPU s | samples/s (wall) | samples/s (CPU) | "
        "incl. reading tokens (CPU) | teacher mass |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        cpu_rate = f"{r['samples_per_s_cpu']:,.0f}" if r["samples_per_s_cpu"] else "–"
        with_reading = f"{r['samples_per_s_cpu_with_reading']:,.0f}" if r["samples_per_s_cpu_with_reading"] else "–"
        lines.append(
            f"| {r['part']} | {r['method']} | {r['samples']:,} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
            f"{r['samples_per_s_wall']:,.0f} | {cpu_rate} | {with_reading} | {r['transferred_fraction']:.1%} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    vocab = StudentVocab(data_dir.data_file("tokenizers/t5/spiece.model"))
    records = stand_ins(max(args.samples, args.build_samples), args.top_k)
    load_before = os.getloadavg()
    fast = time_alignment(records[: args.samples], vocab, args.top_k, "fast", args.batch, ", first pass")
    warm = time_alignment(records[: args.samples], vocab, args.top_k, "fast", args.batch, ", second pass")
    dtw = time_alignment(records[: args.dtw_samples], vocab, args.top_k, "dtw", args.batch)
    agree = agreement(fast["_results"][: args.dtw_samples], dtw["_results"])
    results = [fast, warm, dtw]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "teacher.jsonl")
        teacher_records.append(path, records[: args.build_samples])
        bytes_per_record = os.path.getsize(path) / args.build_samples
        for workers in sorted({1, args.workers}):
            results.append(time_build(path, workers, args.top_k, args.build_samples, args.extrapolate))
    for r in results:
        r.pop("_results", None)
    report = {
        "timestamp": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine() | {"load_average_start": load_before},
        "settings": vars(args) | {"teacher": "GSM8K train gold rationales, p50k_base tokens, synthetic top-k"},
        "results": results,
        "agreement": agree,
        "speedup_fast_vs_dtw_cpu": fast["samples_per_s_cpu"] / dtw["samples_per_s_cpu"],
        "speedup_fast_vs_paper": fast["samples_per_s_cpu_with_reading"] / PAPER_SAMPLES_PER_S,
        "teacher_jsonl_bytes_per_record": bytes_per_record,
    }
    print(table(results))
    print(
        f"fast = DTW's row at {agree['fast_equal']:,} of {agree['dtw_positions']:,} positions where DTW transfers; "
        f"fast (first pass) {report['speedup_fast_vs_dtw_cpu']:.1f}x dtw, "
        f"{report['speedup_fast_vs_paper']:.0f}x the paper's "
        f"~{PAPER_SAMPLES_PER_S} samples/s; {args.extrapolate:,} samples would take "
        + ", ".join(f"{r['extrapolated_s'] / 60:.1f} min ({r['part']})" for r in results if "extrapolated_s" in r)
        + f"; load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, default=float)
    return report


if __name__ == "__main__":
    main()
