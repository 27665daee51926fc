"""Device mesh, T5X logical-axis rules and shardings for params, optimizer state and batches.

Like T5X's `PjitPartitioner`: a ('data', 'model') mesh sized by `num_partitions` or
`model_parallel_submesh`, T5X's `standard_logical_axis_rules`, and the FSDP-style option
(`parameter_partitioning_dims=2`: the `embed` axis of params and optimizer state is sharded
over `data`). Unlike T5X on CPU, the mesh honours `num_partitions` everywhere, so sharding
can be tested on simulated CPU devices.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import flax.linen as nn
import jax
import numpy as np
import optax
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

LogicalRules = Sequence[tuple[str, str | tuple[str, ...] | None]]


def standard_logical_axis_rules(
    activation_partitioning_dims: int = 1,
    parameter_partitioning_dims: int = 1,
    additional_rules: LogicalRules | None = None,
) -> list[tuple[str, Any]]:
    """T5X's rules; later rules for a name apply when the earlier mesh axis is taken."""
    if activation_partitioning_dims not in (1, 2) or parameter_partitioning_dims not in (1, 2):
        raise ValueError("activation/parameter_partitioning_dims must be 1 or 2")
    rules: list[tuple[str, Any]] = [("batch", "data"), ("vocab", "model")]
    if activation_partitioning_dims == 1 and parameter_partitioning_dims == 1:
        rules.append(("embed", None))
    rules += [("mlp", "model"), ("heads", "model"), ("kv", None), ("joined_kv", "model")]
    if activation_partitioning_dims == 2:
        rules.append(("embed", "model"))
    if parameter_partitioning_dims == 2:
        rules.append(("embed", "data"))
    rules += [
        (name, None) for name in ("relpos_buckets", "abspos_buckets", "length", "layers", "stack", "mlp_activations")
    ]
    return list(additional_rules or []) + rules


class BasePartitioner(Protocol):
    """The gin `PARTITIONER` plug point (T5X's `partitioning.BasePartitioner`): logical axes to shardings.

    `PjitPartitioner` is the implementation; the trainer, inference and the data layout use only this.
    """

    @property
    def data_size(self) -> int: ...

    def activation_context(self) -> contextlib.AbstractContextManager[None]: ...

    def sharding(self, logical_axes: PartitionSpec | Sequence[str | None] | None) -> NamedSharding: ...

    def replicated(self) -> NamedSharding: ...

    def param_shardings(self, boxed_params: Any) -> Any: ...

    def opt_state_shardings(
        self, tx: optax.GradientTransformation, abstract_params: Any, param_shardings: Any
    ) -> Any: ...

    def batch_sharding(self) -> NamedSharding: ...

    def data_layout(self, batch_size: int) -> tuple[int, int]: ...


class PjitPartitioner:
    """Builds the mesh and turns logical axes into `NamedSharding`s.

    Args:
      num_partitions: size of the `model` axis (devices per model replica).
      model_parallel_submesh: alternatively, a TPU-style (x, y, z, core) tile whose product
        is the model axis size.
      logical_axis_rules: defaults to `standard_logical_axis_rules()`.
      parameter_partitioning_dims: shorthand for FSDP-style rules when no rules are given.
    """

    def __init__(
        self,
        num_partitions: int | None = None,
        model_parallel_submesh: tuple[int, ...] | None = None,
        logical_axis_rules: LogicalRules | None = None,
        parameter_partitioning_dims: int = 1,
        devices: Sequence[jax.Device] | None = None,
    ) -> None:
        if (num_partitions is None) == (model_parallel_submesh is None):
            raise ValueError("Set exactly one of num_partitions or model_parallel_submesh.")
        self.num_partitions = num_partitions or math.prod(model_parallel_submesh)
        self.logical_axis_rules = list(
            logical_axis_rules or standard_logical_axis_rules(parameter_partitioning_dims=parameter_partitioning_dims)
        )
        self.mesh = create_mesh(self.num_partitions, devices)

    @property
    def data_size(self) -> int:
        return self.mesh.shape["data"]

    @contextlib.contextmanager
    def activation_context(self) -> Iterator[None]:
        """Mesh and rules under which `nn.with_logical_constraint` annotations resolve."""
        with jax.set_mesh(self.mesh), nn.logical_axis_rules(self.logical_axis_rules):
            yield

    def sharding(self, logical_axes: PartitionSpec | Sequence[str | None] | None) -> NamedSharding:
        spec = nn.logical_to_mesh_axes(tuple(logical_axes or ()), self.logical_axis_rules)
        return NamedSharding(self.mesh, spec)

    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, PartitionSpec())

    def param_shardings(self, boxed_params: Any) -> Any:
        """Shardings from the logical axes that `nn.with_logical_partitioning` recorded."""
        specs = nn.get_partition_spec(boxed_params)
        return jax.tree_util.tree_map(self.sharding, specs, is_leaf=lambda x: isinstance(x, PartitionSpec))

    def opt_state_shardings(self, tx: optax.GradientTransformation, abstract_params: Any, param_shardings: Any) -> Any:
        """Param-shaped optimizer leaves follow their param; the rest (factored stats, counts) replicate."""
        abstract_state = jax.eval_shape(tx.init, abstract_params)
        replicated = self.replicated()

        def follow(leaf: Any, param: Any, sharding: NamedSharding) -> NamedSharding:
            return sharding if getattr(leaf, "shape", None) == param.shape else replicated

        shardings = optax.tree_map_params(
            tx,
            follow,
            abstract_state,
            abstract_params,
            param_shardings,
            transform_non_params=lambda _: replicated,
            is_leaf=lambda x: isinstance(x, jax.ShapeDtypeStruct),
        )
        return abstract_state, shardings

    def batch_sharding(self) -> NamedSharding:
        return self.sharding(("batch",))

    def data_layout(self, batch_size: int) -> tuple[int, int]:
        """(shard_id, num_shards) of this host's slice of the global batch.

        Hosts that hold the same rows of the `data` axis (model parallelism across hosts) read
        the same shard.
        """
        if batch_size % self.data_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by the data mesh axis ({self.data_size}).")
        rows_of: dict[int, set[int]] = {}
        for row, devices in enumerate(self.mesh.devices):
            for device in devices:
                rows_of.setdefault(device.process_index, set()).add(row)
        groups = sorted({tuple(sorted(rows)) for rows in rows_of.values()})
        return groups.index(tuple(sorted(rows_of[jax.process_index()]))), len(groups)


def create_mesh(num_partitions: int, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A (data, model) mesh; with several processes the model axis stays within a host when it fits."""
    devices = list(devices or jax.devices())
    if len(devices) % num_partitions:
        raise ValueError(f"num_partitions={num_partitions} does not divide the {len(devices)} devices.")
    data = len(devices) // num_partitions
    processes = len({d.process_index for d in devices})
    local = len(devices) // processes
    if processes > 1 and local % num_partitions == 0:
        grid = mesh_utils.create_hybrid_device_mesh(
            (local // num_partitions, num_partitions), (processes, 1), devices, process_is_granule=True
        )
    else:
        try:
            grid = mesh_utils.create_device_mesh((data, num_partitions), devices)
        except (ValueError, NotImplementedError, AssertionError):
            grid = np.asarray(devices).reshape(data, num_partitions)
    return Mesh(grid, ("data", "model"))
