"""Train-step benchmark: the engine side by side with Hugging Face transformers, per model size.

Why: to know what a size costs on the machine at hand, how the engine compares with the code
path of the paper's release (transformers, PyTorch eager, bf16 autocast, AdamW; `hf_peer.py`),
and to catch regressions in the train step, without a data pipeline. Both run in this one
process on the same random batch (every position a real token) and the same architecture;
the engine with AdamW (like the peer) and with Adafactor (T5X's default). The engine side
imports only `distill.engine` and jax/flax/optax/numpy, so it runs where tensorflow, seqio and
gin are not installed (e.g. a bare GPU machine); the peer needs torch and transformers.

Sizes come from the model gins themselves (`gin/models/<family>/<size>.gin`, read with a small
parser that follows `include`), so the size table lives in one place.

What is measured, per size, on one device (`PjitPartitioner(num_partitions=1)`):
  * compile_s: ahead-of-time lowering + compilation of the train step (`Trainer.compile_train_step`).
  * init_s: compiling and running the random initialisation of the train state (informational).
  * step_s: mean wall time of `--steps` steps after `--warmup` steps, dispatched back to back and
    timed until the last step's outputs are ready (as in a training loop, which does not block
    each step).
  * tokens_per_s counts input + target tokens; target_tokens_per_s only target tokens. The batch is
    random tokens with no padding, so every position is a real token.
  * flops_per_step: model FLOPs of one train step (forward + backward = 3 x forward), counted as
      6 * (matmul params applied to input tokens) * (batch * inputs)
    + 6 * (matmul params applied to target tokens) * (batch * targets)
    + 3 * attention FLOPs of the forward pass,
    where the matmul params are the `kernel`s: encoder kernels and the decoder's cross-attention
    key/value kernels see input tokens; other decoder kernels and the logits projection see
    target tokens. Attention is 4 * batch * q_len * k_len * heads * head_dim per layer (scores and
    the weighted sum of values), counted unmasked as computed (no causal halving): encoder
    self-attention, decoder self-attention and decoder cross-attention. The embedding lookup is
    excluded; the logits matmul is included (via the embedding when logits_via_embedding).
    Rematerialised recomputation is not counted (these are model FLOPs, not hardware FLOPs).
  * mfu: (flops_per_step / step_s) / peak bf16 dense TFLOP/s of the device kind, when known
    (PEAK_TFLOPS, or --peak-tflops); n/a otherwise (e.g. CPU).
  * peak_memory_bytes: `device.memory_stats()['peak_bytes_in_use']` when the backend reports it
    (GPU/TPU; process-wide, so it never decreases across sizes run in one process), plus XLA's
    own compiled-memory analysis (arguments, outputs, temporaries), which CPU also reports.

The peer's rows report the same FLOP count over its own step time. Peer runs come first (all
sizes), then the engine's, so the two frameworks never hold device memory at the same time.

Variants (`--variant NAME:key=value,...`, repeatable) time several engine settings against the
one peer run, for tuning: keys `scan` (0/1), `unroll` (T5Config.scan_unroll), `remat`,
`attention` and `xla_flags` (space-separated XLA flags; such a variant runs in a child process,
since XLA reads its flags once per process). Variants apply over `--scan`, `--remat`,
`--attention` and `--unroll`; without `--variant`, those flags are the one variant.
`peak_memory_bytes` is the process's peak so far, so with several variants only the XLA memory
column tells them apart.

`--profile-steps N` traces N more steps per run with `jax.profiler` and prints where the device
time went (the top XLA ops by total time, read with `jax.profiler.ProfileData`: no TensorBoard
needed); the trace is kept beside the JSON for xprof/TensorBoard.

Examples:
  python bench/train_step.py --sizes micro,mini,small --batch 8 --inputs 256 --targets 128
  python bench/train_step.py --sizes base --batch 32 --inputs 512 --targets 256     # on a GPU
  python bench/train_step.py --sizes xl:16 --optimizers adamw --profile-steps 2 \
      --variant scan:scan=1,remat=dots_with_no_batch_dims \
      --variant unroll2:scan=1,remat=dots_with_no_batch_dims,unroll=2 \
      --variant no-triton:scan=1,remat=dots_with_no_batch_dims,xla_flags=--xla_gpu_enable_triton_gemm=false

"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import datetime
import functools
import gc
import json
import math
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
for path in (REPO_ROOT, REPO_ROOT / "bench"):  # Run as a script from a checkout, installed or not.
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# Both frameworks share the device: JAX must not grab 75% of its memory up front.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import device_profile
import flax.linen as nn
import hf_peer
import jax
import numpy as np

from distill.engine import adafactor, models, network, optimizers, utils
from distill.engine.layers import ATTENTION_IMPLS
from distill.engine.partitioning import PjitPartitioner
from distill.engine.trainer import Trainer

# Peak dense bf16 TFLOP/s by device kind (substring of `device.device_kind`; first match wins, so
# more specific names come first). Vendor datasheet numbers without sparsity.
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("H200", 989.0),
    ("H800", 989.0),
    ("GH200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A10G", 70.0),
    ("L4", 121.0),
    ("TPU v5p", 459.0),
    ("TPU v5 lite", 197.0),
    ("TPU v5e", 197.0),
    ("TPU v4", 275.0),
    ("TPU v3", 123.0),
)
# Per platform: "size[:batch]" list and (inputs, targets) lengths. The GPU default is the issue's
# comparison: base at batch 32 and xl at batch 16, 512 -> 256 tokens.
DEFAULT_SIZES = {"cpu": "micro,mini,small", "gpu": "base:32,large:32,xl:16", "tpu": "base:32,large:32,xl:16"}
DEFAULT_LENGTHS = {"cpu": (256, 128), "gpu": (512, 256), "tpu": (512, 256)}


def gin_config_values(path: pathlib.Path) -> dict[str, Any]:
    """Literal `network.T5Config` bindings of a model gin, after its includes (macros are skipped)."""
    text = path.read_text(encoding="utf-8")
    values: dict[str, Any] = {}
    for include in re.findall(r"^include\s+['\"]([^'\"]+)['\"]", text, re.MULTILINE):
        values.update(gin_config_values(REPO_ROOT / include))
    bindings = [m.groups() for m in re.finditer(r"^network\.T5Config\.(\w+)\s*=\s*(.+)$", text, re.MULTILINE)]
    for block in re.finditer(r"^network\.T5Config:[ \t]*\n((?:[ \t]+\S.*(?:\n|$))+)", text, re.MULTILINE):
        for line in block.group(1).splitlines():
            key, sep, value = line.partition("=")
            if sep:
                bindings.append((key.strip(), value))
    for key, value in bindings:
        value = value.split("#", 1)[0].strip()
        if value.startswith(("%", "@")):
            continue
        values[key] = ast.literal_eval(value)
    return values


def model_config(family: str, size: str, **overrides: Any) -> network.T5Config:
    """The `T5Config` of `gin/models/<family>/<size>.gin`, with benchmark overrides (dtype, scan, ...)."""
    path = REPO_ROOT / "gin" / "models" / family / f"{size}.gin"
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.gin"))
        raise SystemExit(f"No model gin {path}; sizes of {family}: {', '.join(known)}")
    fields = {f.name for f in dataclasses.fields(network.T5Config)}
    values = {k: v for k, v in gin_config_values(path).items() if k in fields}
    return network.T5Config(**{**values, **overrides})


def count_flops(params: Any, config: network.T5Config, batch: int, inputs: int, targets: int) -> dict[str, float]:
    """Model FLOPs of one train step, as documented in the module docstring."""
    input_matmul = target_matmul = 0
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        names = [str(getattr(k, "key", k)) for k in path]
        size = math.prod(leaf.shape)
        if names[-1] == "embedding":
            target_matmul += size if config.logits_via_embedding else 0
        elif names[-1] != "kernel":
            continue
        elif names[0] == "encoder" or ("encoder_decoder_attention" in names and names[-2] in ("key", "value")):
            input_matmul += size
        else:
            target_matmul += size
    heads_dim = config.num_heads * config.head_dim
    attention = (
        4
        * batch
        * heads_dim
        * (
            config.num_encoder_layers * inputs * inputs
            + config.num_decoder_layers * (targets * targets + targets * inputs)
        )
    )
    total = 6 * (input_matmul * batch * inputs + target_matmul * batch * targets) + 3 * attention
    return {"matmul_params": float(input_matmul + target_matmul), "flops_per_step": float(total)}


def peak_tflops(device: jax.Device, override: float | None) -> float | None:
    """Peak bf16 TFLOP/s of the device kind, if known (None on CPU and unknown kinds)."""
    if override:
        return override
    if device.platform == "cpu":
        return None
    kind = device.device_kind
    return next((peak for name, peak in PEAK_TFLOPS if name.lower() in kind.lower()), None)


def random_batch(batch: int, inputs: int, targets: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Full-length random tokens (no padding): every position counts as a real token."""
    rng = np.random.default_rng(seed)
    enc = rng.integers(2, vocab, (batch, inputs), dtype=np.int32)
    tgt = rng.integers(2, vocab, (batch, targets), dtype=np.int32)
    tgt[:, -1] = 1  # EOS
    dec_in = np.concatenate([np.zeros((batch, 1), np.int32), tgt[:, :-1]], axis=1)
    return {"encoder_input_tokens": enc, "decoder_input_tokens": dec_in, "decoder_target_tokens": tgt}


def _xla_flops(compiled: Any) -> float | None:
    try:
        analysis = compiled.cost_analysis()
    except Exception:  # Not every backend implements it.
        return None
    if isinstance(analysis, Sequence) and analysis:
        analysis = analysis[0]
    flops = analysis.get("flops") if isinstance(analysis, Mapping) else None
    return float(flops) if flops and flops > 0 else None


def _compiled_memory(compiled: Any) -> int | None:
    try:
        mem = compiled.memory_analysis()
    except Exception:
        return None
    if mem is None:
        return None
    parts = ("argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes", "alias_size_in_bytes")
    sizes = [getattr(mem, name, 0) or 0 for name in parts]
    return int(sizes[0] + sizes[1] + sizes[2] - sizes[3])


# `--variant` keys: T5Config field and how to read the value.
VARIANT_KEYS: dict[str, tuple[str, Any]] = {
    "scan": ("scan_layers", lambda v: v.lower() in ("1", "true", "yes")),
    "unroll": ("scan_unroll", int),
    "remat": ("remat_policy", str),
    "attention": ("attention_impl", str),
}


@dataclasses.dataclass(frozen=True)
class Variant:
    """One engine setting to time: T5Config overrides, and XLA flags for a child process."""

    name: str
    overrides: Mapping[str, Any]
    xla_flags: str = ""
    spec: str = ""


def parse_variant(spec: str) -> Variant:
    """`NAME:key=value,...` (keys: scan, unroll, remat, attention, xla_flags) -> Variant."""
    name, _, settings = spec.partition(":")
    if not name or not _:
        raise ValueError(f"--variant {spec!r}: expected NAME:key=value,...")
    overrides: dict[str, Any] = {}
    xla_flags = ""
    for item in filter(None, settings.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--variant {spec!r}: {item!r} is not key=value")
        if key == "xla_flags":
            xla_flags = value
        elif key in VARIANT_KEYS:
            field, read = VARIANT_KEYS[key]
            overrides[field] = read(value)
        else:
            known = ", ".join([*VARIANT_KEYS, "xla_flags"])
            raise ValueError(f"--variant {spec!r}: unknown key {key!r}; known: {known}")
    return Variant(name, overrides, xla_flags, spec)


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The --scan/--unroll/--remat/--attention flags as T5Config fields: every variant's base."""
    return {
        "scan_layers": args.scan,
        "scan_unroll": args.unroll,
        "remat_policy": args.remat,
        "attention_impl": args.attention,
    }


def resolve_variants(args: argparse.Namespace) -> list[Variant]:
    """`--variant`s over the flags (so a child process gets the same full setting), or the flags alone."""
    if args.variant:
        return [dataclasses.replace(v, overrides={**flag_overrides(args), **v.overrides}) for v in args.variant]
    spec = f"default:scan={int(args.scan)},unroll={args.unroll},remat={args.remat},attention={args.attention}"
    return [Variant("default", flag_overrides(args), spec=spec)]


def size_config(size: str, args: argparse.Namespace, overrides: Mapping[str, Any] | None = None) -> network.T5Config:
    """The size's config with the run's dtype, dropout, scan, remat and attention, then `overrides`."""
    settings = {
        "dtype": args.dtype,
        "dropout_rate": args.dropout,
        "scan_layers": args.scan,
        "remat_policy": args.remat,
        "attention_impl": args.attention,
    }
    return model_config(args.family, size, **{**settings, **(overrides or {})})


def _blocking_step(compiled: Any, batch: Mapping[str, jax.Array], rng: jax.Array, state: Any) -> Any:
    return jax.block_until_ready(compiled(state, batch, rng)[0])


def bench_size(
    size: str, optimizer: str, args: argparse.Namespace, device: jax.Device, variant: Variant
) -> dict[str, Any]:
    """Builds the model and trainer for one size, compiles, runs and times the train step."""
    config = size_config(size, args, variant.overrides)
    optimizer_def = adafactor.Adafactor() if optimizer == "adafactor" else optimizers.AdamW()
    model = models.EncoderDecoderModel(network.Transformer(config), optimizer_def=optimizer_def, z_loss=1e-4)
    partitioner = PjitPartitioner(num_partitions=1, devices=[device])
    shapes = {
        "encoder_input_tokens": (args.batch, args.inputs),
        "decoder_input_tokens": (args.batch, args.targets),
    }
    learning_rate_fn = utils.create_learning_rate_scheduler("constant", base_learning_rate=1e-3)
    trainer = Trainer(model, partitioner, learning_rate_fn, shapes)
    params = trainer.abstract_state.params
    flops = count_flops(params, config, args.batch, args.inputs, args.targets)

    sharding = partitioner.batch_sharding()
    host_batch = random_batch(args.batch, args.inputs, args.targets, config.vocab_size)
    batch = {k: jax.device_put(v, sharding) for k, v in host_batch.items()}
    batch_shapes = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=sharding) for k, v in batch.items()}

    start = time.perf_counter()
    compiled = trainer.compile_train_step(batch_shapes)
    compile_s = time.perf_counter() - start

    start = time.perf_counter()
    state = jax.block_until_ready(trainer.init_state(jax.random.PRNGKey(0)))
    init_s = time.perf_counter() - start

    rng = jax.random.PRNGKey(1)
    losses = []
    for _ in range(args.warmup):
        state, metrics = compiled(state, batch, rng)
        losses.append(metrics["loss"])
    jax.block_until_ready(state)
    start = time.perf_counter()
    for _ in range(args.steps):
        state, metrics = compiled(state, batch, rng)
        losses.append(metrics["loss"])
    jax.block_until_ready((state, metrics))
    step_s = (time.perf_counter() - start) / args.steps

    profile = None
    if args.profile_steps:
        trace_dir = pathlib.Path(args.trace_dir) / f"{size}-{variant.name}-{optimizer}"
        run = functools.partial(_blocking_step, compiled, batch, rng)
        state, profile = device_profile.trace(run, state, args.profile_steps, trace_dir)

    stats = device.memory_stats() or {}
    tflops = flops["flops_per_step"] / step_s / 1e12
    peak = peak_tflops(device, args.peak_tflops)
    result = {
        "size": size,
        "impl": f"engine/{optimizer}",
        "variant": variant.name,
        "variant_spec": variant.spec,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "params": int(sum(math.prod(p.shape) for p in jax.tree_util.tree_leaves(params))),
        "matmul_params": int(flops["matmul_params"]),
        "compile_s": compile_s,
        "init_s": init_s,
        "step_s": step_s,
        "tokens_per_s": args.batch * (args.inputs + args.targets) / step_s,
        "target_tokens_per_s": args.batch * args.targets / step_s,
        "flops_per_step": flops["flops_per_step"],
        "tflops_per_s": tflops,
        "mfu": tflops / peak if peak else None,
        "peak_memory_bytes": stats.get("peak_bytes_in_use"),
        "compiled_memory_bytes": _compiled_memory(compiled),
        "xla_flops_per_step": _xla_flops(compiled),
        "loss_first": float(losses[0]),
        "loss_last": float(losses[-1]),
        "config": dataclasses.asdict(config),
        "profile": profile,
    }
    if not all(math.isfinite(x) for x in (result["loss_first"], result["loss_last"])):
        raise RuntimeError(f"{size}: non-finite loss {result['loss_first']} -> {result['loss_last']}")
    del state, compiled, trainer, batch
    gc.collect()
    return result


def bench_peer(size: str, args: argparse.Namespace, device: jax.Device) -> dict[str, Any]:
    """The transformers peer on the same architecture, batch and FLOP count."""
    config = size_config(size, args)
    batch = random_batch(args.batch, args.inputs, args.targets, config.vocab_size)
    abstract = jax.eval_shape(
        lambda: models.EncoderDecoderModel(network.Transformer(config)).get_initial_variables(
            jax.random.PRNGKey(0), {k: v.shape for k, v in batch.items()}
        )
    )
    flops = count_flops(nn.unbox(abstract)["params"], config, args.batch, args.inputs, args.targets)
    run = hf_peer.bench_hf(config, batch, args.dropout, args.dtype == "bfloat16", args.warmup, args.steps)
    tflops = flops["flops_per_step"] / run["step_s"] / 1e12
    peak = peak_tflops(device, args.peak_tflops)
    return {
        "size": size,
        "impl": "hf/adamw",
        "variant": "peer",
        **run,
        "matmul_params": int(flops["matmul_params"]),
        "compile_s": run["first_step_s"],
        "tokens_per_s": args.batch * (args.inputs + args.targets) / run["step_s"],
        "target_tokens_per_s": args.batch * args.targets / run["step_s"],
        "flops_per_step": flops["flops_per_step"],
        "tflops_per_s": tflops,
        "mfu": tflops / peak if peak else None,
        "compiled_memory_bytes": None,
    }


def run_label(result: Mapping[str, Any]) -> str:
    """`engine/adamw`, or `engine/adamw [variant]` for a named variant."""
    variant = result.get("variant", "default")
    return result["impl"] if variant in ("default", "peer") else f"{result['impl']} [{variant}]"


def speedups(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Engine tokens/s over the peer's, per size and engine run (optimizer and variant)."""
    peer = {r["size"]: r["tokens_per_s"] for r in results if r["impl"].startswith("hf/")}
    ratios: dict[str, dict[str, float]] = {}
    for r in results:
        if r["impl"].startswith("engine/") and r["size"] in peer:
            ratios.setdefault(r["size"], {})[run_label(r)] = r["tokens_per_s"] / peer[r["size"]]
    return ratios


def bench_in_child(size: str, batch: int, optimizer: str, args: argparse.Namespace, variant: Variant) -> dict:
    """Runs one variant in a child process with its XLA flags (XLA reads them once per process)."""
    settings = ",".join(
        f"{key}={variant.overrides[field]}" for key, (field, _) in VARIANT_KEYS.items() if field in variant.overrides
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "variant.json"
        command = [sys.executable, __file__, "--sizes", f"{size}:{batch}", "--optimizers", optimizer, "--peer", "none"]
        command += ["--variant", f"{variant.name}:{settings}", "--json", str(out)]
        command += ["--family", args.family, "--inputs", str(args.inputs), "--targets", str(args.targets)]
        command += ["--steps", str(args.steps), "--warmup", str(args.warmup), "--dtype", args.dtype]
        command += ["--dropout", str(args.dropout), "--profile-steps", str(args.profile_steps)]
        command += ["--trace-dir", args.trace_dir]
        command += ["--peak-tflops", str(args.peak_tflops)] if args.peak_tflops else []
        env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {variant.xla_flags}".strip()}
        proc = subprocess.run(command, env=env, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"variant {variant.name} ({variant.xla_flags}) failed:\n{proc.stderr[-3000:]}")
        (result,) = json.loads(out.read_text(encoding="utf-8"))["results"]
    return {**result, "variant_spec": variant.spec}


def _fmt(value: float | None, spec: str, scale: float = 1.0, unit: str = "") -> str:
    return "n/a" if value is None else format(value / scale, spec) + unit


def format_table(results: Sequence[Mapping[str, Any]]) -> str:
    """A fixed-width table of the main numbers."""
    header = (
        f"{'size':<8}{'batch':>6} {'impl':<30}{'params':>10}{'compile s':>11}{'step ms':>11}{'tok/s':>11}"
        f"{'tgt tok/s':>11}{'TFLOP/s':>10}{'MFU':>8}{'peak mem':>10}{'XLA mem':>10}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r['size']:<8}{r['batch']:>6} {run_label(r):<30}"
            f"{_fmt(r['params'], '.1f', 1e6, 'M'):>10}{r['compile_s']:>11.1f}"
            f"{r['step_s'] * 1e3:>11.1f}{r['tokens_per_s']:>11.0f}{r['target_tokens_per_s']:>11.0f}"
            f"{r['tflops_per_s']:>10.3f}{_fmt(r['mfu'], '.1%'):>8}"
            f"{_fmt(r['peak_memory_bytes'], '.2f', 2**30, 'G'):>10}"
            f"{_fmt(r['compiled_memory_bytes'], '.2f', 2**30, 'G'):>10}"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", help="comma-separated size[:batch]; default micro,mini,small on CPU, else base:32,large:32,xl:16"
    )
    parser.add_argument("--family", default="t5_1_1", help="gin/models/<family>/<size>.gin (t5_1_1, flan_t5, byt5)")
    parser.add_argument("--batch", type=int, default=8, help="batch for sizes given without ':batch'")
    parser.add_argument("--inputs", type=int, help="encoder input length (default 256 on CPU, else 512)")
    parser.add_argument("--targets", type=int, help="decoder target length (default 128 on CPU, else 256)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after compilation")
    parser.add_argument("--optimizers", default="adamw,adafactor", help="engine optimizers (adamw, adafactor)")
    parser.add_argument("--peer", choices=("auto", "hf", "none"), default="auto", help="auto: hf if installed")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16", help="activation dtype")
    parser.add_argument("--dropout", type=float, default=0.1, help="dropout rate (finetune.gin uses 0.1)")
    parser.add_argument("--scan", action="store_true", help="scan_layers=True")
    parser.add_argument("--unroll", type=int, default=1, help="T5Config.scan_unroll (layers per scan iteration)")
    parser.add_argument("--remat", choices=sorted(network.REMAT_POLICIES), default="none", help="remat policy")
    parser.add_argument("--attention", choices=ATTENTION_IMPLS, default="einsum", help="T5Config.attention_impl")
    parser.add_argument(
        "--variant",
        action="append",
        type=parse_variant,
        help="NAME:key=value,... engine setting to time (keys: scan, unroll, remat, attention, xla_flags); repeatable",
    )
    parser.add_argument("--profile-steps", type=int, default=0, help="trace this many more steps per engine run")
    parser.add_argument("--trace-dir", help="where the traces go (default: beside --json, named after it)")
    parser.add_argument("--peak-tflops", type=float, help="peak TFLOP/s for MFU when the device kind is unknown")
    parser.add_argument("--json", default="out/bench/train_step.json", help="where to write the results")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.profile_steps < 0:
        parser.error("--steps must be >= 1, --warmup and --profile-steps >= 0")
    args.trace_dir = args.trace_dir or str(pathlib.Path(args.json).with_suffix(""))
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    device = jax.devices()[0]
    specs = [s.strip() for s in (args.sizes or DEFAULT_SIZES.get(device.platform, "small")).split(",") if s.strip()]
    default_inputs, default_targets = DEFAULT_LENGTHS.get(device.platform, (512, 256))
    args.inputs, args.targets = args.inputs or default_inputs, args.targets or default_targets
    sizes = [spec.split(":")[0] for spec in specs]
    batches = {spec.split(":")[0]: int(spec.split(":")[1]) if ":" in spec else args.batch for spec in specs}
    optimizer_names = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    variants = resolve_variants(args)
    use_peer = args.peer == "hf" or (args.peer == "auto" and hf_peer.available())
    peak = peak_tflops(device, args.peak_tflops)
    print(
        f"device: {device.device_kind} ({device.platform}), jax {jax.__version__}, peak bf16 "
        f"{_fmt(peak, '.0f')} TFLOP/s | batch {batches} x ({args.inputs} in + {args.targets} tgt), "
        f"{args.dtype}, dropout {args.dropout}, {args.warmup} warmup + {args.steps} timed steps, "
        f"peer: {'hf' if use_peer else 'none'} | variants: {'; '.join(v.spec for v in variants)}",
        flush=True,
    )
    report = {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": {
            "platform": device.platform,
            "device_kind": device.device_kind,
            "jax_version": jax.__version__,
            "peak_tflops": peak,
        },
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "batch", "variant")}
        | {"batches": batches, "variants": [v.spec for v in variants]},
        "results": [],
        "failed": [],
    }
    out = pathlib.Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = [(size, "peer", None) for size in sizes if use_peer]
    runs += [(s, o, v) for s in sizes for v in variants for o in optimizer_names]
    for size, what, variant in runs:
        size_args = argparse.Namespace(**{**vars(args), "batch": batches[size]})
        label = f"{size} {what}" + (f" [{variant.name}]" if variant else "")
        try:
            if what == "peer":
                result = bench_peer(size, size_args, device)
            elif variant.xla_flags:
                result = bench_in_child(size, batches[size], what, size_args, variant)
            else:
                result = bench_size(size, what, size_args, device, variant)
        except Exception as e:  # One failing variant (out of memory, unsupported) must not lose the others.
            if len(runs) == 1:
                raise
            report["failed"].append({"run": label, "error": f"{type(e).__name__}: {str(e)[:2000]}"})
            print(f"  {label}: FAILED {type(e).__name__}: {str(e)[:300]}", flush=True)
            del e  # Its traceback holds the failed run's device arrays.
            gc.collect()
        else:
            result["batch"] = batches[size]
            report["results"].append(result)
            report["speedup_vs_peer"] = speedups(report["results"])
            print(f"  {label}: step {result['step_s'] * 1e3:.1f}ms, compile {result['compile_s']:.1f}s", flush=True)
            if result.get("profile"):
                print(device_profile.format_summary(result["profile"], result["step_s"] * 1e3), flush=True)
        out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")  # Partial results survive a timeout.
    print(format_table(report["results"]))
    for size, ratios in report.get("speedup_vs_peer", {}).items():
        print(f"{size}: " + ", ".join(f"{impl} {ratio:.2f}x the peer's tokens/s" for impl, ratio in ratios.items()))
    for failure in report["failed"]:
        print(f"FAILED {failure['run']}: {failure['error'][:300]}")
    print(f"wrote {out}")
    if report["failed"]:
        raise SystemExit(1)
    return report


if __name__ == "__main__":
    main()
