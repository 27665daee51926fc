"""`python -m distill.generate` imports neither tensorflow nor seqio: `--help`, a gold run and an HTTP run.

Why: teacher generation runs for hours on machines that need no training stack; tensorflow alone
costs seconds of start-up and hundreds of MB of heap per process. The child processes run the real
command under `tests.support.blocked_imports`, which refuses those packages and reports every
attempt, even one guarded by `try/except ImportError`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from distill.contracts import teacher_records
from tests.support import REPO_ROOT
from tests.support.teacher_server import ScriptedServer

pytestmark = pytest.mark.e2e  # runs the project's commands as subprocesses


def run_blocked(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    report = tmp_path / "imports.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.blocked_imports", str(report), "distill.generate", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    found = json.loads(report.read_text())
    assert found == {"attempts": [], "loaded": []}, f"blocked imports: {found}\n{proc.stderr[-3000:]}"
    return proc


def test_help_imports_neither(tmp_path: Path) -> None:
    proc = run_blocked(tmp_path, "--help")
    assert proc.returncode == 0 and "--base-url" in proc.stdout


def test_gold_run_imports_neither(tmp_path: Path) -> None:
    out = tmp_path / "gold.jsonl"
    proc = run_blocked(tmp_path, "--source", "gsm8k-gold", "--limit", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list(teacher_records.read(str(out)))) == 3


def test_http_run_imports_neither(tmp_path: Path) -> None:
    server = ScriptedServer()
    try:
        questions = tmp_path / "questions.jsonl"
        questions.write_text(
            "".join(json.dumps({"question": f"What is {a} + 2?", "answer": a + 2}) + "\n" for a in (1, 5))
        )
        prompt = tmp_path / "prompt.txt"
        prompt.write_text("Question: What is 1 + 1?\nLet's think step by step\n1 + 1 = 2.\nThe answer is 2\n")
        out = tmp_path / "teacher.jsonl"
        args = ["--base-url", server.url, "--model", "scripted", "--questions", str(questions), "--prompt", str(prompt)]
        proc = run_blocked(tmp_path, *args, "--samples", "2", "--top-logprobs", "3", "--out", str(out))
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(teacher_records.read(str(out)))
    assert len(rows) == 4 and all(r["tokens"] for r in rows)
