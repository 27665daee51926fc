"""The server's decode: a batch of rows that each carry their own sampling settings.

`distill.engine.decoding.decode` compiles one program per `DecodeParams`, so a server using it
would recompile for every new temperature, top_p or length. `decoding.sample_rows` takes
temperature, top_p, the token limit and the PRNG key per row, so one program (per padded
shape) serves any mix of requests; this module turns host-side rows into its inputs and back.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from distill.engine import decoding

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class RowBatch:
    """Host-side inputs for R rows (padding rows have max_tokens 0 and are never decoded)."""

    encoder_tokens: np.ndarray  # [R, L_in] int32, 0-padded
    temperature: np.ndarray  # [R] float32; 0 = greedy
    top_p: np.ndarray  # [R] float32 in [0, 1]; 1 = no nucleus filter
    max_tokens: np.ndarray  # [R] int32
    seeds: np.ndarray  # [R, 2] int32: (seed, stream) -> PRNG key of the row


@dataclasses.dataclass(frozen=True)
class RowOutputs:
    """Per-row results; positions past a row's end hold 0."""

    tokens: np.ndarray  # [R, L] int32
    log_probs: np.ndarray  # [R, L] float32: the model's log-probability (temperature 1, unfiltered)
    top_ids: np.ndarray  # [R, L, K] int32: the K most likely tokens at each step, best first
    top_log_probs: np.ndarray  # [R, L, K] float32


@functools.cache
def _compiled(module: Any, length: int, top_k: int, eos_id: int) -> Callable:
    def decode(params: Any, batch: dict[str, Array]) -> dict[str, Array]:
        seeds = batch.pop("seeds")
        batch["keys"] = jax.vmap(lambda s: jax.random.fold_in(jax.random.PRNGKey(s[0]), s[1]))(seeds)
        return decoding.sample_rows(module, params, batch, length=length, eos_id=eos_id, top_logprobs=top_k)

    return jax.jit(decode)


def run(module: Any, params: Any, rows: RowBatch, *, length: int, top_k: int, eos_id: int) -> RowOutputs:
    """Runs the compiled decode (one program per module, shapes, length and top_k) and fetches results."""
    batch = {
        "encoder_tokens": jnp.asarray(rows.encoder_tokens, jnp.int32),
        "temperature": jnp.asarray(rows.temperature, jnp.float32),
        "top_p": jnp.asarray(rows.top_p, jnp.float32),
        "max_tokens": jnp.asarray(rows.max_tokens, jnp.int32),
        "seeds": jnp.asarray(rows.seeds, jnp.int32),
    }
    out = jax.device_get(_compiled(module, length, top_k, eos_id)(params, batch))
    return RowOutputs(
        tokens=np.asarray(out["tokens"]),
        log_probs=np.asarray(out["log_probs"]),
        top_ids=np.asarray(out["top_ids"]),
        top_log_probs=np.asarray(out["top_log_probs"]),
    )
