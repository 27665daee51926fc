"""Distribution matching: the loss against a numpy reference, NLL where the teacher has no mass, safe -inf, training.

A one-hot teacher on the target token must give exactly T5X's NLL (value and gradient); rows of
-inf log-probs must give NLL and no NaN; the soft term must be the cross-entropy against the
teacher's top-k (renormalized or not); and a micro student trained with it must approach the
teacher's distribution, closer than sample matching gets, with microbatching changing nothing.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distill.contracts.distill_examples import DECODER_TEACHER_IDS, DECODER_TEACHER_LOGPROBS, NO_MASS
from distill.contracts.format_ids import DECODER_FORMAT_IDS
from distill.engine import adafactor, losses, models, network, partitioning, trainer, utils
from tests.support.micro import MICRO, input_shapes, random_batch

VOCAB, K = 37, 4


def soft_teacher(targets: np.ndarray, rng: np.random.RandomState, no_mass_fraction: float = 0.3) -> dict:
    """Teacher rows: the target first, K-1 other ids, partly filled rows (sum < 1), some rows without mass."""
    ids = rng.randint(0, VOCAB, (*targets.shape, K))
    ids[..., 0] = targets
    probs = rng.dirichlet(np.ones(K), targets.shape) * rng.uniform(0.5, 1.0, (*targets.shape, 1))
    logprobs = np.log(probs).astype(np.float32)
    logprobs[..., -1][rng.rand(*targets.shape) < 0.5] = NO_MASS  # an unused slot
    none = rng.rand(*targets.shape) < no_mass_fraction
    ids[none], logprobs[none] = 0, NO_MASS
    return {DECODER_TEACHER_IDS: ids.astype(np.int32), DECODER_TEACHER_LOGPROBS: logprobs}


def reference(logits, targets, weights, ids, logprobs, dm_weight, renormalize, z_loss) -> tuple[float, float]:
    """(loss, summed KL on positions with mass), position by position in float64 numpy."""
    logits, logprobs = np.asarray(logits, np.float64), np.asarray(logprobs, np.float64)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    total = kl_total = 0.0
    for pos in np.ndindex(targets.shape):
        nll = -log_p[pos][targets[pos]]
        real = np.isfinite(logprobs[pos])
        value = nll
        if real.any():
            probs = np.exp(logprobs[pos][real])
            normalized = probs / probs.sum()
            student = log_p[pos][ids[pos][real]]
            soft = -np.sum((normalized if renormalize else probs) * student)
            value = dm_weight * soft + (1 - dm_weight) * nll
            kl_total += weights[pos] * np.sum(normalized * (np.log(normalized) - student))
        log_z = np.log(np.exp(logits[pos]).sum())
        total += weights[pos] * (value + z_loss * log_z**2)
    return total, kl_total


def inputs(seed: int = 0):
    rng = np.random.RandomState(seed)
    logits = jnp.asarray(rng.randn(3, 6, VOCAB) * 3, jnp.float32)
    targets = rng.randint(2, VOCAB, (3, 6))
    weights = (rng.rand(3, 6) < 0.8).astype(np.float32)
    return rng, logits, targets, weights


@pytest.mark.parametrize(("dm_weight", "renormalize"), [(1.0, False), (1.0, True), (0.3, False), (0.0, True)])
def test_loss_matches_the_reference(dm_weight: float, renormalize: bool) -> None:
    rng, logits, targets, weights = inputs()
    batch = {"decoder_target_tokens": jnp.asarray(targets), **soft_teacher(targets, rng)}
    loss_fn = losses.DistributionMatchingLoss(dm_weight=dm_weight, renormalize=renormalize, z_loss=1e-3)
    loss, metrics = loss_fn(logits, batch, jnp.asarray(weights))
    ids, logprobs = batch[DECODER_TEACHER_IDS], batch[DECODER_TEACHER_LOGPROBS]
    ref_loss, ref_kl = reference(logits, targets, weights, ids, logprobs, dm_weight, renormalize, 1e-3)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(metrics["teacher_kl_sum"], ref_kl, rtol=1e-5)
    transferred = (np.isfinite(logprobs).any(-1) * weights).sum()
    assert metrics["teacher_kl_tokens"] == transferred > 0
    np.testing.assert_allclose(metrics["dm_loss"] + metrics["nll_loss"] + metrics["z_loss"], loss, rtol=1e-6)
    assert (metrics["dm_loss"] == 0) == (dm_weight == 0)


@pytest.mark.parametrize("renormalize", [False, True])
def test_one_hot_teacher_is_nll_in_value_and_gradient(renormalize: bool) -> None:
    _, logits, targets, weights = inputs(1)
    ids = np.zeros((*targets.shape, K), np.int32)
    ids[..., 0] = targets
    logprobs = np.full((*targets.shape, K), NO_MASS, np.float32)
    logprobs[..., 0] = 0.0
    batch = {"decoder_target_tokens": jnp.asarray(targets)}
    teacher = {**batch, DECODER_TEACHER_IDS: jnp.asarray(ids), DECODER_TEACHER_LOGPROBS: jnp.asarray(logprobs)}
    weights = jnp.asarray(weights)
    dm = losses.DistributionMatchingLoss(renormalize=renormalize, z_loss=1e-4)
    nll = losses.CrossEntropyLoss(z_loss=1e-4)
    (dm_loss, dm_metrics), dm_grad = loss_and_grad(dm, logits, teacher, weights)
    (nll_loss, _), nll_grad = loss_and_grad(nll, logits, batch, weights)
    np.testing.assert_allclose(dm_loss, nll_loss, rtol=1e-6)
    np.testing.assert_allclose(dm_grad, nll_grad, rtol=1e-5, atol=1e-7)
    assert dm_metrics["nll_loss"] == 0, "every weighted position has teacher mass"
    np.testing.assert_allclose(dm_metrics["teacher_kl_sum"], dm_metrics["dm_loss"], rtol=1e-6)  # KL(one-hot) = NLL


def loss_and_grad(loss_fn, logits, batch, weights):
    return jax.value_and_grad(lambda x: loss_fn(x, batch, weights), has_aux=True)(logits)


def test_rows_without_mass_are_nll_with_finite_values_and_gradients() -> None:
    rng, logits, targets, weights = inputs(2)
    weights = jnp.asarray(weights)
    plain = {"decoder_target_tokens": jnp.asarray(targets)}
    (nll_loss, _), nll_grad = loss_and_grad(losses.CrossEntropyLoss(z_loss=1e-4), logits, plain, weights)
    empty = {
        **plain,
        DECODER_TEACHER_IDS: jnp.zeros((*targets.shape, K), jnp.int32),
        DECODER_TEACHER_LOGPROBS: jnp.full((*targets.shape, K), NO_MASS),
    }
    mixed = {**plain, **soft_teacher(targets, rng, no_mass_fraction=0.5)}
    for renormalize in (False, True):
        dm = losses.DistributionMatchingLoss(renormalize=renormalize, z_loss=1e-4)
        for batch in (empty, plain):  # -inf rows, and a batch without teacher features (an eval task)
            (loss, _), grad = loss_and_grad(dm, logits, batch, weights)
            np.testing.assert_allclose(loss, nll_loss, rtol=1e-6)
            np.testing.assert_allclose(grad, nll_grad, rtol=1e-5, atol=1e-7)
        (loss, metrics), grad = loss_and_grad(dm, logits, mixed, weights)
        assert np.isfinite(loss) and np.isfinite(grad).all()
        assert all(np.isfinite(value) for value in metrics.values())


def test_summaries_report_the_kl_per_position_with_teacher_mass() -> None:
    sums = {"loss": 12.0, "nonpadding_tokens": 10.0, "dm_loss": 8.0, "nll_loss": 4.0}
    summary = models.summarize_metrics({**sums, "teacher_kl_sum": 3.0, "teacher_kl_tokens": 6.0}, steps=2)
    assert summary["teacher_kl"] == 0.5 and summary["dm_loss"] == 4.0 and summary["nll_loss"] == 2.0
    assert "teacher_kl_sum" not in summary and "teacher_kl_tokens" not in summary


def teacher_batch(batch_size: int = 8) -> dict:
    """random_batch with a soft teacher at every non-EOS target position (ids within the micro vocabulary)."""
    batch = random_batch(batch_size=batch_size)
    rng = np.random.RandomState(3)
    targets = np.asarray(batch["decoder_target_tokens"])
    teacher = soft_teacher(targets, rng, no_mass_fraction=0.0)
    ids = teacher[DECODER_TEACHER_IDS] % MICRO.vocab_size
    logprobs = teacher[DECODER_TEACHER_LOGPROBS]
    logprobs[targets <= 1] = NO_MASS  # EOS and padding: no mass, as the tasks write them
    return {**batch, DECODER_TEACHER_IDS: jnp.asarray(ids), DECODER_TEACHER_LOGPROBS: jnp.asarray(logprobs)}


@functools.cache
def train(steps: int, num_microbatches: int | None = None, mesh: tuple[int, int] = (1, 1)) -> dict:
    """Distribution-matching steps on one teacher batch: teacher KL per position at the start and the end,
    and the params after the first two steps."""
    batch = teacher_batch()
    model = models.EncoderDecoderModel(
        network.Transformer(MICRO), optimizer_def=adafactor.Adafactor(), target_loss=losses.DistributionMatchingLoss()
    )
    data, model_parallel = mesh
    partitioner = partitioning.PjitPartitioner(
        num_partitions=model_parallel, devices=jax.devices()[: data * model_parallel]
    )
    schedule = utils.create_learning_rate_scheduler(factors="constant", base_learning_rate=0.05)
    run = trainer.Trainer(model, partitioner, schedule, input_shapes(batch), num_microbatches=num_microbatches)
    state = run.init_state(jax.random.PRNGKey(0))
    batch = jax.device_put(batch, partitioner.batch_sharding())

    def kl(state) -> float:
        metrics = run.eval_step(state.params, batch)
        return float(metrics["teacher_kl_sum"] / metrics["teacher_kl_tokens"])

    out = {"kl_before": kl(state) if steps > 2 else None}
    for step in range(steps):
        state, _ = run.train_step(state, batch, jax.random.PRNGKey(1))
        if step == 1:
            out["params_after_2"] = jax.device_get(state.params)
    out["kl_after"] = kl(state) if steps > 2 else None
    return out


def test_distribution_matching_lowers_the_kl_to_the_teacher() -> None:
    """(Sample matching on the same batch raises it: the student sharpens on the sampled token.)"""
    run = train(steps=30)
    assert run["kl_after"] < 0.2 * run["kl_before"], f"teacher KL {run['kl_before']:.3f} -> {run['kl_after']:.3f}"


def test_teacher_features_flow_through_sharded_microbatches() -> None:
    """[B, L, K] features are sliced and sharded along the batch like the tokens: same result as one device."""
    reference = train(steps=30)["params_after_2"]
    params = train(steps=2, num_microbatches=2, mesh=(2, 1))["params_after_2"]
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), params, reference)


SHARES = {"zs_ao": 0.1, "zs_cot": 0.2, "ic_ao": 0.05, "ic_cot": 0.65}


def step_params(loss_weighting, num_microbatches: int | None) -> dict:
    """Params after one distribution-matching step on a batch whose rows have uneven formats per half."""
    batch = teacher_batch()
    targets = np.asarray(batch["decoder_target_tokens"])
    row_codes = np.array([1, 2, 3, 4, 4, 4, 2, 4])  # the halves (microbatches) hold the formats in other proportions
    batch[DECODER_FORMAT_IDS] = jnp.asarray(np.where(targets > 0, row_codes[:, None], 0), jnp.int32)
    model = models.EncoderDecoderModel(
        network.Transformer(MICRO),
        optimizer_def=adafactor.Adafactor(),
        target_loss=losses.DistributionMatchingLoss(),
        loss_weighting=loss_weighting,
    )
    partitioner = partitioning.PjitPartitioner(num_partitions=1, devices=jax.devices()[:1])
    schedule = utils.create_learning_rate_scheduler(factors="constant", base_learning_rate=0.05)
    run = trainer.Trainer(model, partitioner, schedule, input_shapes(batch), num_microbatches=num_microbatches)
    state, _ = run.train_step(run.init_state(jax.random.PRNGKey(0)), batch, jax.random.PRNGKey(1))
    return jax.device_get(state.params)


def test_format_shares_are_resolved_on_the_global_batch() -> None:
    """Microbatches use the global batch's per-format weights (reweighting each half would change the step)."""
    weighted = losses.FormatShareWeighting(SHARES)
    whole, halves = step_params(weighted, None), step_params(weighted, 2)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), halves, whole)
    token_sum = step_params(losses.FormatShareWeighting(None), None)
    kernels = [params["decoder"]["logits_dense"]["kernel"] for params in (token_sum, whole)]
    assert np.abs(kernels[0] - kernels[1]).max() > 1e-4, "the shares change the step"
