"""The specialization lab: its aggregation (groups, selected steps, mean ± std) and, at smoke size, every stage wired.

The smoke run is the real lab command with a few steps per stage: the vocabulary, stage 0, the
teacher, `distill.serve` + `distill.generate` over HTTP with top-k log-probs, `distill.build --vocab
byte`, the baseline evaluation and one arm, then lab.json and lab.md. It checks wiring, not accuracy.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

import ml_dtypes
import numpy as np
import pytest

from distill.contracts import distill_examples, teacher_records
from distill.data import lab_problems
from distill.lab import artifacts, results, runs, teacher_data
from tests.support import REPO_ROOT


def write_metrics(directory: str, task: str, values: dict[int, float]) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, f"{task}-metrics.jsonl"), "w") as f:
        for step, accuracy in values.items():
            f.write(json.dumps({"step": step, "accuracy": accuracy}) + "\n")


def test_groups_selection_and_table(tmp_path) -> None:
    run = str(tmp_path / "run" / "inference_eval")
    write_metrics(run, "lab_symbols_equals_zs_cot", {100: 40.0, 200: 80.0})
    write_metrics(run, "lab_verbal_find_ic_cot", {100: 60.0, 200: 90.0})
    write_metrics(run, "lab_words_zs_cot", {100: 30.0, 200: 10.0})
    write_metrics(run, "lab_spoken_equals_ic_cot", {100: 50.0, 200: 30.0})
    write_metrics(run, "lab_large_zs_cot", {100: 5.0, 200: 15.0})  # the range shift: its own group
    write_metrics(run, "lab_general_copy_zs", {100: 70.0, 200: 50.0})
    write_metrics(run, "lab_symbols_equals_zs_ao", {100: 99.0})  # not a lab group: ignored
    curves = results.read_curves(str(tmp_path / "run"))
    assert curves["id"] == {100: 50.0, 200: 85.0}
    assert curves["ood"] == {100: 40.0, 200: 20.0}
    assert curves["ood_zs"] == {100: 30.0, 200: 10.0} and curves["ood_ic"] == {100: 50.0, 200: 30.0}
    row = results.summary(curves)
    assert (row["ood_step"], row["id_step"]) == (100, 200)  # ID and OOD select different steps
    assert curves["range"] == {100: 5.0, 200: 15.0}
    assert (row["ood"], row["id"], row["range"], row["general"]) == (40.0, 85.0, 5.0, 70.0)
    table = results.table({"arm": [row, {**row, "ood": 60.0}]})
    assert "| arm | 2 | 50.0 ± 14.1 | 85.0 ± 0.0 |" in table
    assert math.isnan(results.mean_std([math.nan])[0])


def run_lab(*args: str, timeout: int = 1200) -> str:
    """`python -m distill.lab ARGS` from the repository root, without a data directory (the lab and
    `make demo` need none: their data is generated); returns its stdout (asserting success)."""
    argv = [sys.executable, "-m", "distill.lab", *args]
    env = {k: v for k, v in os.environ.items() if k != "COT_DATA_DIR"}
    env["XDG_CACHE_HOME"] = os.path.join(tempfile.gettempdir(), "cot-specialize-tests")  # no user data directory
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> str:
    """Stage 0 and the teacher at smoke size, exported as the committed artifacts are (`--export`)."""
    root = tmp_path_factory.mktemp("lab_artifacts")
    stdout = run_lab("--out", str(root / "runs"), "--smoke", "--export", str(root / "artifacts"))
    for stage in ("[vocab]", "[stage0]", "[teacher]", "lab: exported"):
        assert stage in stdout
    return str(root / "artifacts")


def committed_artifacts() -> str:
    path = os.path.join(REPO_ROOT, "artifacts", "lab")
    if not os.path.isdir(path):
        pytest.skip("artifacts/lab is not committed yet (python -m distill.lab --export artifacts/lab)")
    return path


def assert_loads_and_serves(directory: str, log_dir: str) -> None:
    """Stage 0 restores into the student; the teacher answers a completion with top-5 log-probs over HTTP
    (the server's log goes to `log_dir`: never beside committed artifacts)."""
    from distill.engine import checkpoints
    from distill.serve.loading import load_model, load_params

    found = artifacts.find(directory)
    leaves = checkpoints.open_params(found.teacher)
    assert leaves and all(leaf.dtype == ml_dtypes.bfloat16 for leaf in leaves.values())  # params only, bf16
    assert not any("param_states" in name for name in leaves)
    student = load_model([os.path.join(REPO_ROOT, runs.STUDENT)], [], [REPO_ROOT])
    params, step = load_params(student, found.stage0)
    assert step > 0 and params["decoder"]["logits_dense"]["kernel"].dtype == np.float32
    log = os.path.join(log_dir, "serve_test.log")
    with teacher_data.TeacherServer(found.teacher, found.vocab_file, log) as server:
        body = {"model": "lab-teacher", "prompt": "Q: 3 + 4 = ?\nLet's think step by step", "max_tokens": 8}
        request = urllib.request.Request(
            f"{server.url}/completions",
            data=json.dumps({**body, "logprobs": 5, "temperature": 0}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            choice = json.loads(response.read())["choices"][0]
    top = choice["logprobs"]["top_logprobs"]
    assert top and all(len(alternatives) == 5 for alternatives in top)


@pytest.mark.e2e
@pytest.mark.usefixtures("fresh_gin")
def test_exported_artifacts_load_and_serve(exported: str, tmp_path) -> None:
    assert_loads_and_serves(exported, str(tmp_path))


@pytest.mark.e2e
@pytest.mark.usefixtures("fresh_gin")
def test_committed_artifacts_load_and_serve(tmp_path) -> None:
    directory = committed_artifacts()
    assert_loads_and_serves(directory, str(tmp_path))
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(directory) for f in files)
    assert size <= 20 * 2**20


@pytest.mark.e2e
def test_lab_smoke_runs_every_stage(tmp_path, exported: str) -> None:
    out = tmp_path / "lab"
    stdout = run_lab("--out", str(out), "--smoke", "--seeds", "1", "--arms", "recipe,replay", "--artifacts", exported)
    generate = [f"[generate-{d}]" for d in lab_problems.ID_DATASETS]  # each form asked with its own demonstration
    for stage in ("[serve]", *generate, "[build]", "[baseline]", "[recipe-seed0]", "[replay-seed0]"):
        assert stage in stdout
    files = [out / "data" / f"teacher-{d}.jsonl" for d in lab_problems.ID_DATASETS]
    samples = [s for f in files for s in teacher_records.read(str(f))]
    assert samples and all(s["tokens"] and len(s["tokens"][0]["top"]) == 5 for s in samples)  # top-k over HTTP
    # every in-distribution form asked, each record naming its dataset (in-context demonstrations come from it)
    assert {s["dataset"] for s in samples} == set(lab_problems.ID_DATASETS)
    assert all(s["model"] == "lab-teacher" for s in samples)
    manifest = distill_examples.read_manifest(str(out / "data" / "records"))
    assert manifest["vocabulary"] == distill_examples.BYTE_VOCABULARY
    lab = json.loads((out / "lab.json").read_text())
    assert set(lab["rows"]) == {"baseline", "recipe", "replay"}
    assert lab["curves"]["recipe"]["0"]["ood"] and lab["curves"]["replay"]["0"]["general"]
    text = (out / "lab.md").read_text()
    assert "| recipe | 1 |" in text and "](figures/tradeoff.png)" in text
    assert (out / "figures" / "recipe_curves.png").stat().st_size > 0


@pytest.mark.e2e
def test_demo_smoke_prints_the_lift_line(tmp_path, exported: str) -> None:
    stdout = run_lab("--out", str(tmp_path / "demo"), "--demo", "--smoke", "--artifacts", exported)
    last = stdout.strip().splitlines()[-1]
    lift = r"demo: OOD multi-step accuracy \d+\.\d% before specialization, \d+\.\d% after \(step \d+\)"
    assert re.fullmatch(lift, last)
    metrics = tmp_path / "demo" / "recipe" / "inference_eval" / "lab_words_zs_cot-metrics.jsonl"
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    start = int(os.path.basename(artifacts.find(exported).stage0).split("_")[-1])
    assert steps[0] == start and steps[-1] > start  # evaluated before training, and after
    assert (tmp_path / "demo" / "curves.png").stat().st_size > 0


def test_lanes_split_the_usable_cores() -> None:
    cores = os.sched_getaffinity(0)
    for count in (1, 2, 64):
        lanes = runs.lanes(count)
        assert len(lanes) == min(count, len(cores))
        assert set().union(*lanes) == cores and sum(map(len, lanes)) == len(cores)  # disjoint, all used
