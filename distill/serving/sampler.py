"""One jit-compiled decode for a batch of rows that each carry their own sampling settings.

`distill.engine.decoding.decode` compiles one program per `DecodeParams`, so a server using it
would recompile for every new temperature, top_p or length. Here temperature, top_p, the
token limit and the seed are per-row *arrays*, so one program (per padded shape) serves any
mix of requests. It runs the same cached decoder step (`decoding.StepFn`) and, for
temperature 0, the same argmax, so greedy rows equal `decoding.decode`'s greedy output.
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


def nucleus(logits: Array, top_p: Array) -> Array:
    """Masks each row's logits outside its smallest set of tokens with mass >= top_p (>= 1 token kept)."""
    sorted_logits = -jnp.sort(-logits, axis=-1)
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    keep = jnp.maximum(jnp.sum(mass_before < top_p[:, None], axis=-1, keepdims=True), 1)
    cutoff = jnp.take_along_axis(sorted_logits, keep - 1, axis=-1)
    filtered = jnp.where(logits < cutoff, decoding.NEG_INF, logits)
    return jnp.where((top_p < 1.0)[:, None], filtered, logits)


def sample_rows(
    module: Any, params: Any, batch: dict[str, Array], *, length: int, top_k: int, eos_id: int
) -> dict[str, Array]:
    """Decodes every row up to `length` tokens, stopping each at EOS or its own `max_tokens`."""
    encoder_tokens = batch["encoder_tokens"]
    temperature, top_p, max_tokens = batch["temperature"], batch["top_p"], batch["max_tokens"]
    rows = encoder_tokens.shape[0]
    keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.PRNGKey(s[0]), s[1]))(batch["seeds"])
    step = decoding.StepFn(module, params, encoder_tokens, 1, length)
    greedy = temperature <= 0.0
    all_greedy = jnp.all(greedy | (max_tokens <= 0))
    # A tiny positive temperature is near-greedy; the floor keeps logits / temperature finite.
    safe_temperature = jnp.maximum(jnp.where(greedy, 1.0, temperature), 1e-6)[:, None]

    def sampled(logits: Array, i: Array) -> Array:
        scaled = logits / safe_temperature
        scaled = jax.lax.cond(jnp.any(top_p < 1.0), nucleus, lambda x, _: x, scaled, top_p)
        step_keys = jax.vmap(jax.random.fold_in, (0, None))(keys, i)
        drawn = jax.vmap(jax.random.categorical)(step_keys, scaled)
        return jnp.where(greedy, jnp.argmax(logits, axis=-1), drawn).astype(jnp.int32)

    def body(state: tuple) -> tuple:
        i, token, cache, tokens, log_probs, top_ids, top_lps, done = state
        logits, cache = step(cache, token)
        model_log_probs = jax.nn.log_softmax(logits)
        # All-greedy batches skip the sampling work (random draws over the vocabulary, the top-p sort).
        greedy_choice = lambda x, _: jnp.argmax(x, axis=-1).astype(jnp.int32)  # noqa: E731
        chosen = jax.lax.cond(all_greedy, greedy_choice, sampled, logits, i)
        chosen = jnp.where(done, 0, chosen).astype(jnp.int32)
        chosen_log_prob = jnp.take_along_axis(model_log_probs, chosen[:, None], axis=-1)[:, 0]
        tokens = tokens.at[:, i].set(chosen)
        log_probs = log_probs.at[:, i].set(jnp.where(done, 0.0, chosen_log_prob))
        if top_k:
            values, ids = jax.lax.top_k(model_log_probs, top_k)
            top_ids = top_ids.at[:, i].set(jnp.where(done[:, None], 0, ids))
            top_lps = top_lps.at[:, i].set(jnp.where(done[:, None], 0.0, values))
        done = done | (chosen == eos_id) | (i + 1 >= max_tokens)
        return i + 1, chosen, cache, tokens, log_probs, top_ids, top_lps, done

    state = (
        jnp.zeros((), jnp.int32),
        jnp.zeros((rows,), jnp.int32),
        step.initial_cache,
        jnp.zeros((rows, length), jnp.int32),
        jnp.zeros((rows, length), jnp.float32),
        jnp.zeros((rows, length, top_k), jnp.int32),
        jnp.zeros((rows, length, top_k), jnp.float32),
        max_tokens <= 0,
    )
    state = jax.lax.while_loop(lambda s: (s[0] < length) & ~jnp.all(s[-1]), body, state)
    _, _, _, tokens, log_probs, top_ids, top_lps, _ = state
    return {"tokens": tokens, "log_probs": log_probs, "top_ids": top_ids, "top_log_probs": top_lps}


@functools.cache
def _compiled(module: Any, length: int, top_k: int, eos_id: int) -> Callable:
    return jax.jit(functools.partial(sample_rows, module, length=length, top_k=top_k, eos_id=eos_id))


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
