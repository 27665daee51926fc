"""The specialization lab: its aggregation (groups, selected steps, mean ± std) and, at smoke size, every stage wired.

The smoke run is the real lab command with a few steps per stage: the vocabulary, stage 0, the
teacher, `distill.serve` + `distill.generate` over HTTP with top-k log-probs, `distill.build --vocab
byte`, the baseline evaluation and one arm, then lab.json and lab.md. It checks wiring, not accuracy.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from distill.contracts import distill_examples, teacher_records
from distill.lab import results
from tests.support import REPO_ROOT


def write_metrics(directory: str, task: str, values: dict[int, float]) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, f"{task}-metrics.jsonl"), "w") as f:
        for step, accuracy in values.items():
            f.write(json.dumps({"step": step, "accuracy": accuracy}) + "\n")


def test_groups_selection_and_table(tmp_path) -> None:
    run = str(tmp_path / "run" / "inference_eval")
    write_metrics(run, "lab_symbols_zs_cot", {100: 40.0, 200: 80.0})
    write_metrics(run, "lab_symbols_ic_cot", {100: 60.0, 200: 90.0})
    write_metrics(run, "lab_words_zs_cot", {100: 30.0, 200: 10.0})
    write_metrics(run, "lab_large_ic_cot", {100: 50.0, 200: 30.0})
    write_metrics(run, "lab_general_copy_zs", {100: 70.0, 200: 50.0})
    write_metrics(run, "lab_symbols_zs_ao", {100: 99.0})  # not a lab group: ignored
    curves = results.read_curves(str(tmp_path / "run"))
    assert curves["id"] == {100: 50.0, 200: 85.0}
    assert curves["ood"] == {100: 40.0, 200: 20.0}
    assert curves["ood_zs"] == {100: 30.0, 200: 10.0} and curves["ood_ic"] == {100: 50.0, 200: 30.0}
    row = results.summary(curves)
    assert (row["ood_step"], row["id_step"]) == (100, 200)  # ID and OOD select different steps
    assert (row["ood"], row["id"], row["general"]) == (40.0, 85.0, 70.0)
    table = results.table({"arm": [row, {**row, "ood": 60.0}]})
    assert "| arm | 2 | 50.0 ± 14.1 | 85.0 ± 0.0 |" in table
    assert math.isnan(results.mean_std([math.nan])[0])


@pytest.mark.e2e
def test_lab_smoke_runs_every_stage(tmp_path) -> None:
    out = tmp_path / "lab"
    argv = [sys.executable, "-m", "distill.lab", "--out", str(out), "--smoke", "--seeds", "1", "--arms", "recipe"]
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    for stage in (
        "[vocab]",
        "[stage0]",
        "[teacher]",
        "[serve]",
        "[generate]",
        "[build]",
        "[baseline]",
        "[recipe-seed0]",
    ):
        assert stage in proc.stdout
    samples = list(teacher_records.read(str(out / "data" / "teacher.jsonl")))
    assert samples and all(s["tokens"] and len(s["tokens"][0]["top"]) == 5 for s in samples)  # top-k over HTTP
    assert all(s["model"] == "lab-teacher" for s in samples)
    manifest = distill_examples.read_manifest(str(out / "data" / "records"))
    assert manifest["vocabulary"] == distill_examples.BYTE_VOCABULARY
    lab = json.loads((out / "lab.json").read_text())
    assert set(lab["rows"]) == {"baseline", "recipe"}
    assert lab["curves"]["recipe"]["0"]["ood"]  # evaluated during training, on OOD tasks
    assert "| recipe | 1 |" in (out / "lab.md").read_text()
