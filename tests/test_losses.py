"""T5X loss numerics: cross-entropy with z-loss and label smoothing, weights, normalizers, scores."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distill.engine import losses
from tests.support.micro import micro_model, random_batch


def t5x_reference(logits, targets, weights, label_smoothing, z_loss):
    """T5X's compute_weighted_cross_entropy, written with materialised soft targets."""
    vocab = logits.shape[-1]
    confidence = 1.0 - label_smoothing
    low = (1.0 - confidence) / (vocab - 1)
    constant = -(confidence * np.log(confidence) + (vocab - 1) * low * np.log(low + 1e-20))
    soft = jax.nn.one_hot(targets, vocab) * (confidence - low) + low
    log_z = jax.nn.logsumexp(logits, axis=-1)
    loss = -jnp.sum(soft * jax.nn.log_softmax(logits), axis=-1) + z_loss * log_z**2
    return jnp.sum((loss - constant) * weights), jnp.sum(z_loss * log_z**2 * weights)


@pytest.mark.parametrize(("label_smoothing", "z_loss"), [(0.0, 0.0), (0.0, 1e-4), (0.1, 1e-4), (0.2, 0.01)])
def test_cross_entropy_matches_t5x(label_smoothing: float, z_loss: float) -> None:
    rng = np.random.RandomState(0)
    logits = jnp.asarray(rng.randn(3, 5, 37) * 3, jnp.float32)
    targets = jnp.asarray(rng.randint(0, 37, (3, 5)))
    weights = jnp.asarray(rng.randint(0, 2, (3, 5)), jnp.float32)
    loss_fn = losses.CrossEntropyLoss(z_loss=z_loss, label_smoothing=label_smoothing)
    batch = {"decoder_target_tokens": targets}

    (loss, metrics), grad = jax.value_and_grad(lambda x: loss_fn(x, batch, weights), has_aux=True)(logits)
    ref_grad = jax.grad(lambda x: t5x_reference(x, targets, weights, label_smoothing, z_loss)[0])(logits)
    ref_loss, ref_z = t5x_reference(logits, targets, weights, label_smoothing, z_loss)

    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(metrics["z_loss"], ref_z, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-6)


def test_default_weights_ignore_padding() -> None:
    batch = {"decoder_target_tokens": jnp.array([[5, 6, 1, 0], [7, 1, 0, 0]])}
    weights, normalizer = losses.token_weights_and_normalizer(batch, None)
    np.testing.assert_array_equal(weights, [[1, 1, 1, 0], [1, 1, 0, 0]])
    assert normalizer is None


def test_named_loss_normalizing_factors() -> None:
    batch = {"decoder_target_tokens": jnp.array([[5, 6, 1, 0], [7, 1, 0, 0]])}
    assert float(losses.token_weights_and_normalizer(batch, "NUM_REAL_TARGET_TOKENS")[1]) == 5.0
    assert float(losses.token_weights_and_normalizer(batch, "NUM_TOTAL_TARGET_TOKENS")[1]) == 8.0
    assert losses.token_weights_and_normalizer(batch, 233472.0)[1] == 233472.0
    weights, normalizer = losses.token_weights_and_normalizer(batch, "AVERAGE_PER_SEQUENCE")
    np.testing.assert_allclose(weights, [[1 / 3, 1 / 3, 1 / 3, 0], [1 / 2, 1 / 2, 0, 0]], rtol=1e-6)
    assert float(normalizer) == pytest.approx(2.0)


def test_average_per_sequence_respects_packed_segments() -> None:
    batch = {
        "decoder_target_tokens": jnp.array([[5, 1, 7, 8, 1, 0]]),
        "decoder_segment_ids": jnp.array([[1, 1, 2, 2, 2, 0]]),
    }
    weights, normalizer = losses.token_weights_and_normalizer(batch, "AVERAGE_PER_SEQUENCE")
    np.testing.assert_allclose(weights, [[1 / 2, 1 / 2, 1 / 3, 1 / 3, 1 / 3, 0]], rtol=1e-6)
    assert float(normalizer) == pytest.approx(2.0)


def test_model_loss_is_a_sum_and_normalizer_divides_it() -> None:
    model = micro_model()
    batch = random_batch()
    params = model.get_initial_variables(jax.random.PRNGKey(0), {k: v.shape for k, v in batch.items()})
    params = nn.unbox(params)["params"]
    loss_sum, metrics = model.loss_fn(params, batch, None, None)
    model.loss_normalizing_factor = "NUM_REAL_TARGET_TOKENS"
    loss_mean, _ = model.loss_fn(params, batch, None)
    tokens = float(jnp.sum(batch["decoder_target_tokens"] > 0))
    assert float(metrics["nonpadding_tokens"]) == tokens
    np.testing.assert_allclose(loss_mean, loss_sum / tokens, rtol=1e-6)


def test_score_batch_is_the_target_log_likelihood() -> None:
    model = micro_model()
    batch = random_batch()
    variables = model.get_initial_variables(jax.random.PRNGKey(0), {k: v.shape for k, v in batch.items()})
    params = nn.unbox(variables)["params"]
    scores = model.score_batch(params, batch)
    logits = model.compute_logits(params, batch)
    log_probs = jnp.take_along_axis(jax.nn.log_softmax(logits), batch["decoder_target_tokens"][..., None], -1)[..., 0]
    expected = jnp.sum(log_probs * (batch["decoder_target_tokens"] > 0), axis=-1)
    assert scores.shape == (batch["decoder_target_tokens"].shape[0],)
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_micro_batch_shares_follow_the_original_batcher() -> None:
    """FlanT5-XL's config (2/10/8/20 per format, 30 accumulation steps) on the released data gives the notebook's
    130,530 micro-batches per epoch (paper-method.md section 1.3), split 103,560 / 25,890 / 720 / 360."""
    examples = {"ic_cot": 207135, "zs_cot": 207135, "ic_ao": 7300, "zs_ao": 7300}
    shares = losses.micro_batch_shares(examples, {"ic_cot": 2, "ic_ao": 10, "zs_cot": 8, "zs_ao": 20}, 30)
    counts = {fmt: round(share * 130530, 6) for fmt, share in shares.items()}
    assert counts == {"ic_cot": 103560, "zs_cot": 25890, "ic_ao": 720, "zs_ao": 360}
    with pytest.raises(ValueError, match="differ"):
        losses.micro_batch_shares(examples, {"ic_cot": 2}, 30)
    with pytest.raises(ValueError, match="must give every format"):
        losses.FormatShareWeighting({"ic_cot": 1.0})
