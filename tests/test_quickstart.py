"""The offline quickstart: the stand-in teacher's records, and the whole pipeline end to end at a reduced size."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from distill.build.align.teacher_tokens import tiktoken_encoding
from distill.contracts import teacher_records
from distill.data import answers, data_dir, word_problems
from distill.generate import stand_in
from tests.support import REPO_ROOT


def test_stand_in_teacher_writes_valid_records_with_slips_and_near_miss_numbers() -> None:
    encoding = tiktoken_encoding(data_dir.data_file("tokenizers/gpt2/p50k_base.tiktoken"))
    problems = word_problems.problems(3, "train")[:40]
    options = {"dataset": "synthetic_k3", "samples": 2, "wrong_rate": 0.3, "distributions": "plausible"}
    rows = list(stand_in.records(problems, encoding, **options))
    assert len(rows) == 80
    assert rows == list(stand_in.records(problems, encoding, **options))  # deterministic
    by_id = {p.id: p for p in problems}
    wrong = [r for r in rows if not r["correct"]]
    assert 0 < len(wrong) < len(rows)
    for row in rows:
        teacher_records.validate(row, "row")
        gold = float(by_id[row["question_id"]].answer)
        assert row["correct"] == answers.math_answers_equal(answers.extract_math_answer(row["completion"]), gold)
        for token in row["tokens"]:
            assert token["top"][0]["bytes"] == token["bytes"]  # the written token is the most likely
            assert sum(math.exp(t["logprob"]) for t in token["top"]) < 1.0
            if token["token"].strip().isdigit() and len(token["top"]) > 1:
                near = {abs(int(t["token"]) - int(token["token"])) for t in token["top"][1:]}
                assert near <= {1, 2, 5, 10}
    assert all(r["dataset"] == "synthetic_k3" for r in rows)


@pytest.mark.e2e
def test_quickstart_runs_end_to_end(tmp_path) -> None:
    """Teacher -> build -> distillation training -> evaluation -> report, with a micro student and a few steps."""
    out = tmp_path / "demo"
    argv = [sys.executable, "-m", "distill.quickstart", "--out", str(out), "--questions", "40", "--train-steps", "4"]
    argv += ["--eval-examples", "4", "--model-gin", "gin/models/t5_1_1/micro.gin"]
    result = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    for step in ("[1/5 teacher]", "[2/5 build]", "[3/5 train]", "[4/5 evaluate]", "[5/5 report]"):
        assert step in result.stdout
    manifest = json.loads((out / "records" / "manifest.json").read_text())
    assert set(manifest["formats"]) == {"zs_ao", "zs_cot", "ic_ao", "ic_cot"}
    model_dir = out / "model"
    assert (model_dir / "checkpoint_4").is_dir()
    test_metrics = sorted(os.listdir(model_dir / "eval" / "checkpoint_4"))
    for k in (2, 3, 4, 5):
        for fmt in ("zs_cot", "ic_cot"):
            assert f"synthetic_k{k}_{fmt}-metrics.jsonl" in test_metrics
    report = (model_dir / "report" / "report.md").read_text()
    assert "| checkpoint |" in report and "| checkpoint |" in result.stdout
