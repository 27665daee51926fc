"""Training works: a micro model overfits a tiny batch; sharding and microbatching change nothing."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

from distill.engine import partitioning, trainer, utils
from tests.support.micro import input_shapes, micro_model, random_batch

OVERFIT_THRESHOLD = 0.05  # Mean loss per target token after 150 steps on one fixed batch.


def test_micro_model_overfits_a_tiny_batch() -> None:
    batch = random_batch(batch_size=4)
    model = micro_model()
    partitioner = partitioning.PjitPartitioner(num_partitions=1, devices=jax.devices()[:1])
    schedule = utils.create_learning_rate_scheduler(factors="constant", base_learning_rate=0.05)
    train = trainer.Trainer(model, partitioner, schedule, input_shapes(batch))
    state = train.init_state(jax.random.PRNGKey(0))
    tokens = float((batch["decoder_target_tokens"] > 0).sum())
    first = None
    for _ in range(150):
        state, metrics = train.train_step(state, batch, jax.random.PRNGKey(1))
        first = first if first is not None else float(metrics["loss"]) / tokens
    last = float(metrics["loss"]) / tokens
    assert first > 2.0
    assert last < OVERFIT_THRESHOLD, f"loss per token went from {first:.3f} to {last:.3f}"
    assert float(metrics["accuracy_correct"]) == tokens


@functools.cache
def run_steps(
    num_partitions: int,
    devices: tuple,
    parameter_partitioning_dims: int = 1,
    num_microbatches: int | None = None,
    dropout_rate: float = 0.0,
    steps: int = 2,
) -> tuple[list[float], dict]:
    batch = random_batch(batch_size=8)
    model = micro_model(dropout_rate=dropout_rate)
    partitioner = partitioning.PjitPartitioner(
        num_partitions=num_partitions, parameter_partitioning_dims=parameter_partitioning_dims, devices=devices
    )
    schedule = utils.create_learning_rate_scheduler(factors="constant", base_learning_rate=0.01)
    train = trainer.Trainer(model, partitioner, schedule, input_shapes(batch), num_microbatches=num_microbatches)
    state = train.init_state(jax.random.PRNGKey(0))
    batch = jax.device_put(batch, partitioner.batch_sharding())
    loss_values = []
    for _ in range(steps):
        state, metrics = train.train_step(state, batch, jax.random.PRNGKey(1))
        loss_values.append(float(metrics["loss"]))
    return loss_values, jax.device_get(state.params)


# Reductions run in a different order on different meshes, so results agree to float32 rounding.
RTOL, ATOL = 1e-5, 1e-6

MESHES = {
    "2x4": dict(num_partitions=4),
    "1x8": dict(num_partitions=8),
    "8x1": dict(num_partitions=1),
    "2x4_fsdp": dict(num_partitions=4, parameter_partitioning_dims=2),
    "8x1_fsdp": dict(num_partitions=1, parameter_partitioning_dims=2),
}


@pytest.mark.parametrize("mesh", sorted(MESHES))
def test_sharded_training_equals_single_device(mesh: str) -> None:
    """With dropout on: the dropout masks must not depend on the sharding either."""
    assert len(jax.devices()) == 8, "conftest sets 8 simulated CPU devices"
    ref_loss, ref_params = run_steps(1, tuple(jax.devices()[:1]), dropout_rate=0.1)
    loss, params = run_steps(devices=tuple(jax.devices()), dropout_rate=0.1, **MESHES[mesh])
    np.testing.assert_allclose(loss, ref_loss, rtol=RTOL)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL), params, ref_params)


@pytest.mark.parametrize("mesh", ["2x4", "2x4_fsdp"])
def test_microbatched_training_equals_full_batch(mesh: str) -> None:
    ref_loss, ref_params = run_steps(1, tuple(jax.devices()[:1]))
    loss, params = run_steps(devices=tuple(jax.devices()), num_microbatches=4, **MESHES[mesh])
    np.testing.assert_allclose(loss, ref_loss, rtol=RTOL)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL), params, ref_params)


def test_microbatching_keeps_a_named_normalizer_global() -> None:
    """Per-batch token-count normalization is resolved on the global batch, not per microbatch."""
    losses = {}
    for microbatches in (None, 4):
        batch = random_batch(batch_size=8)
        model = micro_model()
        model.loss_normalizing_factor = "NUM_REAL_TARGET_TOKENS"
        partitioner = partitioning.PjitPartitioner(num_partitions=1, devices=jax.devices()[:1])
        schedule = utils.create_learning_rate_scheduler(factors="constant", base_learning_rate=0.01)
        train = trainer.Trainer(model, partitioner, schedule, input_shapes(batch), num_microbatches=microbatches)
        state = train.init_state(jax.random.PRNGKey(0))
        state, metrics = train.train_step(state, batch, jax.random.PRNGKey(1))
        losses[microbatches] = (float(metrics["loss"]), jax.device_get(state.params))
    np.testing.assert_allclose(losses[4][0], losses[None][0], rtol=RTOL)
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL), losses[4][1], losses[None][1]
    )


def test_params_are_sharded_as_the_rules_say() -> None:
    batch = random_batch(batch_size=8)
    model = micro_model()
    schedule = utils.create_learning_rate_scheduler(factors="constant")
    for dims, embed_axis in ((1, None), (2, "data")):
        partitioner = partitioning.PjitPartitioner(num_partitions=4, parameter_partitioning_dims=dims)
        train = trainer.Trainer(model, partitioner, schedule, input_shapes(batch))
        state = train.init_state(jax.random.PRNGKey(0))
        kernel = state.params["encoder"]["layers_0"]["mlp"]["wi_0"]["kernel"]
        assert tuple(kernel.sharding.spec) == (embed_axis, "model")
        assert dict(partitioner.mesh.shape) == {"data": 2, "model": 4}
