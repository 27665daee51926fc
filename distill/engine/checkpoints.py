"""Orbax checkpoints in MODEL_DIR, laid out as T5X writes them.

`MODEL_DIR/checkpoint_<step>/state/` holds `{'target': params, 'state': {'step', 'opt_state'}}`
with T5X's per-layer parameter names whether or not the run scans its layers. Saves are
asynchronous where orbax supports it; restores go straight into the run's shardings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import flax.serialization
import jax
import orbax.checkpoint as ocp

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
        self._manager = ocp.CheckpointManager(os.path.abspath(model_dir), options=options, item_names=(ITEM,))

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, state: TrainState) -> None:
        step = int(jax.device_get(state.step))
        if step in self._manager.all_steps():
            return
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


def resolve_state_dir(path: str) -> str:
    """Finds the orbax item directory for a checkpoint path given as T5X users write it.

    Accepts `.../checkpoint_<step>` (ours or T5X's orbax layout), its `state` item directory, or
    a model directory (its latest checkpoint is used).
    """
    path = os.path.abspath(path)
    if os.path.isfile(os.path.join(path, "checkpoint")):
        raise ValueError(
            f"{path} is a legacy T5X (msgpack + zarr) checkpoint; convert it with "
            "`python -m distill.convert` or point INITIAL_CHECKPOINT_PATH at an orbax checkpoint."
        )
    if os.path.isdir(os.path.join(path, ITEM)):
        return os.path.join(path, ITEM)
    steps = sorted(
        (int(name.rsplit("_", 1)[1]), name)
        for name in (os.listdir(path) if os.path.isdir(path) else [])
        if name.startswith(STEP_PREFIX + "_") and name.rsplit("_", 1)[1].isdigit()
    )
    if steps:
        return os.path.join(path, steps[-1][1], ITEM)
    if os.path.isdir(path):
        return path
    raise FileNotFoundError(f"No checkpoint at {path}")


def load_params(path: str, abstract_params: Any, layer_counts: Mapping[str, int]) -> tuple[Any, int]:
    """Restores only the params (and the step, if saved) into the run's sharding and dtype.

    Parameters are cast to the dtype of `abstract_params` on load (e.g. a bfloat16 checkpoint
    into float32 params). Returns (params, checkpoint step or 0).
    """
    state_dir = resolve_state_dir(path)
    per_layer = scanned_to_layers(dict(abstract_params), layer_counts)
    restore_args = jax.tree_util.tree_map(
        lambda a: ocp.ArrayRestoreArgs(sharding=a.sharding, dtype=a.dtype, global_shape=a.shape), per_layer
    )
    checkpointer = ocp.PyTreeCheckpointer()
    metadata = checkpointer.metadata(state_dir)
    tree = getattr(metadata, "item_metadata", None) or metadata
    tree = getattr(tree, "tree", tree)
    has_step = isinstance(tree, Mapping) and "step" in (tree.get("state") or {})
    item = {"target": per_layer}
    args = {"target": restore_args}
    if has_step:
        item["state"] = {"step": jax.ShapeDtypeStruct((), jax.numpy.int32)}
        mesh = jax.tree_util.tree_leaves(abstract_params)[0].sharding.mesh
        replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        args["state"] = {"step": ocp.ArrayRestoreArgs(sharding=replicated)}
    log.info("Restoring params from %s", state_dir)
    restored = checkpointer.restore(
        state_dir, args=ocp.args.PyTreeRestore(item=item, restore_args=args, partial_restore=True)
    )
    params = layers_to_scanned(restored["target"], abstract_params, layer_counts)
    params = jax.device_put(params, jax.tree_util.tree_map(lambda a: a.sharding, abstract_params))
    step = int(jax.device_get(restored["state"]["step"])) if has_step else 0
    return params, step
