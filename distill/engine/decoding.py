"""Decoding: greedy, temperature sampling with top-k / top-p, and beam search with T5X's length penalty.

All methods run one `lax.while_loop` over a decoder cache: self-attention keys/values grow one
position per step, and cross-attention keys/values are projected from the encoder output once
per decode (T5X recomputes them every step). Everything is jit-compiled once per
`DecodeParams` and runs under the training mesh. Results are sorted best first (T5X returns
them ascending, best last).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

Array = jax.Array
NEG_INF = -1.0e7
METHODS = ("greedy", "sample", "beam")


@dataclasses.dataclass(frozen=True)
class DecodeParams:
    """How to decode. `num_decodes` is samples per input (`sample`) or the beam width (`beam`).

    `temperature=0` samples greedily; `topk=0` and `topp=0` disable those filters (unlike
    T5X's `temperature_sample`, whose default `topk=1` silently makes it greedy).
    `max_decode_length=None` means the target length of the batch or task being decoded.
    """

    max_decode_length: int | None = None
    method: str = "greedy"
    num_decodes: int = 1
    temperature: float = 1.0
    topk: int = 0
    topp: float = 0.0
    alpha: float = 0.6
    eos_id: int = 1

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"DecodeParams.method={self.method!r}; choose one of {METHODS}")
        if self.topk and self.topp:
            raise ValueError("Set at most one of topk and topp.")
        if (self.max_decode_length is not None and self.max_decode_length < 1) or self.num_decodes < 1:
            raise ValueError("max_decode_length and num_decodes must be >= 1")

    def with_length(self, length: int) -> DecodeParams:
        """These params with `max_decode_length` filled in when it is unset."""
        return self if self.max_decode_length else dataclasses.replace(self, max_decode_length=length)


@flax.struct.dataclass
class Decodes:
    """Decoded outputs for a batch of B inputs, N decodes each, up to L tokens (0 after EOS)."""

    tokens: Array  # [B, N, L] int32
    token_log_probs: Array  # [B, N, L]: the model's log-probability of each token (temperature 1, unfiltered)
    scores: Array  # [B, N]: summed log-probs (greedy/sample) or the length-penalised beam score
    lengths: Array  # [B, N]: tokens up to and including EOS


def brevity_penalty(length: Array, alpha: float) -> Array:
    """GNMT length penalty ((5 + length) / 6) ** alpha, as T5X's beam search uses."""
    return ((5.0 + length) / 6.0) ** alpha


def top_k_filter(logits: Array, k: int) -> Array:
    """Masks everything below each row's k-th largest logit."""
    kth = jax.lax.top_k(logits, k)[0][..., -1:]
    return jnp.where(logits < kth, NEG_INF, logits)


def nucleus(logits: Array, top_p: Array) -> Array:
    """Masks each row's logits outside its smallest set of tokens with mass >= top_p[row].

    At least one token is kept; a row with top_p >= 1 is left as it is.
    """
    sorted_logits = -jnp.sort(-logits, axis=-1)
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    keep = jnp.maximum(jnp.sum(mass_before < top_p[:, None], axis=-1, keepdims=True), 1)
    cutoff = jnp.take_along_axis(sorted_logits, keep - 1, axis=-1)
    filtered = jnp.where(logits < cutoff, NEG_INF, logits)
    return jnp.where((top_p < 1.0)[:, None], filtered, logits)


def row_max(logits: Array) -> Array:
    """Each row's largest logit [rows, 1] (NaN if the row has one, as in `jax.nn.log_softmax`)."""
    return jnp.max(logits, axis=-1, keepdims=True)


def argmax_of(logits: Array, top: Array) -> Array:
    """`jnp.argmax(logits, -1)` given `top = row_max(logits)`: the first index holding it (or a NaN).

    XLA:CPU lowers argmax to a scalar (index, value) reduction; max and then a min over the
    matching indices vectorize, about 5x faster over a 32k vocabulary, which made argmax the
    largest cost of a small model's greedy step.
    """
    index = jax.lax.broadcasted_iota(jnp.int32, logits.shape, logits.ndim - 1)
    matches = (logits == top) | jnp.isnan(logits)
    return jnp.min(jnp.where(matches, index, logits.shape[-1]), axis=-1)


ARGMAX_BLOCK = 128  # T5 vocabularies are padded to a multiple of 128 (32128); others take the flat path.


def max_and_argmax(logits: Array) -> tuple[Array, Array]:
    """(`row_max(logits)`, `jnp.argmax(logits, -1)`) with one full pass over the vocabulary for both.

    The flat `argmax_of` is a second full pass (select an index per element, then a min). Here
    the one pass takes each block's max; the row max is the max of those (max is exact in any
    order, NaN included), the first block holding it is found among the block maxima, and the
    index within that block from its `ARGMAX_BLOCK` logits: the same first index `argmax`
    gives, ties and NaN included. A greedy step over a 32k vocabulary is mostly these passes
    and the logits' matmul.
    """
    rows, vocab = logits.shape
    if vocab % ARGMAX_BLOCK:
        top = row_max(logits)
        return top, argmax_of(logits, top)
    blocks = logits.reshape(rows, vocab // ARGMAX_BLOCK, ARGMAX_BLOCK)
    # The barrier keeps XLA from folding the max of the block maxima back into a full pass.
    block_max = jax.lax.optimization_barrier(jnp.max(blocks, axis=-1))
    top = row_max(block_max)
    first = argmax_of(block_max, top)
    inside = jnp.take_along_axis(blocks, first[:, None, None], axis=1)[:, 0]
    return top, first * ARGMAX_BLOCK + argmax_of(inside, top)


def log_probs_at(logits: Array, ids: Array, top: Array) -> Array:
    """`jax.nn.log_softmax(logits)` at `ids` [rows, k], given `top = row_max(logits)`; the same operations.

    One decoding step needs the log-probs of a few tokens per row; materialising all of
    them ([rows, vocab], every step) is a pass over the vocabulary greedy decoding skips.
    """
    log_norm = jnp.log(jnp.sum(jnp.exp(logits - top), axis=-1, keepdims=True))
    return (jnp.take_along_axis(logits, ids, axis=-1) - top) - log_norm


PIECE_TOKENS = 1024  # Encoder tokens per piece when encoding on CPU (see `encode`).


def piece_rows(rows: int, length: int, tokens: int = PIECE_TOKENS) -> int:
    """The most rows, dividing `rows`, whose `length`-token inputs fit in `tokens` (at least 1)."""
    return max(d for d in range(1, rows + 1) if rows % d == 0 and (d == 1 or d * length <= tokens))


def encode(module: Any, params: Any, encoder_tokens: Array, tokens: int = PIECE_TOKENS) -> Array:
    """The encoder's output for `encoder_tokens` [B, L]; on CPU, `piece_rows` rows at a time.

    Why: XLA:CPU runs each encoder self-attention (logits, softmax, second dot) over the whole
    batch at once, a [B, heads, L, L] working set far past the caches; in pieces of about
    1024 tokens the same attention ran 3-4x faster (mini, L=512), and it is the largest cost
    of decoding long inputs. Each row's output is the same function of its own input; only
    float rounding may differ, as between batch sizes. Accelerators keep the whole batch.
    """
    apply = lambda x: module.apply({"params": params}, x, enable_dropout=False, method=module.encode)  # noqa: E731
    rows, length = encoder_tokens.shape
    piece = piece_rows(rows, length, tokens)
    if jax.default_backend() != "cpu" or piece == rows:
        return apply(encoder_tokens)
    encoded = jax.lax.map(apply, encoder_tokens.reshape(rows // piece, piece, length))
    return encoded.reshape(rows, *encoded.shape[2:])


class StepFn:
    """Encodes once, builds the decoder cache, and gives next-token logits for one step."""

    def __init__(self, module: Any, params: Any, encoder_tokens: Array, copies: int, length: int) -> None:
        self.module, self.params, self.length = module, params, length
        encoded = encode(module, params, encoder_tokens)
        self.encoded = jnp.repeat(encoded, copies, axis=0)
        self.encoder_tokens = jnp.repeat(encoder_tokens, copies, axis=0)
        start = jnp.zeros((self.encoded.shape[0], 1), jnp.int32)
        _, variables = self._apply({}, start)
        self.initial_cache = variables["cache"]

    def _apply(self, cache: Any, tokens: Array) -> tuple[Array, Any]:
        return self.module.apply(
            {"params": self.params, **({"cache": cache} if cache else {})},
            self.encoded,
            self.encoder_tokens,
            tokens,
            None,
            enable_dropout=False,
            decode_length=self.length,
            mutable=["cache"],
            method=self.module.decode,
        )

    def __call__(self, cache: Any, tokens: Array) -> tuple[Array, Any]:
        """tokens [rows] -> (float32 logits [rows, vocab], updated cache)."""
        logits, variables = self._apply(cache, tokens[:, None])
        return logits[:, 0].astype(jnp.float32), variables["cache"]


def sample_rows(
    module: Any,
    params: Any,
    rows: dict[str, Array],
    *,
    length: int,
    eos_id: int,
    copies: int = 1,
    topk: int = 0,
    top_logprobs: int = 0,
) -> dict[str, Array]:
    """Decodes R rows, each with its own sampling settings, in one compiled loop.

    `rows` holds `encoder_tokens` [R / copies, L_in] (each input is encoded once and serves
    `copies` consecutive rows) and per row: `temperature` (0 = greedy), `top_p` (1 = off),
    `max_tokens` (a row stops there or at EOS; 0 = padding, never decoded) and `keys` (PRNG
    keys [R, 2]). Per-row settings let one program serve any mix of requests (the server
    batches them); `topk` and `top_logprobs` (the k most likely tokens and log-probs at each
    step) are static. Returns tokens, the model's log-prob of each (temperature 1,
    unfiltered), and the top alternatives; positions past a row's end hold 0.
    """
    temperature, top_p, max_tokens, keys = rows["temperature"], rows["top_p"], rows["max_tokens"], rows["keys"]
    count = temperature.shape[0]
    step = StepFn(module, params, rows["encoder_tokens"], copies, length)
    greedy = temperature <= 0.0
    all_greedy = jnp.all(greedy | (max_tokens <= 0))
    # A tiny positive temperature is near-greedy; the floor keeps logits / temperature finite.
    safe_temperature = jnp.maximum(jnp.where(greedy, 1.0, temperature), 1e-6)[:, None]

    def choose_sampled(logits: Array, i: Array, best: Array) -> Array:
        scaled = logits / safe_temperature
        if topk:
            scaled = top_k_filter(scaled, topk)
        scaled = jax.lax.cond(jnp.any(top_p < 1.0), nucleus, lambda x, _: x, scaled, top_p)
        drawn = jax.vmap(jax.random.categorical)(jax.vmap(jax.random.fold_in, (0, None))(keys, i), scaled)
        return jnp.where(greedy, best, drawn)

    def body(state: tuple) -> tuple:
        i, token, cache, tokens, log_probs, top_ids, top_lps, done = state
        logits, cache = step(cache, token)
        top, best = max_and_argmax(logits)  # The row max is shared by the greedy choice and the log-probs.
        # All-greedy batches skip the sampling work (random draws over the vocabulary, the top-p sort).
        chosen = jax.lax.cond(all_greedy, lambda *_: best, choose_sampled, logits, i, best)
        chosen = jnp.where(done, 0, chosen).astype(jnp.int32)
        chosen_log_prob = log_probs_at(logits, chosen[:, None], top)[:, 0]
        tokens = tokens.at[:, i].set(chosen)
        log_probs = log_probs.at[:, i].set(jnp.where(done, 0.0, chosen_log_prob))
        if top_logprobs:
            ids = jax.lax.top_k(logits, top_logprobs)[1]  # log_softmax keeps the order
            top_ids = top_ids.at[:, i].set(jnp.where(done[:, None], 0, ids))
            top_lps = top_lps.at[:, i].set(jnp.where(done[:, None], 0.0, log_probs_at(logits, ids, top)))
        done = done | (chosen == eos_id) | (i + 1 >= max_tokens)
        return i + 1, chosen, cache, tokens, log_probs, top_ids, top_lps, done

    state = (
        jnp.zeros((), jnp.int32),
        jnp.zeros((count,), jnp.int32),
        step.initial_cache,
        jnp.zeros((count, length), jnp.int32),
        jnp.zeros((count, length), jnp.float32),
        jnp.zeros((count, length, top_logprobs), jnp.int32),
        jnp.zeros((count, length, top_logprobs), jnp.float32),
        max_tokens <= 0,
    )
    state = jax.lax.while_loop(lambda s: (s[0] < length) & ~jnp.all(s[-1]), body, state)
    _, _, _, tokens, log_probs, top_ids, top_lps, _ = state
    return {"tokens": tokens, "log_probs": log_probs, "top_ids": top_ids, "top_log_probs": top_lps}


def sample(module: Any, params: Any, encoder_tokens: Array, rng: Array, p: DecodeParams) -> Decodes:
    """Greedy (`method="greedy"` or temperature 0) or temperature / top-k / top-p sampling."""
    batch, n, length = encoder_tokens.shape[0], p.num_decodes, p.max_decode_length
    count = batch * n
    greedy = p.method == "greedy" or p.temperature == 0.0
    rows = {
        "encoder_tokens": encoder_tokens,
        "temperature": jnp.full((count,), 0.0 if greedy else p.temperature, jnp.float32),
        "top_p": jnp.full((count,), p.topp or 1.0, jnp.float32),
        "max_tokens": jnp.full((count,), length, jnp.int32),
        "keys": jax.random.split(rng, count),
    }
    out = sample_rows(module, params, rows, length=length, eos_id=p.eos_id, copies=n, topk=p.topk)
    tokens, log_probs = out["tokens"].reshape(batch, n, length), out["log_probs"].reshape(batch, n, length)
    return _sorted(tokens, log_probs, jnp.sum(log_probs, axis=-1), p.eos_id)


def beam_search(module: Any, params: Any, encoder_tokens: Array, p: DecodeParams) -> Decodes:
    """Beam search: finished hypotheses are ranked by log-prob / ((5 + length) / 6) ** alpha.

    Stops early once no live beam can beat the worst finished one (its log-prob can only fall,
    so its best possible score is the current log-prob over the penalty at full length).
    """
    batch, beams, length = encoder_tokens.shape[0], p.num_decodes, p.max_decode_length
    step = StepFn(module, params, encoder_tokens, beams, length)
    positions = jnp.arange(length)

    def body(state: dict) -> dict:
        i = state["i"]
        previous = jnp.where(i == 0, 0, jnp.take(state["alive"], jnp.maximum(i - 1, 0), axis=2))
        logits, cache = step(state["cache"], previous.reshape(-1))
        log_probs = jax.nn.log_softmax(logits).reshape(batch, beams, -1)
        vocab = log_probs.shape[-1]
        candidates = (state["alive_log_prob"][..., None] + log_probs).reshape(batch, beams * vocab)
        top_log_prob, top_index = jax.lax.top_k(candidates, 2 * beams)
        origin, token = top_index // vocab, (top_index % vocab).astype(jnp.int32)
        token_log_prob = jnp.take_along_axis(log_probs.reshape(batch, -1), top_index, axis=-1)

        def extend(seqs: Array, values: Array) -> Array:
            grown = jnp.take_along_axis(seqs, origin[..., None], axis=1)
            return jnp.where(positions == i, values[..., None], grown)

        seqs, seq_log_probs = extend(state["alive"], token), extend(state["alive_token_lp"], token_log_prob)
        ended = token == p.eos_id
        # Live beams: the best `beams` candidates that did not just end.
        live_score = jnp.where(ended, NEG_INF, top_log_prob)
        live_score, keep = jax.lax.top_k(live_score, beams)
        rows = (jnp.arange(batch)[:, None] * beams + jnp.take_along_axis(origin, keep, axis=1)).reshape(-1)
        # Finished: merge the candidates that ended here with those that ended before.
        new_finished_score = jnp.where(ended, top_log_prob / brevity_penalty(i + 1.0, p.alpha), NEG_INF)
        scores = jnp.concatenate([state["finished_score"], new_finished_score], axis=1)
        finished_score, best = jax.lax.top_k(scores, beams)
        pick = lambda old, new: jnp.take_along_axis(  # noqa: E731
            jnp.concatenate([old, new], axis=1), best[..., None], axis=1
        )
        return {
            "i": i + 1,
            "cache": _gather_rows(cache, rows),
            "alive": jnp.take_along_axis(seqs, keep[..., None], axis=1),
            "alive_token_lp": jnp.take_along_axis(seq_log_probs, keep[..., None], axis=1),
            "alive_log_prob": live_score,
            "finished": pick(state["finished"], seqs),
            "finished_token_lp": pick(state["finished_token_lp"], seq_log_probs),
            "finished_score": finished_score,
        }

    def not_done(state: dict) -> Array:
        best_possible = state["alive_log_prob"][:, 0] / brevity_penalty(float(length), p.alpha)
        worst_finished = jnp.min(state["finished_score"], axis=1)
        hopeless = jnp.all(worst_finished > NEG_INF / 2) & jnp.all(best_possible < worst_finished)
        return (state["i"] < length) & ~hopeless

    empty = jnp.zeros((batch, beams, length), jnp.int32)
    state = {
        "i": jnp.zeros((), jnp.int32),
        "cache": step.initial_cache,
        "alive": empty,
        "alive_token_lp": jnp.zeros((batch, beams, length), jnp.float32),
        # Only the first beam is live at the start: all beams hold the same empty prefix.
        "alive_log_prob": jnp.tile(jnp.array([0.0] + [NEG_INF] * (beams - 1)), (batch, 1)),
        "finished": empty,
        "finished_token_lp": jnp.zeros((batch, beams, length), jnp.float32),
        "finished_score": jnp.full((batch, beams), NEG_INF),
    }
    state = jax.lax.while_loop(not_done, body, state)
    # Inputs with no finished hypothesis fall back to their live beams, scored at full length.
    none_finished = jnp.all(state["finished_score"] <= NEG_INF / 2, axis=1)
    fallback_score = state["alive_log_prob"] / brevity_penalty(float(length), p.alpha)
    choose = lambda finished, alive: jnp.where(  # noqa: E731
        none_finished.reshape((-1,) + (1,) * (finished.ndim - 1)), alive, finished
    )
    return _sorted(
        choose(state["finished"], state["alive"]),
        choose(state["finished_token_lp"], state["alive_token_lp"]),
        choose(state["finished_score"], fallback_score),
        p.eos_id,
    )


def _gather_rows(cache: Any, rows: Array) -> Any:
    """Reorders the per-row cache entries (axis 1 under scanned `layers`, else axis 0)."""

    def gather(path: tuple, leaf: Array) -> Array:
        if leaf.ndim == 0:
            return leaf
        axis = 1 if any(getattr(k, "key", None) == "layers" for k in path) else 0
        return jnp.take(leaf, rows, axis=axis)

    return jax.tree_util.tree_map_with_path(gather, cache)


def _sorted(tokens: Array, token_log_probs: Array, scores: Array, eos_id: int) -> Decodes:
    order = jnp.argsort(-scores, axis=1)
    tokens = jnp.take_along_axis(tokens, order[..., None], axis=1)
    token_log_probs = jnp.take_along_axis(token_log_probs, order[..., None], axis=1)
    is_eos = tokens == eos_id
    lengths = jnp.where(jnp.any(is_eos, axis=-1), jnp.argmax(is_eos, axis=-1) + 1, tokens.shape[-1])
    return Decodes(
        tokens=tokens,
        token_log_probs=token_log_probs,
        scores=jnp.take_along_axis(scores, order, axis=1),
        lengths=lengths.astype(jnp.int32),
    )


@functools.cache
def _compiled(module: Any, p: DecodeParams) -> Callable:
    if p.method == "beam":
        return jax.jit(lambda params, tokens, rng: beam_search(module, params, tokens, p))
    return jax.jit(lambda params, tokens, rng: sample(module, params, tokens, rng, p))


def decode(module: Any, params: Any, encoder_tokens: Array, p: DecodeParams, rng: Array | None = None) -> Decodes:
    """Decodes a batch of encoder inputs [B, L_in]; compiled once per (module, params)."""
    if not p.max_decode_length:
        raise ValueError("DecodeParams.max_decode_length is not set.")
    rng = jax.random.PRNGKey(0) if rng is None else rng
    return _compiled(module, p)(params, jnp.asarray(encoder_tokens, jnp.int32), rng)
