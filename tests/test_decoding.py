"""Decoding over the KV cache equals full recomputation; sampling and beam search do what they say."""

from __future__ import annotations

import dataclasses
import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distill.engine import decoding, network
from distill.engine.layout import layers_to_scanned
from tests.support.micro import MICRO, random_batch

LENGTH = 10
ENCODER_TOKENS = random_batch(batch_size=3, inputs=9)["encoder_input_tokens"]


def micro_model(config: network.T5Config = MICRO):
    """A micro model with sharp enough logits that greedy decodes are not all ties."""
    module = network.Transformer(config)
    tokens = jnp.ones((1, 4), jnp.int32)
    params = nn.unbox(module.init(jax.random.PRNGKey(3), tokens, tokens, tokens, enable_dropout=False))["params"]
    params = jax.tree_util.tree_map(lambda x: x * 2.0, params)
    return module, params


@pytest.fixture(scope="module")
def model():
    return micro_model()


def full_log_probs(module, params, encoder_tokens: jax.Array, tokens: jax.Array) -> jax.Array:
    """Teacher-forced log-probs of every position given `tokens` as the decoder's targets."""
    decoder_inputs = jnp.concatenate([jnp.zeros_like(tokens[:, :1]), tokens[:, :-1]], axis=1)
    targets = jnp.broadcast_to(jnp.arange(1, tokens.shape[1] + 1), tokens.shape)  # non-zero: every position valid
    logits = module.apply({"params": params}, encoder_tokens, decoder_inputs, targets, enable_dropout=False)
    return jax.nn.log_softmax(logits)


def greedy_by_recomputation(module, params, encoder_tokens: jax.Array, length: int) -> np.ndarray:
    tokens = np.zeros((encoder_tokens.shape[0], length), np.int32)
    for i in range(length):
        log_probs = full_log_probs(module, params, encoder_tokens, jnp.asarray(tokens))
        tokens[:, i] = np.argmax(np.asarray(log_probs[:, i]), axis=-1)
    return tokens


def after_eos_zeroed(tokens: np.ndarray, eos: int = 1) -> np.ndarray:
    out = tokens.copy()
    for row in out:
        hits = np.flatnonzero(row == eos)
        if hits.size:
            row[hits[0] + 1 :] = 0
    return out


@pytest.mark.parametrize("scan", [False, True])
def test_cached_greedy_equals_full_recomputation(model, scan: bool) -> None:
    module, params = model
    expected = after_eos_zeroed(greedy_by_recomputation(module, params, ENCODER_TOKENS, LENGTH))
    if scan:
        scanned = network.Transformer(dataclasses.replace(MICRO, scan_layers=True))
        tokens = jnp.ones((1, 4), jnp.int32)
        target = nn.unbox(jax.eval_shape(lambda: scanned.init(jax.random.PRNGKey(0), tokens, tokens, tokens)))
        module, params = scanned, layers_to_scanned(params, target["params"], {"encoder": 2, "decoder": 2})
    decodes = decoding.decode(module, params, ENCODER_TOKENS, decoding.DecodeParams(max_decode_length=LENGTH))
    assert decodes.tokens.shape == (3, 1, LENGTH)
    np.testing.assert_array_equal(np.asarray(decodes.tokens[:, 0]), expected)
    assert len(set(map(tuple, expected))) > 1, "decodes differ across inputs (the test is not trivial)"


def test_greedy_over_a_blocked_vocabulary_equals_full_recomputation() -> None:
    """A vocabulary that is a multiple of ARGMAX_BLOCK (T5's 32128 is) takes the blocked argmax in the loop."""
    module, params = micro_model(dataclasses.replace(MICRO, vocab_size=2 * decoding.ARGMAX_BLOCK))
    expected = after_eos_zeroed(greedy_by_recomputation(module, params, ENCODER_TOKENS, LENGTH))
    decodes = decoding.decode(module, params, ENCODER_TOKENS, decoding.DecodeParams(max_decode_length=LENGTH))
    np.testing.assert_array_equal(np.asarray(decodes.tokens[:, 0]), expected)
    assert expected.max() >= decoding.ARGMAX_BLOCK, "some token lies past the first block (the test is not trivial)"


def test_encoding_in_pieces_equals_the_whole_batch(model) -> None:
    """On CPU decoding encodes a few rows at a time; each row's output is its whole-batch output."""
    module, params = model
    assert (decoding.piece_rows(64, 512), decoding.piece_rows(7, 512), decoding.piece_rows(3, 9, tokens=9)) == (2, 1, 1)
    whole = module.apply({"params": params}, ENCODER_TOKENS, enable_dropout=False, method=module.encode)
    pieces = jax.jit(lambda tokens: decoding.encode(module, params, tokens, tokens=9))(ENCODER_TOKENS)
    np.testing.assert_allclose(pieces, whole, rtol=1e-5, atol=1e-4)  # float rounding differs with batch size


def test_token_log_probs_are_the_model_log_probs(model) -> None:
    module, params = model
    p = decoding.DecodeParams(max_decode_length=LENGTH, method="sample", num_decodes=2, temperature=1.5)
    decodes = decoding.decode(module, params, ENCODER_TOKENS, p, jax.random.PRNGKey(7))
    for n in range(2):
        tokens = decodes.tokens[:, n]
        log_probs = full_log_probs(module, params, ENCODER_TOKENS, tokens)
        expected = jnp.take_along_axis(log_probs, tokens[..., None], axis=-1)[..., 0]
        valid = np.arange(LENGTH)[None] < np.asarray(decodes.lengths[:, n])[:, None]
        np.testing.assert_allclose(
            np.asarray(decodes.token_log_probs[:, n])[valid], np.asarray(expected)[valid], rtol=1e-4, atol=1e-5
        )
        np.testing.assert_allclose(decodes.scores[:, n], jnp.sum(decodes.token_log_probs[:, n], -1), rtol=1e-5)
    assert bool(jnp.all(decodes.scores[:, 0] >= decodes.scores[:, 1])), "best first"


def test_sampling_is_seeded_and_its_limits_reduce_to_greedy(model) -> None:
    module, params = model
    greedy = decoding.decode(module, params, ENCODER_TOKENS, decoding.DecodeParams(max_decode_length=LENGTH)).tokens

    def sample(seed: int, **limits) -> jax.Array:
        p = decoding.DecodeParams(LENGTH, "sample", 4, **limits)
        return decoding.decode(module, params, ENCODER_TOKENS, p, jax.random.PRNGKey(seed)).tokens

    np.testing.assert_array_equal(sample(1), sample(1))
    assert not np.array_equal(sample(1), sample(2))
    for limit in ({"temperature": 0.0}, {"topk": 1}):
        np.testing.assert_array_equal(sample(3, **limit), jnp.repeat(greedy, 4, axis=1))


def test_top_k_samples_stay_in_the_top_k(model) -> None:
    module, params = model
    p = decoding.DecodeParams(max_decode_length=LENGTH, method="sample", num_decodes=8, temperature=2.0, topk=3)
    decodes = decoding.decode(module, params, ENCODER_TOKENS, p, jax.random.PRNGKey(0))
    for n in range(8):
        tokens = decodes.tokens[:, n]
        log_probs = np.asarray(full_log_probs(module, params, ENCODER_TOKENS, tokens))
        top3 = np.argsort(-log_probs, axis=-1)[..., :3]
        valid = np.arange(LENGTH)[None] < np.asarray(decodes.lengths[:, n])[:, None]
        assert np.all((top3 == np.asarray(tokens)[..., None]).any(-1)[valid])


def test_top_p_keeps_the_smallest_nucleus() -> None:
    logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]] * 4))
    kept = decoding.nucleus(logits, jnp.array([0.75, 0.81, 0.0, 1.0])) > decoding.NEG_INF / 2
    np.testing.assert_array_equal(
        kept, [[True, True, False, False], [True, True, True, False], [True, False, False, False], [True] * 4]
    )
    np.testing.assert_array_equal(decoding.top_k_filter(logits[:1], 2) > decoding.NEG_INF / 2, [[1, 1, 0, 0]])


def test_beam_of_one_is_greedy(model) -> None:
    module, params = model
    greedy = decoding.decode(module, params, ENCODER_TOKENS, decoding.DecodeParams(max_decode_length=LENGTH))
    beam = decoding.decode(module, params, ENCODER_TOKENS, decoding.DecodeParams(LENGTH, "beam", 1, alpha=0.0))
    ended = np.asarray(greedy.lengths[:, 0]) < LENGTH
    np.testing.assert_array_equal(np.asarray(beam.tokens[:, 0])[ended], np.asarray(greedy.tokens[:, 0])[ended])


def test_wide_beam_finds_the_best_hypothesis_by_exhaustive_search() -> None:
    """Vocabulary 6, length 3: beams as wide as every prefix make beam search exhaustive."""
    config = dataclasses.replace(MICRO, vocab_size=6)
    module = network.Transformer(config)
    tokens = jnp.ones((1, 3), jnp.int32)
    params = nn.unbox(module.init(jax.random.PRNGKey(5), tokens, tokens, tokens, enable_dropout=False))["params"]
    params = jax.tree_util.tree_map(lambda x: x * 3.0, params)
    encoder_tokens = jnp.array([[3, 4, 5, 2], [5, 5, 2, 0]], jnp.int32)
    alpha, length = 0.6, 3
    best = {}
    for seq in itertools.product(range(6), repeat=length):
        seq = np.array(seq)
        if 1 not in seq:
            continue
        end = int(np.argmax(seq == 1))
        seq[end + 1 :] = 0
        log_probs = full_log_probs(module, params, encoder_tokens, jnp.tile(jnp.asarray(seq)[None], (2, 1)))
        scores = jnp.sum(
            jnp.take_along_axis(log_probs, jnp.tile(seq[None, :, None], (2, 1, 1)), -1)[:, : end + 1, 0], -1
        )
        scores = scores / decoding.brevity_penalty(end + 1.0, alpha)
        for b in range(2):
            if b not in best or float(scores[b]) > best[b][0]:
                best[b] = (float(scores[b]), seq.copy())
    beam = decoding.decode(module, params, encoder_tokens, decoding.DecodeParams(length, "beam", 36, alpha=alpha))
    for b in range(2):
        np.testing.assert_array_equal(np.asarray(beam.tokens[b, 0]), best[b][1])
        assert float(beam.scores[b, 0]) == pytest.approx(best[b][0], rel=1e-4)


@pytest.mark.parametrize("vocab", [300, 3 * decoding.ARGMAX_BLOCK])  # the flat path and the blocked one
def test_step_reductions_match_argmax_and_log_softmax(vocab: int) -> None:
    """The per-step shortcuts give exactly what jnp.argmax and jax.nn.log_softmax give, ties and NaN included."""
    logits = jax.random.normal(jax.random.PRNGKey(0), (6, vocab)) * 4.0
    logits = logits.at[1, 7].set(50.0).at[1, 200].set(50.0)  # a tie across blocks: the first index wins
    logits = logits.at[2, 9].set(jnp.nan).at[2, 20].set(jnp.nan)  # NaN counts as the max, as in argmax
    logits = logits.at[3, 250].set(50.0).at[3, 140].set(jnp.nan)  # a NaN in an earlier block than the max
    logits = logits.at[4, 130].set(50.0).at[4, 131].set(50.0)  # a tie inside one block
    logits = logits.at[5].set(-jnp.inf)  # nothing but -inf: index 0
    top, best = jax.jit(decoding.max_and_argmax)(logits)  # jitted, as in the decoding loop
    np.testing.assert_array_equal(top, decoding.row_max(logits))
    np.testing.assert_array_equal(best, jnp.argmax(logits, axis=-1))
    np.testing.assert_array_equal(decoding.argmax_of(logits, top), jnp.argmax(logits, axis=-1))
    ids = jax.lax.top_k(logits, 3)[1]
    expected = jnp.take_along_axis(jax.nn.log_softmax(logits), ids, axis=-1)
    np.testing.assert_array_equal(decoding.log_probs_at(logits, ids, top), expected)
