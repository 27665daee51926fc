"""T5X's configuration dataclasses and helpers (`utils.DatasetConfig`, checkpoint configs, LR schedules).

Names and fields follow `t5x/utils.py` so T5X gin bindings such as
`train/utils.DatasetConfig.batch_size = 64` work unchanged. seqio and tensorflow are imported
only when a dataset is actually built.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

log = logging.getLogger(__name__)


@dataclasses.dataclass
class DatasetConfig:
    """What to feed: a seqio task or mixture, lengths, split and global batch size.

    `use_cached` defaults to False (T5X's finetune.gin defaults it to True, which fails on any
    task without an offline cache). `seed=None` takes the run's RANDOM_SEED, so the batch order
    is a function of (seed, step) and a resumed run sees the batches an uninterrupted one would.
    """

    mixture_or_task_name: Any
    task_feature_lengths: Mapping[str, int] | None
    split: str
    batch_size: int
    shuffle: bool
    seed: int | None = None
    use_cached: bool = False
    pack: bool = False
    use_custom_packing_ops: bool = False
    module: str | None = None
    use_memory_cache: bool = True
    trim_output_features: bool = True
    passthrough_features: Mapping[str, Any] | None = None


@dataclasses.dataclass
class SaveCheckpointConfig:
    """When to save: every `period` steps, at `checkpoint_steps`, and at the end; keep the last `keep`.

    `dtype` and `save_dataset` are accepted so T5X gins parse: params are saved in their training
    dtype (as T5X's orbax writer does), and no dataset state is needed because the batch order
    is a function of (seed, step).
    """

    period: int | None = None
    keep: int | None = None
    dtype: str = "float32"
    checkpoint_steps: Sequence[int] | None = None
    save_dataset: bool = False
    use_async: bool = True


@dataclasses.dataclass
class RestoreCheckpointConfig:
    """INITIAL_CHECKPOINT_PATH: params (and step) restored into the run's sharding and param dtype.

    The other fields are accepted so T5X gins parse; training always restores one path's params.
    """

    path: str | Sequence[str] | None = None
    mode: str = "latest"
    dtype: str | None = None
    strict: bool = True
    fallback_to_scratch: bool = False
    restore_dataset: bool = False


@dataclasses.dataclass
class CheckpointConfig:
    save: SaveCheckpointConfig | None = None
    restore: RestoreCheckpointConfig | None = None


class LearningRateSchedule(Protocol):
    """The gin `learning_rate_fn` plug point of `trainer.Trainer`: the learning rate at a (global) step."""

    def __call__(self, step: jax.Array) -> jax.Array: ...


def create_learning_rate_scheduler(
    factors: str = "constant * linear_warmup * rsqrt_decay",
    base_learning_rate: float = 0.5,
    warmup_steps: int = 1000,
    decay_factor: float = 0.5,
    steps_per_decay: int = 20000,
    steps_per_cycle: int = 100000,
    step_offset: int = 0,
    min_learning_rate: float = 1e-8,
) -> LearningRateSchedule:
    """T5X's factor-product schedule, evaluated at the train state's (global) step.

    Factors: constant, linear_warmup, rsqrt_decay, rsqrt_normalized_decay, decay_every,
    cosine_decay (period `steps_per_cycle` after warmup), linear_decay (`decay_factor` per step
    after warmup). E.g. AdamW with warmup and cosine: 'constant * linear_warmup * cosine_decay'.
    """
    names = [name.strip() for name in factors.split("*")]
    known = {
        "constant",
        "linear_warmup",
        "rsqrt_decay",
        "rsqrt_normalized_decay",
        "decay_every",
        "cosine_decay",
        "linear_decay",
    }
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"Unknown learning-rate factor(s) {unknown}; known: {sorted(known)}")

    def schedule(step: jax.Array) -> jax.Array:
        step = jnp.maximum(0, jnp.asarray(step, jnp.float32) - step_offset)
        rate = jnp.asarray(1.0, jnp.float32)
        for name in names:
            if name == "constant":
                rate *= base_learning_rate
            elif name == "linear_warmup":
                rate *= jnp.minimum(1.0, step / warmup_steps)
            elif name == "rsqrt_decay":
                rate /= jnp.sqrt(jnp.maximum(step, warmup_steps))
            elif name == "rsqrt_normalized_decay":
                rate *= jnp.sqrt(warmup_steps) / jnp.sqrt(jnp.maximum(step, warmup_steps))
            elif name == "decay_every":
                rate *= decay_factor ** (step // steps_per_decay)
            elif name == "cosine_decay":
                progress = jnp.maximum(0.0, (step - warmup_steps) / float(steps_per_cycle))
                rate *= jnp.maximum(0.0, 0.5 * (1.0 + jnp.cos(jnp.pi * (progress % 1.0))))
            elif name == "linear_decay":
                rate *= jnp.maximum(0.0, 1.0 - decay_factor * jnp.maximum(step - warmup_steps, 0.0))
        return jnp.maximum(rate, min_learning_rate).astype(jnp.float32)

    return schedule


def get_dataset(
    cfg: DatasetConfig,
    shard_id: int,
    num_shards: int,
    feature_converter_cls: Any,
    default_seed: int,
    start_step: int = 0,
    num_epochs: int | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """This host's batches (`batch_size // num_shards` rows), starting at `start_step`.

    The order depends only on the seed: resuming at step s skips the first s batches of the
    same deterministic stream.
    """
    import seqio  # Lazy: the engine must import without tensorflow/seqio.
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # Keep tensorflow off the accelerators, as T5X does.
        tf.config.set_visible_devices([], "GPU")

    if cfg.module:
        import importlib

        importlib.import_module(cfg.module)
    if cfg.batch_size % num_shards:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {num_shards} data shards.")
    seed = default_seed if cfg.seed is None else cfg.seed
    converter_kwargs = {"pack": cfg.pack, "use_custom_packing_ops": cfg.use_custom_packing_ops}
    if cfg.passthrough_features:
        converter_kwargs["passthrough_features"] = cfg.passthrough_features
    try:
        ds = seqio.get_dataset(
            cfg.mixture_or_task_name,
            task_feature_lengths=cfg.task_feature_lengths,
            dataset_split=cfg.split,
            shuffle=cfg.shuffle,
            num_epochs=num_epochs,
            feature_converter=feature_converter_cls(**converter_kwargs),
            shard_info=seqio.ShardInfo(index=shard_id, num_shards=num_shards),
            use_cached=cfg.use_cached,
            seed=seed,
            trim_output_features=cfg.trim_output_features,
        )
    except AssertionError as err:
        if cfg.use_cached and "cache" in str(err):
            raise ValueError(
                f"use_cached=True but {cfg.mixture_or_task_name!r} has no offline seqio cache ({err}). "
                "Cache it with seqio_cache_tasks and pass --seqio_additional_cache_dirs, or set "
                "USE_CACHED_TASKS=False."
            ) from err
        raise
    ds = ds.batch(cfg.batch_size // num_shards, drop_remainder=True)
    if start_step:
        log.info("Skipping %d batches to resume the data stream at step %d", start_step, start_step)
        ds = ds.skip(start_step)
    return ds.as_numpy_iterator()


def make_global_batch(local_batch: Mapping[str, np.ndarray], sharding: jax.sharding.Sharding, num_shards: int) -> dict:
    """Assembles process-local rows into global `jax.Array`s sharded along the batch axis."""
    out = {}
    for key, value in local_batch.items():
        global_shape = (value.shape[0] * num_shards, *value.shape[1:])
        out[key] = jax.make_array_from_process_local_data(sharding, value, global_shape)
    return out
