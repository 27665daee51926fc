"""Micro configurations and batches shared by the tests (small enough to compile fast on CPU)."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from distill.engine import adafactor, models, network

MICRO = network.T5Config(
    vocab_size=64,
    dtype="float32",
    emb_dim=16,
    num_heads=8,
    head_dim=4,
    num_encoder_layers=2,
    num_decoder_layers=2,
    mlp_dim=32,
    dropout_rate=0.0,
)


def micro_model(optimizer_def=None, **config_overrides) -> models.EncoderDecoderModel:
    config = dataclasses.replace(MICRO, **config_overrides)
    return models.EncoderDecoderModel(
        network.Transformer(config), optimizer_def=optimizer_def or adafactor.Adafactor(), z_loss=1e-4
    )


def random_batch(batch_size: int = 8, inputs: int = 12, targets: int = 6, vocab: int = 64, seed: int = 0) -> dict:
    """Random tokens with some padding, EOS-terminated targets and shifted decoder inputs."""
    rng = np.random.RandomState(seed)
    enc = rng.randint(2, vocab, (batch_size, inputs))
    tgt = rng.randint(2, vocab, (batch_size, targets))
    for row in range(batch_size):
        enc_len = rng.randint(inputs // 2, inputs + 1)
        tgt_len = rng.randint(2, targets + 1)
        enc[row, enc_len:] = 0
        tgt[row, tgt_len - 1] = 1
        tgt[row, tgt_len:] = 0
    dec_in = np.concatenate([np.zeros((batch_size, 1), int), tgt[:, :-1]], axis=1)
    batch = {"encoder_input_tokens": enc, "decoder_input_tokens": dec_in, "decoder_target_tokens": tgt}
    return {k: jnp.asarray(v, jnp.int32) for k, v in batch.items()}


def input_shapes(batch: dict) -> dict:
    return {k: batch[k].shape for k in ("encoder_input_tokens", "decoder_input_tokens")}
