"""Loading a served model: the model gin's `MODEL` (through the `served_model` configurable) and its params."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import gin


@gin.configurable(module="distill.serve")
def served_model(model: Any = gin.REQUIRED) -> Any:
    """Bound as `distill.serve.served_model.model = %MODEL`: how the server receives the model gin's MODEL."""
    return model


def load_model(gin_files: Sequence[str], gin_bindings: Sequence[str] = (), search_paths: Sequence[str] = (".",)) -> Any:
    """Parses the model gin (with `DROPOUT_RATE = 0.0` first, so flags can override it) and builds MODEL."""
    from distill.engine import gin_utils

    bindings = ["DROPOUT_RATE = 0.0", *gin_bindings, "distill.serve.served_model.model = %MODEL"]
    gin_utils.parse_gin_flags(list(search_paths), list(gin_files), bindings)
    return served_model()


def load_params(model: Any, checkpoint: str) -> tuple[Any, int]:
    """Restores params (scanned or not, any saved dtype) onto the first device; returns (params, step)."""
    import flax.linen as nn
    import jax

    from distill.engine import checkpoints, partitioning

    shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
    boxed = jax.eval_shape(lambda r: model.get_initial_variables(r, shapes), jax.random.key(0))
    partitioner = partitioning.PjitPartitioner(num_partitions=1, devices=jax.devices()[:1])
    shardings = partitioner.param_shardings(boxed["params"])
    abstract = jax.tree_util.tree_map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), nn.unbox(boxed)["params"], shardings
    )
    config = model.module.config
    counts = {"encoder": config.num_encoder_layers, "decoder": config.num_decoder_layers}
    return checkpoints.load_params(checkpoint, abstract, counts)


def default_model_name(checkpoint: str) -> str:
    """The run's directory name: `/runs/student/checkpoint_500/state` -> `student`."""
    parts = [p for p in os.path.normpath(os.path.abspath(checkpoint)).split(os.sep) if p]
    while len(parts) > 1 and (parts[-1] == "state" or re.fullmatch(r"checkpoint_\d+", parts[-1])):
        parts.pop()
    return parts[-1] if parts else "model"
