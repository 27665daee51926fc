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

from distill.contracts.distill_examples import DECODER_TEACHER_IDS, DECODER_TEACHER_LOGPROBS
from distill.contracts.format_ids import DECODER_FORMAT_IDS, MATH_FORMATS, format_code

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
    batch: Mapping[str, Array],
    loss_normalizing_factor: float | int | str | SpecialLossNormalizingFactor | None,
    loss_weighting: LossWeighting | None = None,
) -> tuple[Array, Array | float | None]:
    """T5X's `get_loss_normalizing_factor_and_weights`, with an optional reweighting of the tokens.

    Weights default to `decoder_target_tokens > 0`, then pass through `loss_weighting`. A named
    factor is resolved against this batch; the trainer calls this once per global batch so
    microbatching leaves the loss (and any per-format reweighting) unchanged.
    """
    targets = batch["decoder_target_tokens"]
    weights = batch.get("decoder_loss_weights")
    weights = (targets > 0).astype(jnp.float32) if weights is None else weights.astype(jnp.float32)
    if loss_weighting is not None:
        weights = loss_weighting(batch, weights)
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


class LossWeighting(Protocol):
    """Reweights a global batch's target tokens (a gin plug point of `models.EncoderDecoderModel`)."""

    def __call__(self, batch: Mapping[str, Array], weights: Array) -> Array: ...


@dataclasses.dataclass(frozen=True)
class FormatShareWeighting:
    """Gives each data format a fixed share of the loss, as Fu et al.'s single-format micro-batches do.

    Fu et al. average the loss over each single-format micro-batch, so a format's share of the
    gradient is its share of the micro-batches, set by per-format micro-batch sizes; a token sum
    over packed mixed-format rows instead gives each format its share of the target tokens, which
    favours the long in-context CoT targets less and the short answer-only ones more than the paper.

    With `shares` ({format: share}, every format of `MATH_FORMATS`), the tokens of format f (by
    `decoder_format_ids`) are scaled by `share_f / (sum of the present formats' shares) * T / T_f`,
    where T_f is the batch's weight on format f and T its weight on all formats: format f gets
    exactly its share (renormalized over the formats present in this batch), tokens within a
    format keep equal weight (the paper's per-micro-batch token mean), and the weights still sum
    to T, so the loss keeps its per-token scale and `NUM_REAL_TARGET_TOKENS` is unchanged.
    `shares=None`, or a batch without format ids (evaluation tasks), keeps the weights: the token sum.
    """

    shares: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if self.shares is None:
            return
        if set(self.shares) != set(MATH_FORMATS) or any(value <= 0 for value in self.shares.values()):
            raise ValueError(f"format shares {dict(self.shares)} must give every format of {MATH_FORMATS} a share > 0")

    def __call__(self, batch: Mapping[str, Array], weights: Array) -> Array:
        if self.shares is None or DECODER_FORMAT_IDS not in batch:
            return weights
        table = [0.0] * (len(MATH_FORMATS) + 1)  # code 0: padding, no share
        for fmt, share in self.shares.items():
            table[format_code(fmt)] = float(share)
        codes = batch[DECODER_FORMAT_IDS]
        per_format = jnp.zeros(len(table), jnp.float32).at[codes].add(weights)
        shares = jnp.where(per_format > 0, jnp.asarray(table, jnp.float32), 0.0)
        total = jnp.sum(per_format[1:])
        scale = shares / jnp.maximum(jnp.sum(shares), 1e-9) * total / jnp.maximum(per_format, 1e-9)
        return weights * scale[codes]


def micro_batch_shares(
    examples: Mapping[str, int], micro_batch_sizes: Mapping[str, int], grad_accum: int
) -> dict[str, float]:
    """Each format's share of the micro-batches in Fu et al.'s batching (paper-method.md section 2).

    Their batcher cuts each format's examples into chunks of `grad_accum * micro_batch_size`, drops
    the incomplete last chunk and splits every chunk into `grad_accum` single-format micro-batches;
    each micro-batch's mean loss weighs the same, so this is each format's share of the gradient.
    """
    if set(examples) != set(micro_batch_sizes):
        raise ValueError(f"examples {sorted(examples)} and micro_batch_sizes {sorted(micro_batch_sizes)} differ")
    counts = {fmt: examples[fmt] // (grad_accum * size) * grad_accum for fmt, size in micro_batch_sizes.items()}
    total = sum(counts.values())
    if not total:
        raise ValueError(f"no complete chunk of grad_accum={grad_accum} micro-batches in {dict(examples)}")
    return {fmt: count / total for fmt, count in counts.items()}


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


# Teacher features in a distillation batch ([batch, length, K]) are named in `distill_examples`.


@dataclasses.dataclass(frozen=True)
class DistributionMatchingLoss:
    """Fu et al.'s distribution matching: cross-entropy against the teacher's top-k where it has mass, else NLL.

    Per target position with teacher mass (a row of `decoder_teacher_topk_logprobs` with a finite
    entry), the loss is `dm_weight * H(q, p_student) + (1 - dm_weight) * NLL(sampled token)`, with
    `H(q, p) = -sum_k q_k log p(id_k)`: the forward KL(q || p) up to q's entropy, a constant. Positions
    without mass (answer-only targets, EOS, tokens the alignment could not transfer) and batches
    without teacher features (evaluation tasks) get the NLL of the target token, so a one-hot teacher
    on the target is exactly NLL. `dm_weight=0` is sample matching, the paper's ablation.

    `renormalize=False` (the paper's choice) uses the teacher's top-k probabilities as they are (sum
    <= 1): the missing mass is dropped, not given to any token. The term's minimum is still the
    renormalized top-k distribution (-sum_k q_k log p_k is smallest at p = q / sum q), but each
    position weighs in proportion to its top-k mass, so positions where the teacher spread
    probability beyond its top k count less. `renormalize=True` rescales every row to sum to 1.

    Metric sums (summarized by `models.summarize_metrics`): `dm_loss` and `nll_loss`, the parts of
    the loss from the teacher term and from NLL (`loss = dm_loss + nll_loss + z_loss`), and
    `teacher_kl_sum` / `teacher_kl_tokens`: KL(renormalized teacher top-k || student) summed over, and
    counted on, positions with teacher mass (the student's probabilities are not renormalized, so it
    is >= 0 and 0 only when the student puts all its mass on the top k in the teacher's proportions).
    All terms are finite for -inf log-probs, in values and gradients.
    """

    dm_weight: float = 1.0
    renormalize: bool = False
    z_loss: float = 0.0

    def __call__(self, logits: Array, batch: Mapping[str, Array], weights: Array) -> tuple[Array, dict[str, Array]]:
        logits = logits.astype(jnp.float32)
        log_z = jax.nn.logsumexp(logits, axis=-1)
        targets = batch["decoder_target_tokens"]
        nll = log_z - jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
        z = self.z_loss * jnp.square(log_z) * weights
        if DECODER_TEACHER_IDS in batch:
            teacher_ce, kl, transferred = _teacher_terms(
                logits, log_z, batch[DECODER_TEACHER_IDS], batch[DECODER_TEACHER_LOGPROBS], self.renormalize
            )
            transferred = transferred * weights
        else:
            teacher_ce = kl = transferred = jnp.zeros_like(nll)
        matched = self.dm_weight * transferred
        dm, nll = jnp.sum(matched * teacher_ce), jnp.sum((weights - matched) * nll)
        total = dm + nll + jnp.sum(z)
        metrics = {
            "z_loss": jnp.sum(z),
            "cross_ent_loss": dm + nll,
            "dm_loss": dm,
            "nll_loss": nll,
            "teacher_kl_sum": jnp.sum(transferred * kl),
            "teacher_kl_tokens": jnp.sum(transferred),
        }
        return total, metrics


def _teacher_terms(
    logits: Array, log_z: Array, ids: Array, logprobs: Array, renormalize: bool
) -> tuple[Array, Array, Array]:
    """Per position: cross-entropy against the teacher's top-k, KL(renormalized top-k || student), has-mass (0/1).

    -inf entries get probability 0 and never meet a log, so no NaN reaches values or gradients.
    """
    logprobs = logprobs.astype(jnp.float32)
    real = logprobs > -jnp.inf
    has_mass = jnp.any(real, axis=-1)
    row_log_mass = jnp.where(has_mass, jax.nn.logsumexp(jnp.where(real, logprobs, -jnp.inf), axis=-1), 0.0)
    normalized = jnp.where(real, logprobs - row_log_mass[..., None], 0.0)  # log of the renormalized top-k
    probs = jnp.where(real, jnp.exp(normalized if renormalize else jnp.where(real, logprobs, 0.0)), 0.0)
    student = jnp.take_along_axis(logits, ids, axis=-1) - log_z[..., None]  # log p_student(id_k)
    teacher_ce = -jnp.sum(probs * student, axis=-1)
    kl = jnp.sum(jnp.where(real, jnp.exp(normalized) * (normalized - student), 0.0), axis=-1)
    return teacher_ce, jax.lax.stop_gradient(kl), has_mass.astype(jnp.float32)
