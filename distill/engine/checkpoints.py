"""Orbax checkpoints in MODEL_DIR, laid out as T5X writes them.

`MODEL_DIR/checkpoint_<step>/state/` holds `{'target': params, 'state': {'step', 'opt_state'}}`
with T5X's per-layer parameter names whether or not the run scans its layers. Saves are
asynchronous where orbax supports it; restores go straight into the run's shardings.
Initial params (`load_params`) may also come, unconverted, from T5X's own checkpoints: its
orbax ones (the same tree, plus T5X's optimizer state) and its legacy msgpack + zarr ones.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import flax.serialization
import flax.traverse_util
import jax
import numpy as np
import orbax.checkpoint as ocp
import tensorstore as ts
from etils import epath

from distill.engine import storage, t5x_legacy
from distill.engine.layout import layers_to_scanned, scanned_to_layers
from distill.engine.trainer import TrainState

log = logging.getLogger(__name__)

ITEM = "state"
STEP_PREFIX = "checkpoint"


def to_checkpoint_tree(state: TrainState, layer_counts: Mapping[str, int]) -> dict:
    """The saved pytree: T5X's `target` for params, per-layer names throughout."""
    return {
        "target": scanned_to_layers(dict(state.params), layer_counts),
        "state": {
            "step": state.step,
            "opt_state": scanned_to_layers(flax.serialization.to_state_dict(state.opt_state), layer_counts),
        },
    }


def from_checkpoint_tree(tree: Mapping, abstract_state: TrainState, layer_counts: Mapping[str, int]) -> TrainState:
    """Rebuilds a TrainState shaped (scanned or not) and sharded like `abstract_state`."""
    params = layers_to_scanned(tree["target"], abstract_state.params, layer_counts)
    opt_target = flax.serialization.to_state_dict(abstract_state.opt_state)
    opt_state = flax.serialization.from_state_dict(
        abstract_state.opt_state, layers_to_scanned(tree["state"]["opt_state"], opt_target, layer_counts)
    )
    state = TrainState(step=tree["state"]["step"], params=params, opt_state=opt_state)
    shardings = jax.tree_util.tree_map(lambda a: a.sharding, abstract_state)
    return jax.device_put(state, shardings)


class CheckpointManager:
    """Saves and restores train states in MODEL_DIR (`checkpoint_<step>` directories)."""

    def __init__(
        self,
        model_dir: str,
        layer_counts: Mapping[str, int],
        keep: int | None = None,
        use_async: bool = True,
    ) -> None:
        self.layer_counts = dict(layer_counts)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep,
            step_prefix=STEP_PREFIX,
            enable_async_checkpointing=use_async,
            cleanup_tmp_directories=True,
            create=True,
        )
        self.model_dir = os.path.abspath(model_dir)
        self._manager = ocp.CheckpointManager(self.model_dir, options=options, item_names=(ITEM,))

    def latest_step(self) -> int | None:
        """The latest committed step (what `locate` would take); uncommitted ones are skipped and logged."""
        steps = set(self._manager.all_steps()) & set(committed_steps(self.model_dir))
        return max(steps, default=None)

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, state: TrainState) -> None:
        step = int(jax.device_get(state.step))
        if step in self._manager.all_steps():
            if step in committed_steps(self.model_dir):
                return
            log.warning("Replacing the uncommitted checkpoint of step %d", step)
            self._manager.delete(step)
        tree = to_checkpoint_tree(state, self.layer_counts)
        self._manager.save(step, args=ocp.args.Composite(**{ITEM: ocp.args.StandardSave(tree)}), force=True)

    def restore(self, step: int, abstract_state: TrainState) -> TrainState:
        target = to_checkpoint_tree(abstract_state, self.layer_counts)
        restored = self._manager.restore(step, args=ocp.args.Composite(**{ITEM: ocp.args.StandardRestore(target)}))
        return from_checkpoint_tree(restored[ITEM], abstract_state, self.layer_counts)

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()


@dataclasses.dataclass(frozen=True)
class FoundCheckpoint:
    """A checkpoint found on disk: `kind` is ORBAX (`path` = the orbax item directory) or T5X_LEGACY."""

    kind: str
    path: str


ORBAX, T5X_LEGACY = "orbax", "t5x_legacy"


COMMIT_FILE = "commit_success.txt"  # orbax's commit marker (at the step and at the item level)
CHECKPOINT_METADATA = "_CHECKPOINT_METADATA"  # orbax's step metadata; `commit_timestamp_nsecs` set on commit


def _commit_problem(path: str, keys: set[str]) -> str | None:
    """Why the checkpoint directory `path` (holding `keys`, relative to it) is not complete, or None.

    Complete: T5X's legacy `checkpoint` msgpack (written last), or an orbax item (`_METADATA`)
    with orbax's commit marker: `commit_success.txt`, or a commit timestamp in
    `_CHECKPOINT_METADATA`. An orbax writer from before commit markers wrote neither file and
    relied on renaming its temporary directory, so an item without any of them is taken as is.
    """
    if "checkpoint" in keys:
        return None
    if not any(f"{item}_METADATA" in keys for item in (f"{ITEM}/", "")):
        return "no orbax _METADATA and no T5X `checkpoint` file (an interrupted or partial copy?)"
    levels = ("", f"{ITEM}/")
    if any(f"{level}{COMMIT_FILE}" in keys for level in levels):
        return None
    metadata = [f"{level}{CHECKPOINT_METADATA}" for level in levels if f"{level}{CHECKPOINT_METADATA}" in keys]
    for name in metadata:
        try:
            if json.loads(storage.read_bytes(storage.join(path, name))).get("commit_timestamp_nsecs"):
                return None
        except (ValueError, AttributeError):  # a torn metadata file is no commit
            continue
    if metadata:
        return f"orbax metadata without a commit marker ({COMMIT_FILE} or a commit timestamp): the save did not finish"
    return None


def _found(path: str, keys: set[str]) -> FoundCheckpoint | None:
    """The checkpoint `path` itself is (None if it is none), after checking that it was committed."""
    if "checkpoint" in keys:
        kind, where = T5X_LEGACY, storage.normalize(path)
    else:
        item = next((item for item in (f"{ITEM}/", "") if f"{item}_METADATA" in keys), None)
        if item is None:
            return None
        kind, where = ORBAX, storage.join(path, item.rstrip("/"))
    problem = _commit_problem(path, keys)
    if problem is not None:
        raise FileNotFoundError(f"{path} is not a complete checkpoint: {problem}")
    return FoundCheckpoint(kind, where)


def committed_steps(path: str, keys: set[str] | None = None) -> list[int]:
    """The steps of the committed `checkpoint_<step>` directories in model directory `path`, ascending.

    Incomplete ones (a save cut by a crash, a partial copy) are skipped with a warning.
    """
    keys = set(storage.list_keys(path)) if keys is None else keys
    by_step: dict[int, set[str]] = {}
    for key in keys:
        if m := re.fullmatch(rf"{STEP_PREFIX}_(\d+)/(.+)", key):
            by_step.setdefault(int(m.group(1)), set()).add(m.group(2))
    steps = []
    for step, inside in sorted(by_step.items()):
        problem = _commit_problem(storage.join(path, f"{STEP_PREFIX}_{step}"), inside)
        if problem is None:
            steps.append(step)
        else:
            log.warning("Skipping %s: %s", storage.join(path, f"{STEP_PREFIX}_{step}"), problem)
    return steps


def locate(path: str) -> FoundCheckpoint:
    """Finds a checkpoint given as T5X users write it, locally or as a `gs://` URL.

    Accepts `.../checkpoint_<step>` (ours or T5X's, orbax or legacy msgpack + zarr), an orbax
    item directory (`.../state`), a single-file legacy msgpack, or a model directory (its latest
    committed `checkpoint_<step>` is used; incomplete ones are skipped and logged). A checkpoint
    named directly that was not committed is an error, never a torn load.
    """
    if storage.is_file(path):
        return FoundCheckpoint(T5X_LEGACY, storage.normalize(path))
    keys = set(storage.list_keys(path))
    found = _found(path, keys)
    if found is not None:
        return found
    steps = committed_steps(path, keys)
    if steps:
        return locate(storage.join(path, f"{STEP_PREFIX}_{steps[-1]}"))
    raise FileNotFoundError(
        f"No checkpoint at {path}: expected a checkpoint_<step> directory (orbax `state/` or T5X `checkpoint` "
        "msgpack), a single-file T5X msgpack, or a model directory holding committed checkpoint_<step> directories."
    )


def check_params(found: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]], where: str) -> None:
    """Raises naming every missing, unexpected or misshapen param (`/`-joined T5X names)."""

    def listed(names: list[str]) -> str:
        return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")

    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    misshapen = [
        f"{name} is {tuple(found[name])} in the checkpoint, {tuple(expected[name])} in the model"
        for name in sorted(expected.keys() & found.keys())
        if tuple(found[name]) != tuple(expected[name])
    ]
    problems = [
        *([f"missing params: {listed(missing)}"] if missing else []),
        *([f"params the model does not have: {listed(unexpected)}"] if unexpected else []),
        *misshapen[:8],
    ]
    if problems:
        raise ValueError(
            f"Checkpoint {where} does not match the model ({'; '.join(problems)}). "
            "Check that the model gin (sizes, logits_via_embedding, mlp_activations) is the checkpoint's."
        )


def _shapes(tree: Mapping) -> dict[str, tuple[int, ...]]:
    return {name: tuple(leaf.shape) for name, leaf in flax.traverse_util.flatten_dict(tree, sep="/").items()}


def _shard_reader(leaf: t5x_legacy.Leaf, dtype: Any) -> Callable[[tuple[slice, ...]], np.ndarray]:
    """Reads the slice a device holds, once per distinct slice (replicas share it), in `dtype`."""
    cache: dict[tuple, np.ndarray] = {}

    def read(index: tuple[slice, ...]) -> np.ndarray:
        key = tuple((s.start, s.stop, s.step) for s in index)
        if key not in cache:
            cache[key] = leaf.read(index).astype(dtype)
        return cache[key]

    return read


def _restore_legacy(path: str, per_layer: Mapping) -> tuple[dict, int]:
    """Each param read straight into its shards (only the slices this host's devices hold) and dtype."""
    checkpoint = t5x_legacy.read(path)
    check_params({name: leaf.shape for name, leaf in checkpoint.params.items()}, _shapes(per_layer), path)
    flat = {
        name: jax.make_array_from_callback(a.shape, a.sharding, _shard_reader(checkpoint.params[name], a.dtype))
        for name, a in flax.traverse_util.flatten_dict(per_layer, sep="/").items()
    }
    return flax.traverse_util.unflatten_dict(flat, sep="/"), checkpoint.step


def _orbax_metadata(state_dir: str) -> Any:
    """orbax's metadata of an item directory: `.tree` holds array metadata (shape, dtype) as leaves."""
    metadata = ocp.PyTreeCheckpointer().metadata(state_dir)
    return getattr(metadata, "item_metadata", None) or metadata


def _restore_orbax(state_dir: str, per_layer: Mapping) -> tuple[dict, int]:
    tree = _orbax_metadata(state_dir).tree
    check_params(_shapes(tree.get("target") or {}), _shapes(per_layer), state_dir)
    has_step = "step" in (tree.get("state") or {})
    restore_args = jax.tree_util.tree_map(
        lambda a: ocp.ArrayRestoreArgs(sharding=a.sharding, dtype=a.dtype, global_shape=a.shape), per_layer
    )
    item = {"target": per_layer}
    args = {"target": restore_args}
    if has_step:
        item["state"] = {"step": jax.ShapeDtypeStruct((), jax.numpy.int32)}
        mesh = jax.tree_util.tree_leaves(per_layer)[0].sharding.mesh
        replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        args["state"] = {"step": ocp.ArrayRestoreArgs(sharding=replicated)}
    restored = ocp.PyTreeCheckpointer().restore(
        state_dir, args=ocp.args.PyTreeRestore(item=item, restore_args=args, partial_restore=True)
    )
    step = int(jax.device_get(restored["state"]["step"])) if has_step else 0
    return restored["target"], step


def _open_orbax_params(state_dir: str) -> dict[str, t5x_legacy.Leaf]:
    """The params of an orbax checkpoint opened with tensorstore, at the specs orbax itself reads."""
    metadata = _orbax_metadata(state_dir)
    target = flax.traverse_util.flatten_dict(metadata.tree.get("target") or {}, sep="/")
    use_ocdbt = storage.is_file(storage.join(state_dir, "manifest.ocdbt"))
    context = ocp.type_handlers.get_ts_context(use_ocdbt=use_ocdbt)
    opening = {}
    for name in sorted(target):
        info = ocp.type_handlers.ParamInfo(
            name="target." + name.replace("/", "."),
            parent_dir=epath.Path(state_dir),
            is_ocdbt_checkpoint=use_ocdbt,
            use_zarr3=getattr(metadata, "use_zarr3", False),
            ts_context=context,
        )
        spec = ocp.type_handlers.get_json_tspec_read(info, use_ocdbt=use_ocdbt)
        opening[name] = ts.open(spec, open=True, read=True, context=context)
    return {name: t5x_legacy.Leaf(future.result()) for name, future in opening.items()}


def open_params(path: str) -> dict[str, t5x_legacy.Leaf]:
    """Every param of a checkpoint (any format `locate` finds) by `/`-joined T5X name, unread.

    Each has `shape`, `dtype` and `read()`: converters hold one param at a time.
    """
    located = locate(path)
    if located.kind == T5X_LEGACY:
        return t5x_legacy.read(located.path).params
    return _open_orbax_params(located.path)


def load_params(path: str, abstract_params: Any, layer_counts: Mapping[str, int]) -> tuple[Any, int]:
    """Restores only the params (and the step, if saved) into the run's sharding and dtype.

    Reads our orbax checkpoints, T5X's orbax checkpoints and T5X's legacy msgpack + zarr ones
    (see `locate`). Parameters are cast to the dtype of `abstract_params` on load (e.g. a
    bfloat16 checkpoint into float32 params). A param missing from the checkpoint, or shaped
    differently, fails naming it. Returns (params, checkpoint step or 0).
    """
    located = locate(path)
    per_layer = scanned_to_layers(dict(abstract_params), layer_counts)
    log.info("Restoring params from %s (%s)", located.path, located.kind)
    restore = _restore_legacy if located.kind == T5X_LEGACY else _restore_orbax
    target, step = restore(located.path, per_layer)
    params = layers_to_scanned(target, abstract_params, layer_counts)
    params = jax.device_put(params, jax.tree_util.tree_map(lambda a: a.sharding, abstract_params))
    return params, step
