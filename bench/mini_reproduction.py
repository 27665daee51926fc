"""A CPU-sized reproduction of the paper's ablations on the synthetic task, with seeds and spread.

    python bench/mini_reproduction.py [--seeds 0,1,2] [--train-steps 200] [--json out/mini_repro.json]

Arms (Fu et al. section 4 / docs/method.md 3.3), each trained from scratch on the synthetic
teacher's records of 2- and 3-step problems (`distill.quickstart` steps 1-2), then evaluated
zero-shot on held-out validation problems of 2-5 steps (4 and 5: out of distribution):

| arm | formats | loss | evaluated as |
| --- | --- | --- | --- |
| `answer_only` | zs_ao, ic_ao | NLL of "The answer is N" | zero-shot answer-only |
| `cot_sample` | all four | NLL of the teacher's sampled chain (sample matching) | zero-shot CoT |
| `cot_distribution` | all four | distribution matching on CoT targets | zero-shot CoT |
| `zero_shot_only` | zs_ao, zs_cot | distribution matching | zero-shot CoT |

Each run is `train_t5x.py` with a micro T5 (`--model-gin`) and `gin/experiments/quickstart.gin`
and the arm's gin overrides, evaluating once at its last step (inference_eval, `--eval-examples`
per task). The table gives the mean and the sample standard deviation over seeds of
in-distribution (k=2,3) and OOD (k=4,5) accuracy, and the final training loss and teacher KL
as the run's progress line reports them.
The numbers are whatever the runs measure; at this size, answer accuracy sits near the floor and
the token-level figures carry most of the signal.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time

from distill.quickstart.cli import prepare_records

ARMS = {
    "answer_only": ("['zs_ao', 'ic_ao']", 1.0, "synthetic_zs_ao"),
    "cot_sample": ("None", 0.0, "synthetic_zs_cot"),
    "cot_distribution": ("None", 1.0, "synthetic_zs_cot"),
    "zero_shot_only": ("['zs_ao', 'zs_cot']", 1.0, "synthetic_zs_cot"),
}
ID_STEPS, OOD_STEPS = (2, 3), (4, 5)
_FINAL = re.compile(r"Finished at step \d+: loss ([\d.]+)/token")
_KL = re.compile(r"teacher KL ([\d.]+)")


def run_arm(arm: str, seed: int, records_dir: str, out: str, args: argparse.Namespace) -> dict:
    formats, dm_weight, eval_mixture = ARMS[arm]
    model_dir = os.path.join(out, f"{arm}_seed{seed}")
    argv = [
        sys.executable,
        "train_t5x.py",
        f"--gin_file={args.model_gin}",
        "--gin_file=gin/experiments/quickstart.gin",
        f'--gin.MODEL_DIR="{model_dir}"',
        f'--gin.RECORDS_DIR="{records_dir}"',
        f"--gin.TRAIN_STEPS={args.train_steps}",
        f"--gin.EVAL_PERIOD={args.train_steps}",
        f"--gin.RANDOM_SEED={seed}",
        f"--gin.DISTILL_FORMATS={formats}",
        f"--gin.DM_WEIGHT={dm_weight}",
        f'--gin.EVAL_MIXTURE_OR_TASK_NAME="{eval_mixture}"',
        f"--gin.seqio.Evaluator.num_examples={args.eval_examples}",
    ]
    start = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{arm} seed {seed} failed:\n{result.stderr[-4000:]}")
    log = result.stdout + result.stderr
    fmt = eval_mixture.removeprefix("synthetic_")
    accuracy = {k: _final_accuracy(model_dir, f"synthetic_k{k}_{fmt}") for k in (*ID_STEPS, *OOD_STEPS)}
    kls = _KL.findall(log)
    return {
        "arm": arm,
        "seed": seed,
        "accuracy": accuracy,
        "id_accuracy": statistics.mean(accuracy[k] for k in ID_STEPS),
        "ood_accuracy": statistics.mean(accuracy[k] for k in OOD_STEPS),
        "final_loss_per_token": float(_FINAL.search(log).group(1)),
        "final_teacher_kl": float(kls[-1]) if kls and arm != "answer_only" else None,  # no teacher mass there
        "wall_s": time.monotonic() - start,
    }


def _final_accuracy(model_dir: str, task: str) -> float:
    path = os.path.join(model_dir, "inference_eval", f"{task}-metrics.jsonl")
    with open(path, encoding="utf-8") as f:
        return float(json.loads(f.read().splitlines()[-1])["accuracy"])


def _spread(values: list[float | None]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {sd:.2f}"


def table(rows: list[dict]) -> str:
    lines = [
        "| arm | seeds | ID accuracy (k=2,3) | OOD accuracy (k=4,5) | final loss/token | final teacher KL |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for arm in ARMS:
        runs = [r for r in rows if r["arm"] == arm]
        if runs:
            cells = [
                _spread([r[key] for r in runs])
                for key in ("id_accuracy", "ood_accuracy", "final_loss_per_token", "final_teacher_kl")
            ]
            lines.append(f"| {arm} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/mini_repro")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--questions", type=int, default=1500, help="teacher questions per step count")
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--eval-examples", type=int, default=100, help="validation problems per step count")
    parser.add_argument("--model-gin", default="gin/models/t5_1_1/micro.gin", help="the students' model gin")
    parser.add_argument("--json", default="out/mini_repro.json")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    records_dir = os.path.join(out, "records")
    if not os.path.exists(os.path.join(records_dir, "manifest.json")):
        prepare_records(out, args.questions, samples=2, seed=0)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for arm in args.arms.split(","):
            print(f"[{arm} seed {seed}] training {args.train_steps} steps ...", flush=True)
            rows.append(run_arm(arm, seed, records_dir, out, args))
            print(f"[{arm} seed {seed}] {json.dumps(rows[-1])}", flush=True)
    print(table(rows))
    result = {"date": datetime.date.today().isoformat(), "args": vars(args), "runs": rows, "table": table(rows)}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
