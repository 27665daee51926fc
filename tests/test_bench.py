"""Smoke test of `bench/train_step.py`: it runs end to end and writes a well-formed JSON report.

Why: the benchmark is run by hand on GPU machines, where a broken script wastes scarce device
time; CI catches breakage on CPU at the micro size. No timing is asserted.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import pathlib
import subprocess
import sys
from types import ModuleType

import pytest

from tests.support import REPO_ROOT

POSITIVE = (
    "params",
    "matmul_params",
    "compile_s",
    "init_s",
    "step_s",
    "tokens_per_s",
    "target_tokens_per_s",
    "flops_per_step",
    "tflops_per_s",
)


def load_bench(name: str = "train_step") -> ModuleType:
    """`bench/<name>.py` as a module (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO_ROOT, "bench", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Its dataclasses resolve their annotations through sys.modules.
    spec.loader.exec_module(module)
    return module


def run_bench(script: str, args: list[str], out, returncode: int = 0) -> tuple[subprocess.CompletedProcess, dict]:
    """Runs `bench/<script>` with `--json out`; returns the process and the JSON report."""
    path = os.path.join(REPO_ROOT, "bench", script)
    proc = subprocess.run(
        [sys.executable, path, *args, "--json", str(out)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == returncode, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc, json.loads(out.read_text())


@pytest.mark.e2e
def test_bench_micro_writes_json(tmp_path) -> None:
    out = tmp_path / "bench.json"
    args = ["--sizes", "micro", "--batch", "2", "--inputs", "16", "--targets", "8", "--steps", "1", "--warmup", "1"]
    args += ["--peer", "hf", "--optimizers", "adamw,adafactor"]
    proc, report = run_bench("train_step.py", args, out)
    assert "micro" in proc.stdout
    assert {"timestamp", "device", "settings", "results"} <= set(report)
    assert report["device"]["platform"] == "cpu"
    assert report["settings"]["batches"] == {"micro": 2}
    assert [r["impl"] for r in report["results"]] == ["hf/adamw", "engine/adamw", "engine/adafactor"]
    for result in report["results"]:
        assert result["size"] == "micro"
        for key in POSITIVE:
            assert isinstance(result[key], int | float) and result[key] > 0, (key, result[key])
        assert result["mfu"] is None  # No known peak on CPU.
        assert math.isfinite(result["loss_first"]) and math.isfinite(result["loss_last"])
    peer, engine = report["results"][0], report["results"][1]
    assert peer["params"] == engine["params"], "the peer has the engine's architecture"
    assert engine["config"]["emb_dim"] == 32  # Read from gin/models/t5_1_1/micro.gin.
    assert set(report["speedup_vs_peer"]["micro"]) == {"engine/adamw", "engine/adafactor"}


@pytest.mark.e2e
def test_bench_variants_flags_failures_and_profile(tmp_path) -> None:
    """Variants time against one peer run; XLA flags reach a child process; a failing variant is
    reported without losing the others; `--profile-steps` leaves a trace that reads back."""
    out = tmp_path / "variants.json"
    args = ["--sizes", "micro:2", "--inputs", "16", "--targets", "8", "--steps", "1", "--warmup", "1"]
    args += ["--peer", "hf", "--optimizers", "adamw", "--profile-steps", "1"]
    flags = "xla_flags=--xla_cpu_enable_fast_math=false"
    args += ["--variant", "plain:", "--variant", f"flagged:scan=1,unroll=2,remat=full,{flags}"]
    args += ["--variant", "broken:attention=cudnn"]  # cuDNN attention does not exist on the CPU.
    proc, report = run_bench("train_step.py", args, out, returncode=1)
    assert [r["variant"] for r in report["results"]] == ["peer", "plain", "flagged"]
    assert [f["run"] for f in report["failed"]] == ["micro adamw [broken]"] and "FAILED" in proc.stdout
    _, plain, flagged = report["results"]
    assert (plain["config"]["scan_layers"], plain["config"]["remat_policy"]) == (False, "none")
    assert (flagged["config"]["scan_layers"], flagged["config"]["scan_unroll"]) == (True, 2)
    assert flagged["config"]["remat_policy"] == "full"
    assert "--xla_cpu_enable_fast_math=false" in flagged["xla_flags"]
    assert "--xla_cpu_enable_fast_math" not in plain["xla_flags"]
    assert set(report["speedup_vs_peer"]["micro"]) == {"engine/adamw [plain]", "engine/adamw [flagged]"}

    device_profile = load_bench("device_profile")
    for result in (plain, flagged):
        trace = result["profile"]["trace"]
        assert trace.startswith(str(tmp_path)) and os.path.exists(trace)
        assert "no device" in result["profile"]["note"]  # The CPU backend has no accelerator plane.
        # The same summary over the host's XLA line, which a CPU trace does have.
        host = device_profile.summarize(pathlib.Path(trace), 1, line_filter=lambda plane, line: "XLA" in line)
        times = [op["ms_per_step"] for op in host["top_ops"]]
        assert host["busy_ms_per_step"] > 0 and times == sorted(times, reverse=True)
        assert math.isclose(sum(c["share"] for c in host["categories"]), 1.0)
        assert math.isclose(sum(c["ms_per_step"] for c in host["categories"]), host["busy_ms_per_step"])


def test_profile_that_cannot_start_leaves_a_note_and_runs_no_step(tmp_path) -> None:
    """A profiler failure (here: one already running) costs the profile, never the bench row."""
    import jax

    device_profile = load_bench("device_profile")
    jax.profiler.start_trace(str(tmp_path / "other"))
    try:
        state, profile = device_profile.trace(lambda s: s + 1, 0, 3, tmp_path / "trace")
    finally:
        jax.profiler.stop_trace()
    assert state == 0 and profile["trace"] is None and "did not start" in profile["note"]
    state, profile = device_profile.trace(lambda s: s + 1, 0, 3, tmp_path / "trace")
    assert state == 3 and os.path.exists(profile["trace"])


def test_gin_sizes_give_the_released_parameter_counts() -> None:
    """The sizes parsed from the model gins build T5 v1.1's published parameter counts."""
    import flax.linen as nn
    import jax

    bench = load_bench()
    released = {"small": 77e6, "base": 248e6, "large": 783e6, "xl": 2.85e9, "xxl": 11.1e9}
    shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
    for size, expected in released.items():
        config = bench.model_config("t5_1_1", size)
        model = bench.models.EncoderDecoderModel(bench.network.Transformer(config))
        boxed = jax.eval_shape(lambda r, m=model: m.get_initial_variables(r, shapes), jax.random.PRNGKey(0))
        params = nn.unbox(boxed)["params"]
        count = sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(params))
        assert abs(count / expected - 1) < 0.02, (size, count)
        flops = bench.count_flops(params, config, 1, 8, 8)
        assert 0 < flops["matmul_params"] < count


@pytest.mark.e2e
def test_decode_bench_micro_writes_json(tmp_path) -> None:
    out = tmp_path / "decode.json"
    args = ["--sizes", "micro", "--batch", "2", "--inputs", "16", "--new-tokens", "8", "--repeats", "1"]
    _, report = run_bench("decode.py", [*args, "--peer", "hf"], out)
    assert [r["impl"] for r in report["results"]] == ["hf/generate", "engine/greedy"]
    for result in report["results"]:
        assert result["tokens_per_s"] > 0 and result["decode_s"] > 0
    assert report["speedup_vs_peer"]["micro"] > 0


@pytest.mark.e2e
def test_memory_plan_micro_writes_json(tmp_path) -> None:
    """Abstract compile on 8 simulated devices; model parallelism shrinks the per-device param bytes."""
    out = tmp_path / "memory_plan.json"
    args = ["--sizes", "micro", "--meshes", "dp,mp2", "--batch", "8", "--inputs", "16", "--targets", "8"]
    _, report = run_bench("memory_plan.py", [*args, "--no-scan"], out)
    assert report["device"]["count"] == 8
    dp, mp2 = report["results"]
    assert (dp["mesh"], dp["mesh_shape"]) == ("dp", {"data": 8, "model": 1})
    assert (mp2["mesh"], mp2["mesh_shape"]) == ("mp2", {"data": 4, "model": 2})
    for row in (dp, mp2):
        assert row["size"] == "micro" and row["optimizer"] == "adafactor" and row["fits"] is True
        for key in ("params", "param_bytes", "opt_bytes", "argument_bytes", "output_bytes", "peak_bytes"):
            assert row[key] > 0, (key, row[key])
        assert row["argument_bytes"] > row["param_bytes"], "the state is an argument of the step"
    assert dp["params"] == mp2["params"]
    assert dp["param_bytes"] == 4 * dp["params"], "data parallel replicates the float32 params"
    assert mp2["param_bytes"] < dp["param_bytes"], "2-way model parallelism shards the params"


@pytest.mark.e2e
def test_generate_client_bench_tiny_run_writes_json(tmp_path) -> None:
    """The teacher-client benchmark against its zero-latency server process (a few requests, no timing asserted)."""
    out = tmp_path / "generate_client.json"
    args = ["--concurrency", "1,2", "--n", "2", "--tokens", "20", "--requests", "4"]
    _, report = run_bench("generate_client.py", args, out)
    assert [r["concurrency"] for r in report["results"]] == [1, 2]
    for row in report["results"]:
        assert (row["requests"], row["completions"]) == (4, 8)
        assert row["completions_per_s"] > 0 and row["bytes_written"] > 0
    assert report["writer"]["records"] == 8 and report["writer"]["records_per_s"] > 0
    assert report["resume"]["records"] == 8


@pytest.mark.e2e
def test_align_bench_tiny_run_writes_json(tmp_path) -> None:
    """The alignment/build benchmark on a few GSM8K rationales (no timing asserted; agreement is)."""
    out = tmp_path / "align.json"
    args = ["--samples", "12", "--dtw-samples", "6", "--build-samples", "8", "--workers", "2"]
    _, report = run_bench("align.py", args, out)
    assert [(r["part"], r["method"], r["samples"]) for r in report["results"]] == [
        ("alignment (1 core), first pass", "fast", 12),
        ("alignment (1 core), second pass", "fast", 12),
        ("alignment (1 core)", "dtw", 6),
        ("build (1 worker)", "fast", 8),
        ("build (2 workers)", "fast", 8),
    ]
    for row in report["results"]:
        assert row["samples_per_s_wall"] > 0 and 0 < row["transferred_fraction"] < 1
    assert report["agreement"]["fast_equal"] == report["agreement"]["dtw_positions"] > 0
    assert report["results"][3]["examples"] == report["results"][4]["examples"]


@pytest.mark.e2e
def test_serve_load_bench_tiny_run_writes_json(tmp_path) -> None:
    """The server-load benchmark for seconds: clients, slow and cancelling floods all reported (no timing asserted)."""
    out = tmp_path / "serve_load.json"
    args = ["--clients", "2", "--duration", "2", "--slow", "3", "--cancelled", "2", "--request_timeout_s", "2"]
    args += ["--max_connections", "4"]  # the slow flood takes the slots the clients do not: some 503s
    _, report = run_bench("serve_load.py", args, out)
    result = report["result"]
    assert result["requests"] > 0 and sum(result["statuses"].values()) == result["requests"]
    assert sum(result["slow_connections"].values()) == 3 and "still_open" not in result["slow_connections"]
    assert {s.split(":")[0] for s in result["slow_connections"]} <= {"408", "503", "closed"}
    assert result["cancelled_requests"] == {"sent": 2}
    assert result["server"]["peak_threads"] > 0 and result["server"]["peak_rss_mb"] > 0
    assert set(report["acceptance"]) >= {"no_5xx", "threads_bounded", "plain_after_within_2x_idle"}
