"""T5X's token losses: summed cross-entropy with z-loss and label smoothing.

`TargetLoss` is the plug-in point: a model computes logits and weights, then asks its target
loss for the summed per-token loss. The distillation pipeline adds teacher distribution
matching by providing another `TargetLoss`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Protocol

import jax
import jax.numpy as jnp

Array = jax.Array


class SpecialLossNormalizingFactor(enum.Enum):
    """T5X's named loss normalizers (`LOSS_NORMALIZING_FACTOR = "NUM_REAL_TARGET_TOKENS"`)."""

    NUM_REAL_TARGET_TOKENS = 1
    NUM_TOTAL_TARGET_TOKENS = 2
    AVERAGE_PER_SEQUENCE = 3


@jax.custom_vjp
def cross_entropy_with_logits(
    logits: Array, targets: Array, confidence: float, low_confidence: float, z_loss: float
) -> tuple[Array, Array]:
    """Per-token cross-entropy against label-smoothed integer targets, plus z-loss.

    Equivalent to T5X's `cross_entropy_with_logits(logits, onehot(targets, on=confidence,
    off=low_confidence), z_loss)` without materialising the [batch, length, vocab] soft targets.
    Returns (loss including z-loss, z-loss), each [batch, length].
    """
    return _cross_entropy_fwd(logits, targets, confidence, low_confidence, z_loss)[0]


def _cross_entropy_fwd(logits, targets, confidence, low_confidence, z_loss):
    logits = logits.astype(jnp.float32)
    max_logit = jnp.max(logits, axis=-1, keepdims=True)
    shifted = logits - jax.lax.stop_gradient(max_logit)
    sum_exp = jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True)
    log_z = jnp.squeeze(jnp.log(sum_exp) + max_logit, axis=-1)
    target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    soft_dot_logits = low_confidence * jnp.sum(logits, axis=-1) + (confidence - low_confidence) * target_logit
    z = z_loss * jnp.square(log_z)
    loss = log_z - soft_dot_logits + z
    return (loss, z), (logits, targets, log_z, confidence, low_confidence, z_loss)


def _cross_entropy_bwd(res, g):
    logits, targets, log_z, confidence, low_confidence, z_loss = res
    g = g[0]  # The returned z-loss is for logging; T5X gives it no gradient.
    softmax = jnp.exp(logits - log_z[..., None])
    onehot = jax.nn.one_hot(targets, logits.shape[-1], dtype=logits.dtype)
    soft_targets = low_confidence + (confidence - low_confidence) * onehot
    grad = (1.0 + 2.0 * z_loss * log_z)[..., None] * softmax - soft_targets
    return grad * g[..., None], None, None, None, None


cross_entropy_with_logits.defvjp(_cross_entropy_fwd, _cross_entropy_bwd)


def smoothing_constants(label_smoothing: float, vocab_size: int) -> tuple[float, float, float]:
    """(confidence, low_confidence, normalizing_constant) exactly as T5X computes them."""
    confidence = 1.0 - label_smoothing
    low = (1.0 - confidence) / (vocab_size - 1)
    constant = -(confidence * jnp.log(confidence) + (vocab_size - 1) * low * jnp.log(low + 1e-20))
    return confidence, low, float(constant) if label_smoothing else 0.0


def token_weights_and_normalizer(
    batch: Mapping[str, Array], loss_normalizing_factor: float | int | str | SpecialLossNormalizingFactor | None
) -> tuple[Array, Array | float | None]:
    """T5X's `get_loss_normalizing_factor_and_weights`.

    Weights default to `decoder_target_tokens > 0`. A named factor is resolved against this
    batch; the trainer calls this once per global batch so microbatching leaves the loss unchanged.
    """
    targets = batch["decoder_target_tokens"]
    weights = batch.get("decoder_loss_weights")
    weights = (targets > 0).astype(jnp.float32) if weights is None else weights.astype(jnp.float32)
    if loss_normalizing_factor is None or isinstance(loss_normalizing_factor, (int, float)):
        return weights, loss_normalizing_factor
    factor = (
        SpecialLossNormalizingFactor[loss_normalizing_factor]
        if isinstance(loss_normalizing_factor, str)
        else loss_normalizing_factor
    )
    if factor is SpecialLossNormalizingFactor.NUM_REAL_TARGET_TOKENS:
        return weights, jnp.sum(weights)
    if factor is SpecialLossNormalizingFactor.NUM_TOTAL_TARGET_TOKENS:
        return weights, float(targets.size)
    weights = _weights_per_sequence_average(batch, weights)
    return weights, jnp.sum(weights)


def _weights_per_sequence_average(batch: Mapping[str, Array], weights: Array) -> Array:
    """Divides each (packed) sequence's token weights by that sequence's weight total."""
    segments = batch.get("decoder_segment_ids")
    if segments is None:
        return weights / jnp.maximum(jnp.sum(weights, axis=-1, keepdims=True), 1e-9)
    same = segments[:, :, None] == segments[:, None, :]
    totals = jnp.einsum("bqk,bk->bq", same.astype(jnp.float32), weights)
    return jnp.where(weights > 0, weights / jnp.maximum(totals, 1e-9), 0.0)


class TargetLoss(Protocol):
    """Summed per-token training loss over a batch: returns (loss, metric sums)."""

    def __call__(self, logits: Array, batch: Mapping[str, Array], weights: Array) -> tuple[Array, dict[str, Array]]: ...


@dataclasses.dataclass(frozen=True)
class CrossEntropyLoss:
    """T5X's `compute_weighted_cross_entropy`: sum over tokens, no mean."""

    z_loss: float = 0.0
    label_smoothing: float = 0.0

    def __call__(self, logits: Array, batch: Mapping[str, Array], weights: Array) -> tuple[Array, dict[str, Array]]:
        confidence, low, constant = smoothing_constants(self.label_smoothing, logits.shape[-1])
        targets = batch["decoder_target_tokens"]
        loss, z = cross_entropy_with_logits(logits, targets, confidence, low, self.z_loss)
        loss = (loss - constant) * weights
        z = z * weights
        total, z_total = jnp.sum(loss), jnp.sum(z)
        return total, {"z_loss": z_total, "cross_ent_loss": total - z_total}
