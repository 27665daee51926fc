"""Examples per packed row and each format's share of the loss, measured on built records through real seqio packing.

Why: the recipes count steps, the paper counts epochs of its data, and the two meet only through
the number of examples a packed batch holds, which depends on the lengths of real inputs (four
in-context demonstrations) and targets. The same batches show how much of the loss each format
gets under the token sum and under each recipe's `FORMAT_SHARES`.

What it does:
1. Unless `--records DIR` names an existing `distill.build` output (e.g. of a real teacher), writes
   stand-in teacher records (`distill.generate.stand_in`: GSM8K train gold rationales in Codex's
   p50k tokens, synthetic top-k; validation questions left out) for `--questions` questions,
   `--samples` each, and runs `python -m distill.build` on them.
2. Registers the distillation mixture (`tasks.distillation`) at the paper's format proportions
   (the example counts of `losses.micro_batch_shares` in gin/experiments/gsm8k_specialize.gin) or,
   with `--mix records`, at the records' own counts (the recipes' default rates).
3. Draws `--batches` batches of the recipe's BATCH_SIZE rows at its TASK_FEATURE_LENGTHS, packed by
   `DistillationFeatureConverter` as in training, and counts segments (examples) per row.

Reports (table on stdout, `--json`): examples per row (mean, 10th and 90th percentile) and per
step; per format its share of the examples, its mean target tokens, its share of the loss under
the token sum, and under each size's recipe (`losses.FormatShareWeighting` applied to these
batches); steps per epoch of the paper's data and the epochs at each evaluated step of each recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

SIZES = ("base", "large", "xl", "xxl")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", help="an existing distill.build output (default: build one from stand-ins)")
    parser.add_argument("--questions", type=int, default=400, help="GSM8K train questions for the stand-in build")
    parser.add_argument("--samples", type=int, default=2, help="stand-in teacher samples per question")
    parser.add_argument("--mix", choices=("paper", "records"), default="paper", help="format proportions")
    parser.add_argument("--batches", type=int, default=8, help="packed batches to measure")
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed of the mixture")
    parser.add_argument("--workers", type=int, default=1, help="distill.build processes")
    parser.add_argument("--json", help="write the report here")
    return parser.parse_args(argv)


def recipe(size: str) -> dict[str, Any]:
    """The flan_t5_{size} recipe's batch, lengths, eval period, steps and format shares, as gin resolves them."""
    import gin

    from distill.engine import gin_utils
    from distill.engine.train import train

    vars(sys.modules["__main__"]).setdefault("train", train)  # the recipes bind `__main__.train`, as train_t5x.py
    flags = ['--gin.MODEL_DIR="/tmp/unused"', '--gin.RECORDS_DIR="/tmp/unused"']
    bindings = [flag.split("=", 1)[1] for flag in gin_utils.rewrite_gin_args(flags)]
    gin.clear_config(clear_constants=True)
    try:
        gin_utils.parse_gin_flags([REPO_ROOT], [f"gin/experiments/flan_t5_{size}_gsm8k_specialize.gin"], bindings)
        query = gin.query_parameter
        start = int(query("%INITIAL_CHECKPOINT_PATH").rsplit("_", 1)[-1])
        return {
            "batch_size": query("%BATCH_SIZE"),
            "lengths": dict(query("%TASK_FEATURE_LENGTHS")),
            "eval_period": query("%EVAL_PERIOD"),
            "train_steps": query("%TRAIN_STEPS") - start,
            "paper_examples": dict(query("losses.micro_batch_shares.examples")),
            "format_shares": query("%FORMAT_SHARES").scoped_configurable_fn(),
        }
    finally:
        gin.clear_config(clear_constants=True)


def build_stand_in_records(work: str, questions: int, samples: int, workers: int) -> str:
    """Stand-in teacher JSONL -> `python -m distill.build` (the user's command) -> records directory."""
    from distill.contracts import teacher_records
    from distill.data import data_dir, sources, splits
    from distill.generate import stand_in

    held_out = splits.gsm8k_validation_ids()
    problems = [p for p in sources.gsm8k("train") if p.id not in held_out][:questions]
    teacher = os.path.join(work, "teacher.jsonl")
    p50k = data_dir.data_file("tokenizers/gpt2/p50k_base.tiktoken")
    teacher_records.append(teacher, list(stand_in.records(problems, p50k, k=5, samples=samples)))
    out = os.path.join(work, "records")
    command = [sys.executable, "-m", "distill.build", "--teacher", teacher, "--out", out, "--top-k", "5"]
    command += ["--workers", str(workers), "--no-progress"]
    subprocess.run(command, cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    return out


def packed_batches(records_dir: str, weights: dict[str, float] | None, settings: dict, count: int, seed: int):
    """`count` packed training batches of the distillation mixture, as numpy dicts."""
    import seqio

    from tasks import distillation
    from tasks.teacher_features import DistillationFeatureConverter

    name = distillation.register_distillation(records_dir, name="packed_rows", weights=weights)
    ds = seqio.get_dataset(
        name, settings["lengths"], DistillationFeatureConverter(pack=True), shuffle=True, seed=seed, num_epochs=None
    )
    return list(ds.batch(settings["batch_size"], drop_remainder=True).take(count).as_numpy_iterator())


def measure(batches: list[dict], recipes: dict[str, dict]) -> dict[str, Any]:
    """Examples per row and per-format shares (examples, target tokens, loss under each recipe) on the batches."""
    import jax.numpy as jnp

    from distill.contracts.format_ids import DECODER_FORMAT_IDS, MATH_FORMATS, format_code
    from distill.engine import losses

    per_row = np.concatenate([batch["decoder_segment_ids"].max(axis=1) for batch in batches])
    examples, tokens = dict.fromkeys(MATH_FORMATS, 0), dict.fromkeys(MATH_FORMATS, 0.0)
    loss_shares = {size: dict.fromkeys(MATH_FORMATS, 0.0) for size in recipes}
    for batch in batches:
        codes, segments = batch[DECODER_FORMAT_IDS], batch["decoder_segment_ids"]
        weights = (batch["decoder_target_tokens"] > 0).astype(np.float32)
        reweighted = {
            size: np.asarray(losses.FormatShareWeighting(r["format_shares"])(batch, jnp.asarray(weights)))
            for size, r in recipes.items()
        }
        for fmt in MATH_FORMATS:
            mine = codes == format_code(fmt)
            examples[fmt] += sum(len(np.unique(row[keep])) for row, keep in zip(segments, mine, strict=True))
            tokens[fmt] += float(weights[mine].sum())
            for size, w in reweighted.items():
                loss_shares[size][fmt] += float(w[mine].sum()) / float(w.sum()) / len(batches)
    total_examples, total_tokens = sum(examples.values()), sum(tokens.values())
    return {
        "rows": int(per_row.size),
        "examples_per_row": {
            "mean": float(per_row.mean()),
            "p10": float(np.percentile(per_row, 10)),
            "p90": float(np.percentile(per_row, 90)),
        },
        "formats": {
            fmt: {
                "example_share": examples[fmt] / total_examples,
                "mean_target_tokens": tokens[fmt] / max(examples[fmt], 1),
                "token_sum_loss_share": tokens[fmt] / total_tokens,
                **{f"{size}_loss_share": loss_shares[size][fmt] for size in recipes},
            }
            for fmt in MATH_FORMATS
        },
    }


def schedules(per_row: float, recipes: dict[str, dict]) -> dict[str, dict]:
    """Per recipe: examples per step, steps per epoch of the paper's data, epochs at the first and last evaluation."""
    out = {}
    for size, r in recipes.items():
        per_step = per_row * r["batch_size"]
        epoch_steps = sum(r["paper_examples"].values()) / per_step
        evaluations = r["train_steps"] // r["eval_period"]
        out[size] = {
            "examples_per_step": per_step,
            "steps_per_paper_epoch": epoch_steps,
            "evaluations": evaluations,
            "first_eval_epochs": r["eval_period"] / epoch_steps,
            "last_eval_epochs": evaluations * r["eval_period"] / epoch_steps,
        }
    return out


def table(report: dict) -> str:
    sizes = list(report["schedules"])
    lines = [
        f"records: {report['records']} ({report['mix']} mix), {report['rows']} packed rows at {report['lengths']}",
        "examples per row: mean {mean:.2f}, p10 {p10:.0f}, p90 {p90:.0f}".format(**report["examples_per_row"]),
        "",
        "format  examples  target tokens  loss share: token sum  " + "  ".join(f"{s:>5}" for s in sizes),
    ]
    for fmt, row in report["formats"].items():
        shares = "  ".join(f"{100 * row[f'{s}_loss_share']:4.1f}%" for s in sizes)
        lines.append(
            f"{fmt:<7} {100 * row['example_share']:7.1f}%  {row['mean_target_tokens']:13.1f}  "
            f"{100 * row['token_sum_loss_share']:20.1f}%  {shares}"
        )
    lines += ["", "recipe  examples/step  steps/paper epoch  evaluations  epochs at first .. last"]
    for size, s in report["schedules"].items():
        lines.append(
            f"{size:<7} {s['examples_per_step']:13.0f}  {s['steps_per_paper_epoch']:17.0f}  {s['evaluations']:11d}  "
            f"{s['first_eval_epochs']:.2f} .. {s['last_eval_epochs']:.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    recipes = {size: recipe(size) for size in SIZES}
    settings = recipes["base"]
    if any((r["batch_size"], r["lengths"]) != (settings["batch_size"], settings["lengths"]) for r in recipes.values()):
        raise SystemExit("the recipes differ in BATCH_SIZE or TASK_FEATURE_LENGTHS; measure them one by one")
    with tempfile.TemporaryDirectory() as work:
        records_dir = args.records or build_stand_in_records(work, args.questions, args.samples, args.workers)
        weights = None if args.mix == "records" else {k: float(v) for k, v in settings["paper_examples"].items()}
        batches = packed_batches(records_dir, weights, settings, args.batches, args.seed)
    report = {
        "records": args.records or f"stand-in: {args.questions} GSM8K train questions x {args.samples} samples",
        "mix": args.mix,
        "lengths": settings["lengths"],
        **measure(batches, recipes),
    }
    report["schedules"] = schedules(report["examples_per_row"]["mean"], recipes)
    print(table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
