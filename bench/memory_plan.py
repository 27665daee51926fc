"""Memory plan: per-device memory of the train step for each model size and device mesh, before renting hardware.

Why: whether xxl (11B) trains on 8 x 80 GB, and with which sharding, is a question to answer
before paying for the machines. This script answers it on any machine, CPU included: it builds
the train step of `distill.engine.trainer.Trainer` from *abstract* shapes only
(`jax.ShapeDtypeStruct` via `jax.eval_shape`; no weight, optimizer state or batch is ever
allocated), lowers and compiles it for a mesh of `--devices` devices, and reads XLA's own
per-device memory analysis of the compiled SPMD program. Devices are the accelerators of the
host when it has enough of them, else `--devices` simulated CPU devices
(`--xla_force_host_platform_device_count`, set before jax is imported).

Meshes (`--meshes`), over the ('data', 'model') mesh of `PjitPartitioner`:
  * `dp`: data parallel (`num_partitions=1`); params and optimizer state replicated.
  * `mpN`: N-way model parallel (`num_partitions=N`); T5X's `standard_logical_axis_rules` shard
    the vocab, mlp, heads and joined_kv axes over `model`, and the batch over `data`.
  * `fsdp`: `parameter_partitioning_dims=2` on a data-only mesh: the `embed` axis of params and
    optimizer state is sharded over `data` too (T5X's FSDP-style option). `fsdp+mpN` combines both.

Per row (size x mesh x optimizer):
  * param_bytes / opt_bytes: per-device bytes of the float32 params and the optimizer state,
    from each leaf's sharding (`NamedSharding.shard_shape`); Adafactor's factored statistics and
    step counts are replicated, as in the trainer.
  * argument / output / alias / temp / generated_code bytes: `compiled.memory_analysis()`. The
    train state is donated, so its outputs alias its arguments (alias_bytes).
  * peak_bytes = argument + output - alias + temp + generated_code: XLA's estimate of what the
    program holds at once on one device. fits: peak_bytes <= `--device-memory-gb` (GB = 1e9 bytes).

What the estimate does and does not account for. It counts every buffer of the compiled program
as XLA's buffer assignment lays them out: params, optimizer state, gradients (with
`num_microbatches` > 1, the float32 accumulator), the batch, activations kept for the backward
pass (as reduced by `--remat`), collective buffers inside the program, and temporaries. It does
not count: the runtime's own memory (CUDA context, cuBLAS/cuDNN workspaces, NCCL channel buffers:
about 1-3 GB on a GPU), the allocator's fragmentation, a host-to-device copy of the next batch, or
checkpointing (an orbax save copies shards to host memory). On a GPU, JAX's allocator also gets
only 75% of the card by default: raise `XLA_PYTHON_CLIENT_MEM_FRACTION` for a run that needs more.
On simulated CPU devices the program is compiled by XLA:CPU, whose fusion, layout and scheduling
differ from XLA:GPU/TPU, so its temporaries are an estimate for another backend: in the one
comparison made (xl on one device, BENCHMARKS.md) the CPU estimate was 1.3x and 1.7x the peak an
H200 measured. Argument, output and alias sizes (state and batch) are exact for any backend.
Leave headroom (the default 80 GB budget is below the 85.5e9 bytes an 80 GB H100 reports).

Scanned layers (`--scan`, the default here; `SCAN_LAYERS = True` in a run) make the compiled
program, and so the compile time, independent of depth: one layer body per stack, about 10 s per
xxl row on an idle 2-core machine. Unscanned xxl took 15 minutes to compile (one row), and
XLA:CPU's schedule of the 48 unrolled layers held 8x the memory of the scanned stack (fsdp, remat
`full`); plan and train xxl scanned.

Examples:
  python bench/memory_plan.py                                    # small..xxl x dp,mp2,mp8,fsdp, Adafactor
  python bench/memory_plan.py --sizes xxl --meshes fsdp,mp8 --remat full --optimizers adafactor,adamw
  python bench/memory_plan.py --sizes micro --meshes dp,mp2 --batch 8 --inputs 16 --targets 8 --no-scan  # CI
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import pathlib
import re
import sys
import time
from collections.abc import Sequence
from typing import Any


def _set_xla_flags(argv: Sequence[str]) -> None:
    """Flags that must be set before jax is imported (a flag already in XLA_FLAGS wins).

    `--devices` simulated CPU devices, and no LLVM optimisation of the machine code: the program is
    only analysed, never run, and buffer assignment happens before code generation (the analysis
    of xxl on fsdp and mp8 is byte for byte the same), and it cuts micro's compile CPU time by ~40%.
    """
    count = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--devices"), None)
    count = next((a.split("=", 1)[1] for a in argv if a.startswith("--devices=")), count) or "8"
    flags = os.environ.get("XLA_FLAGS", "")
    for name, value in (("xla_force_host_platform_device_count", count), ("xla_backend_optimization_level", "0")):
        if name not in flags:
            flags = f"{flags} --{name}={value}".strip()
    os.environ["XLA_FLAGS"] = flags


if __name__ == "__main__" and "jax" not in sys.modules:
    _set_xla_flags(sys.argv[1:])

BENCH = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]  # Runs from a checkout, installed or not.

import jax
import jax.numpy as jnp
import train_step

from distill.engine import adafactor, models, network, optimizers, utils
from distill.engine.layers import ATTENTION_IMPLS
from distill.engine.partitioning import PjitPartitioner
from distill.engine.trainer import Trainer

GB = 1e9
DEFAULT_SIZES = "small,base,large,xl,xxl"
DEFAULT_MESHES = "dp,mp2,mp8,fsdp"
OPTIMIZERS = {"adafactor": adafactor.Adafactor, "adamw": optimizers.AdamW}
MEMORY_FIELDS = {
    "argument_bytes": "argument_size_in_bytes",
    "output_bytes": "output_size_in_bytes",
    "alias_bytes": "alias_size_in_bytes",
    "temp_bytes": "temp_size_in_bytes",
    "generated_code_bytes": "generated_code_size_in_bytes",
}


@dataclasses.dataclass(frozen=True)
class MeshSpec:
    """One mesh of the plan: `num_partitions`-way model parallel, optionally FSDP-style params."""

    name: str
    num_partitions: int
    parameter_partitioning_dims: int

    @classmethod
    def parse(cls, spec: str, num_devices: int) -> MeshSpec:
        """`dp`, `mpN`, `fsdp` or `fsdp+mpN`."""
        match = re.fullmatch(r"(dp|fsdp)|(?:(fsdp)\+)?mp(\d+)", spec)
        if not match:
            raise SystemExit(f"--meshes: unknown mesh {spec!r}; use dp, mpN, fsdp or fsdp+mpN (e.g. mp2, fsdp+mp2)")
        fsdp = "fsdp" in (match.group(1), match.group(2))
        partitions = int(match.group(3) or 1)
        if partitions < 1 or num_devices % partitions:
            raise SystemExit(f"--meshes: {spec!r} needs a model axis dividing the {num_devices} devices")
        return cls(spec, partitions, 2 if fsdp else 1)


def sharded_bytes(tree: Any) -> int:
    """Per-device bytes of a tree of `ShapeDtypeStruct`s with shardings; names a leaf the mesh cannot split."""
    total = 0
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        try:
            shard = leaf.sharding.shard_shape(leaf.shape)
        except ValueError as error:  # e.g. base's 12 heads over an 8-way model axis.
            mesh = dict(leaf.sharding.mesh.shape)
            where = jax.tree_util.keystr(path)
            raise ValueError(f"{where} {leaf.shape} does not split as {leaf.sharding.spec} over {mesh}") from error
        total += math.prod(shard) * leaf.dtype.itemsize
    return total


def memory_analysis(compiled: Any) -> dict[str, int | None]:
    """XLA's per-device memory analysis and the peak estimate defined in the module docstring."""
    analysis = compiled.memory_analysis()
    if analysis is None:  # A backend without the analysis.
        return dict.fromkeys([*MEMORY_FIELDS, "peak_bytes"])
    sizes = {key: int(getattr(analysis, name)) for key, name in MEMORY_FIELDS.items()}
    peak = sum(sizes[k] for k in ("argument_bytes", "output_bytes", "temp_bytes", "generated_code_bytes"))
    return sizes | {"peak_bytes": peak - sizes["alias_bytes"]}


def plan_row(
    size: str, mesh: MeshSpec, optimizer: str, args: argparse.Namespace, devices: Sequence[jax.Device]
) -> dict[str, Any]:
    """Lowers and compiles one train step from abstract shapes and reports its per-device memory."""
    config = train_step.size_config(size, args)
    model = models.EncoderDecoderModel(network.Transformer(config), optimizer_def=OPTIMIZERS[optimizer](), z_loss=1e-4)
    partitioner = PjitPartitioner(
        num_partitions=mesh.num_partitions,
        parameter_partitioning_dims=mesh.parameter_partitioning_dims,
        devices=devices,
    )
    row: dict[str, Any] = {
        "size": size,
        "mesh": mesh.name,
        "mesh_shape": dict(partitioner.mesh.shape),
        "optimizer": optimizer,
        "batch": args.batch,
        "num_microbatches": args.microbatches,
    }
    per_replica = partitioner.data_size * args.microbatches
    if args.batch % per_replica:
        raise ValueError(f"--batch {args.batch} is not divisible by data axis x microbatches = {per_replica}")
    lengths = {"encoder_input_tokens": args.inputs, "decoder_input_tokens": args.targets}
    shapes = {k: (args.batch, n) for k, n in lengths.items()}
    learning_rate_fn = utils.create_learning_rate_scheduler("constant", base_learning_rate=1e-3)
    trainer = Trainer(model, partitioner, learning_rate_fn, shapes, num_microbatches=args.microbatches)
    state = trainer.abstract_state
    row["params"] = sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(state.params))
    row["param_bytes"] = sharded_bytes(state.params)
    row["opt_bytes"] = sharded_bytes(state.opt_state)

    sharding = partitioner.batch_sharding()
    lengths["decoder_target_tokens"] = args.targets
    batch = {k: jax.ShapeDtypeStruct((args.batch, n), jnp.int32, sharding=sharding) for k, n in lengths.items()}
    start = time.perf_counter()
    compiled = trainer.compile_train_step(batch)
    row["compile_s"] = time.perf_counter() - start
    row.update(memory_analysis(compiled))
    budget = args.device_memory_gb * GB
    row["fits"] = row["peak_bytes"] is not None and row["peak_bytes"] <= budget
    return row


def _gb(value: int | None) -> str:
    return "n/a" if value is None else f"{value / GB:.2f}"


def _count(params: int) -> str:
    return f"{params / 1e9:.2f}B" if params >= 1e9 else f"{params / 1e6:.1f}M"


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """One line per size x mesh x optimizer; bytes per device in GB (1e9)."""
    header = (
        f"{'size':<6}{'mesh':<10}{'data x model':>13} {'optimizer':<10}{'params':>8}{'param GB':>9}{'opt GB':>8}"
        f"{'args GB':>9}{'out GB':>8}{'alias GB':>9}{'temp GB':>9}{'code GB':>8}{'peak GB':>9}"
        f"{'fits':>6}{'compile s':>10}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        prefix = f"{r['size']:<6}{r['mesh']:<10}"
        if "error" in r:
            lines.append(f"{prefix}{'':>13} {r['optimizer']:<10}  not compiled: {r['error']}")
            continue
        shape = f"{r['mesh_shape']['data']} x {r['mesh_shape']['model']}"
        lines.append(
            f"{prefix}{shape:>13} {r['optimizer']:<10}{_count(r['params']):>8}{_gb(r['param_bytes']):>9}"
            f"{_gb(r['opt_bytes']):>8}{_gb(r['argument_bytes']):>9}{_gb(r['output_bytes']):>8}"
            f"{_gb(r['alias_bytes']):>9}{_gb(r['temp_bytes']):>9}{_gb(r['generated_code_bytes']):>8}"
            f"{_gb(r['peak_bytes']):>9}{'yes' if r['fits'] else 'NO':>6}{r['compile_s']:>10.1f}"
        )
    return "\n".join(lines)


def select_devices(count: int) -> list[jax.Device]:
    """The host's accelerators when there are enough of them, else simulated CPU devices."""
    devices = jax.devices()
    if len(devices) < count:
        devices = jax.devices("cpu")
    if len(devices) < count:
        raise SystemExit(
            f"--devices {count}: only {len(devices)} devices; XLA_FLAGS already set "
            f"--xla_force_host_platform_device_count (XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r})"
        )
    return devices[:count]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated sizes of gin/models/<family>/")
    parser.add_argument("--family", default="t5_1_1", help="t5_1_1 or flan_t5 (the same architectures), or byt5")
    parser.add_argument("--meshes", default=DEFAULT_MESHES, help="comma-separated dp, mpN, fsdp, fsdp+mpN")
    parser.add_argument("--devices", type=int, default=8, help="devices in the mesh (simulated on CPU)")
    parser.add_argument("--optimizers", default="adafactor", help=f"comma-separated of {', '.join(OPTIMIZERS)}")
    parser.add_argument("--batch", type=int, default=64, help="global batch size")
    parser.add_argument("--inputs", type=int, default=512, help="encoder input length")
    parser.add_argument("--targets", type=int, default=256, help="decoder target length")
    parser.add_argument("--microbatches", type=int, default=1, help="trainer.Trainer.num_microbatches")
    parser.add_argument("--scan", action=argparse.BooleanOptionalAction, default=True, help="scan_layers")
    parser.add_argument("--remat", choices=sorted(network.REMAT_POLICIES), default="none", help="remat policy")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16", help="activation dtype")
    parser.add_argument("--dropout", type=float, default=0.1, help="dropout rate (finetune.gin uses 0.1)")
    parser.add_argument("--attention", choices=ATTENTION_IMPLS, default="einsum", help="T5Config.attention_impl")
    parser.add_argument("--device-memory-gb", type=float, default=80.0, help="per-device budget in GB (1e9 bytes)")
    parser.add_argument("--json", default="out/bench/memory_plan.json", help="where to write the results")
    args = parser.parse_args(argv)
    args.optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    unknown = sorted(set(args.optimizers) - set(OPTIMIZERS))
    if unknown:
        parser.error(f"--optimizers: unknown {', '.join(unknown)}; choose from {', '.join(OPTIMIZERS)}")
    if min(args.batch, args.inputs, args.targets, args.microbatches, args.devices) < 1:
        parser.error("--batch, --inputs, --targets, --microbatches and --devices must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    devices = select_devices(args.devices)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    meshes = [MeshSpec.parse(m.strip(), args.devices) for m in args.meshes.split(",") if m.strip()]
    print(
        f"{args.devices} x {devices[0].device_kind} ({devices[0].platform}), jax {jax.__version__} | "
        f"{args.family} batch {args.batch} x ({args.inputs} in + {args.targets} tgt), {args.microbatches} "
        f"microbatch(es), {args.dtype}, scan={args.scan}, remat={args.remat}, budget {args.device_memory_gb:g} GB",
        flush=True,
    )
    report = {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": {"platform": devices[0].platform, "device_kind": devices[0].device_kind, "count": len(devices)},
        "jax_version": jax.__version__,
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "results": [],
    }
    out = pathlib.Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    for size in sizes:
        for mesh in meshes:
            for optimizer in args.optimizers:
                try:
                    row = plan_row(size, mesh, optimizer, args, devices)
                except ValueError as error:  # e.g. 12 heads on an 8-way model axis.
                    row = {"size": size, "mesh": mesh.name, "optimizer": optimizer, "error": str(error)[:300]}
                report["results"].append(row)
                out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")  # Partial results survive.
                status = row.get("error") or f"peak {_gb(row['peak_bytes'])} GB, compile {row['compile_s']:.1f}s"
                print(f"  {size} {mesh.name} {optimizer}: {status}", flush=True)
    print(format_table(report["results"]))
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
