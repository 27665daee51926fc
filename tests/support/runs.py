"""Real `train_t5x.py` subprocesses for the end-to-end tests (preemption, multi-host).

The tests drive the entry point exactly as a user does (flags, gin, MODEL_DIR), so what they
check is the behaviour of whole runs: resume after SIGKILL, multi-process training. Outputs
go to log files (not pipes, which can fill and stall a child) and are quoted on failure.

`python -m tests.support.runs <train_t5x flags>` runs `train_t5x.py` unchanged, except that every
checkpoint save also writes this process's own copy of the params to
MODEL_DIR/params_process_<i>_step_<n>.npz: a checkpoint holds one copy of a replicated
array, so only these dumps show that processes agree.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from tests.support import REPO_ROOT

DEMO_GIN = "gin/experiments/demo_micro.gin"
FINAL_CHECKPOINT = re.compile(r"^checkpoint_(\d+)$")  # Orbax writes `*.orbax-checkpoint-tmp-*`, then renames.


# Test-only bindings, in a gin file because the `train_script` alias exists only there.
OVERRIDES_GIN = """
from __gin__ import dynamic_registration
import __main__ as train_script

train_script.train.train_eval_dataset_cfg = None
train_script.train.infer_eval_dataset_cfg = None
"""
# seqio shards examples across hosts *before* shuffling, so a run's global batches depend on
# its host count; this feeds one process the global batches of a `hosts`-process run.
HOSTS_DATA_GIN = """
from tests.support import runs

train_script.train.get_dataset_fn = @runs.get_dataset_as_hosts
runs.get_dataset_as_hosts.hosts = {hosts}
"""


def train_command(
    model_dir: str,
    steps: int,
    *,
    save_period: int,
    extra: Sequence[str] = (),
    dump_params: bool = False,
    data_of_hosts: int | None = None,
) -> list[str]:
    """The demo micro run, shortened: no evaluation, dropout on (so the dropout RNG path is replayed too).

    Writes its extra gin file next to `model_dir`. `dump_params` runs `python -m tests.support.runs`
    (per-process param dumps); `data_of_hosts` feeds a single process the global batches of a
    run with that many hosts (`get_dataset_as_hosts`).
    """
    overrides = model_dir.rstrip("/") + "_overrides.gin"
    with open(overrides, "w", encoding="utf-8") as f:
        f.write(OVERRIDES_GIN + (HOSTS_DATA_GIN.format(hosts=data_of_hosts) if data_of_hosts else ""))
    return [
        sys.executable,
        *(["-m", "tests.support.runs"] if dump_params else ["train_t5x.py"]),
        f"--gin_file={DEMO_GIN}",
        f"--gin_file={overrides}",
        f'--gin.MODEL_DIR="{model_dir}"',
        f"--gin.TRAIN_STEPS={steps}",
        f"--gin.utils.SaveCheckpointConfig.period={save_period}",
        "--gin.EVAL_PERIOD=1000000",
        "--gin.DROPOUT_RATE=0.1",
        "--gin.RANDOM_SEED=1234",
        "--gin.BATCH_SIZE=16",
        *extra,
    ]


def subprocess_env(devices: int, compilation_cache: str | None = None) -> dict[str, str]:
    """CPU-only environment with `devices` simulated devices (the test process's XLA_FLAGS is not inherited).

    A shared persistent compilation cache lets later runs skip the ~15 s compile; XLA produces the
    same executable either way, so it changes timing only.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLA_", "JAX_", "TPU_", "CUDA_VISIBLE"))}
    env.update(
        JAX_PLATFORMS="cpu",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
        PYTHONUNBUFFERED="1",
    )
    env.setdefault("COT_DATA_DIR", os.path.join(os.path.dirname(REPO_ROOT), "shared", "data"))
    if compilation_cache:
        env["JAX_COMPILATION_CACHE_DIR"] = compilation_cache
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    return env


class Run:
    """One `train_t5x.py` process whose stdout and stderr go to `<log_prefix>.out` / `.err`."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], log_prefix: str) -> None:
        self.command = list(command)
        self.out_path, self.err_path = log_prefix + ".out", log_prefix + ".err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.command, cwd=REPO_ROOT, env=dict(env), stdout=out, stderr=err)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def logs(self, tail: int = 4000) -> str:
        parts = []
        for path in (self.out_path, self.err_path):
            with open(path, encoding="utf-8", errors="replace") as f:
                parts.append(f"--- {os.path.basename(path)} ---\n{f.read()[-tail:]}")
        return "\n".join(parts)

    def stderr(self) -> str:
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def kill(self) -> None:
        """SIGKILL (by pid; a run starts no child processes) unless it has exited; reaps it."""
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)


def wait_all(runs: Sequence[Run], timeout: float) -> None:
    """Waits for every run to exit cleanly; the first failure or the deadline kills them all.

    Failing fast matters for collective runs: when one process dies, its peers block in a
    collective until jax.distributed's heartbeat timeout.
    """

    def fail(message: str) -> AssertionError:
        for run in runs:
            run.kill()
        return AssertionError(message + "\n" + "\n".join(run.logs() for run in runs))

    deadline = time.monotonic() + timeout
    pending = list(runs)
    while pending:
        for run in list(pending):
            if run.proc.poll() is not None:
                pending.remove(run)
                if run.proc.returncode != 0:
                    raise fail(f"{run.command} exited with {run.proc.returncode}")
        if pending and time.monotonic() > deadline:
            raise fail(f"{len(pending)} run(s) did not finish in {timeout:.0f} s")
        time.sleep(0.2 if pending else 0)


@contextlib.contextmanager
def cleanup(runs: list[Run]) -> Iterator[list[Run]]:
    """Kills whatever is still running in `runs` on exit, so a failing test leaks no process."""
    try:
        yield runs
    finally:
        for run in runs:
            run.kill()


def finalized_steps(model_dir: str) -> list[int]:
    """Steps of the checkpoints orbax has finalized (renamed from their temporary directory)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(m.group(1)) for name in os.listdir(model_dir) if (m := FINAL_CHECKPOINT.match(name)))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_checkpoint(model_dir: str, step: int) -> dict[str, np.ndarray]:
    """Every array of MODEL_DIR/checkpoint_<step>/state (params under `target/`) as host numpy, by path."""
    import jax
    import orbax.checkpoint as ocp

    path = os.path.join(model_dir, f"checkpoint_{step}", "state")
    checkpointer = ocp.PyTreeCheckpointer()
    metadata = checkpointer.metadata(path)
    tree = getattr(metadata, "item_metadata", None) or metadata
    tree = getattr(tree, "tree", tree)
    restore_args = jax.tree_util.tree_map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
    restored = checkpointer.restore(path, args=ocp.args.PyTreeRestore(restore_args=restore_args))
    flat = jax.tree_util.tree_flatten_with_path(restored)[0]
    return {"/".join(str(getattr(k, "key", k)) for k in keys): np.asarray(leaf) for keys, leaf in flat}


def assert_bitwise_equal(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], what: str) -> None:
    """Same leaves, dtypes, shapes and bits; the message lists what differs and by how much."""
    assert sorted(a) == sorted(b), f"{what}: different leaves {sorted(set(a) ^ set(b))}"
    differ = []
    for name in sorted(a):
        x, y = a[name], b[name]
        if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y):
            gap = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) if x.shape == y.shape else None
            differ.append(f"{name} (max |diff| {gap})")
    assert not differ, f"{what}: {len(differ)} of {len(a)} arrays differ: {differ[:10]}"


def params_of(tree: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {k: v for k, v in tree.items() if k.startswith("target/")}


def wait_for(predicate: Callable[[], Any], timeout: float, run: Run, interval: float = 0.02) -> Any:
    """Polls `predicate()` until truthy; fails (with logs) if `run` exits or the deadline passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exited = run.proc.poll() is not None
        value = predicate()
        if value:
            return value
        if exited:
            raise AssertionError(f"{run.command} exited with {run.proc.returncode} first\n{run.logs()}")
        time.sleep(interval)
    run.kill()
    raise AssertionError(f"timed out after {timeout:.0f} s waiting on {run.command}\n{run.logs()}")


def get_dataset_as_hosts(
    cfg: Any,
    shard_id: int,
    num_shards: int,
    feature_converter_cls: Any,
    default_seed: int,
    start_step: int = 0,
    *,
    hosts: int,
) -> Iterator[dict[str, np.ndarray]]:
    """`utils.get_dataset` for one process, reading every host's shard and stacking them in process order.

    That is the global batch `make_global_batch` assembles in a `hosts`-process run whose
    process i holds rows [i * B / hosts, (i + 1) * B / hosts) of the `data` axis.
    """
    from distill.engine import utils

    if (shard_id, num_shards) != (0, 1):
        raise ValueError(f"get_dataset_as_hosts is for single-process runs, got shard {shard_id} of {num_shards}")
    streams = [
        utils.get_dataset(cfg, host, hosts, feature_converter_cls, default_seed, start_step=start_step)
        for host in range(hosts)
    ]
    for parts in zip(*streams, strict=False):
        yield {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _save_with_param_dump(save: Callable[..., None]) -> Callable[..., None]:
    """Wraps `CheckpointManager.save` to dump this process's addressable copy of the params first."""

    def save_and_dump(manager: Any, state: Any) -> None:
        import jax

        from distill.engine import checkpoints

        target = checkpoints.to_checkpoint_tree(state, manager.layer_counts)["target"]
        arrays = {
            "target/" + "/".join(str(getattr(k, "key", k)) for k in keys): np.asarray(leaf.addressable_data(0))
            for keys, leaf in jax.tree_util.tree_flatten_with_path(target)[0]
        }
        name = f"params_process_{jax.process_index()}_step_{int(jax.device_get(state.step))}.npz"
        np.savez(os.path.join(os.fspath(manager._manager.directory), name), **arrays)  # MODEL_DIR
        save(manager, state)

    return save_and_dump


def dumped_params(model_dir: str, process: int, step: int) -> dict[str, np.ndarray]:
    with np.load(os.path.join(model_dir, f"params_process_{process}_step_{step}.npz")) as dump:
        return {name: dump[name] for name in dump.files}


if __name__ == "__main__":
    import runpy

    from distill.engine import checkpoints

    checkpoints.CheckpointManager.save = _save_with_param_dump(checkpoints.CheckpointManager.save)
    runpy.run_path(os.path.join(REPO_ROOT, "train_t5x.py"), run_name="__main__")
