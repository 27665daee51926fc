"""T5 v1.1 building blocks with T5X's parameter names, shapes, logical axes and numerics.

Mirrors `t5x/examples/t5/layers.py`: kernels are stored 2-D (``[embed, heads*head_dim]``),
attention is unscaled (the 1/sqrt(head_dim) lives in the query initializer), RMSNorm statistics
are float32, and dropout is broadcast along the length axis as in Mesh TensorFlow.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
DType = Any

NEG_INF = -1e10  # T5X's attention mask value.

dense_init = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")
attention_init = nn.initializers.variance_scaling(1.0, "fan_in", "normal")
relpos_init = nn.initializers.variance_scaling(1.0, "fan_avg", "uniform")
embedding_init = nn.initializers.normal(stddev=1.0)


def constrain(x: Array, axes: tuple[str | None, ...]) -> Array:
    """Annotates an activation with T5X logical axis names (a no-op outside a mesh)."""
    return nn.with_logical_constraint(x, axes)


def dense(
    features: int,
    axes: tuple[str, str],
    name: str,
    dtype: DType,
    init: Callable = dense_init,
) -> nn.Dense:
    """A bias-free Dense layer with a float32 kernel, computing in `dtype`."""
    return nn.Dense(
        features,
        use_bias=False,
        dtype=dtype,
        param_dtype=jnp.float32,
        kernel_init=nn.with_logical_partitioning(init, axes),
        name=name,
    )


def length_dropout(rate: float, deterministic: bool) -> nn.Dropout:
    """Dropout sharing one mask across the length axis, as T5X/MTF do."""
    return nn.Dropout(rate, broadcast_dims=(-2,), deterministic=deterministic)


class RMSNorm(nn.Module):
    """T5 layer norm: no mean subtraction, no bias, float32 statistics."""

    dtype: DType = jnp.bfloat16
    epsilon: float = 1e-6

    @nn.compact
    def __call__(self, x: Array) -> Array:
        x = x.astype(jnp.float32)
        mean2 = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
        y = (x * jax.lax.rsqrt(mean2 + self.epsilon)).astype(self.dtype)
        scale = self.param(
            "scale", nn.with_logical_partitioning(nn.initializers.ones, ("embed",)), (x.shape[-1],), jnp.float32
        )
        return y * scale.astype(self.dtype)


def relative_position_bucket(
    relative_position: np.ndarray, bidirectional: bool, num_buckets: int, max_distance: int
) -> np.ndarray:
    """T5's log-spaced relative position buckets (relative_position = key_pos - query_pos)."""
    ret = np.zeros_like(relative_position)
    n = -relative_position
    if bidirectional:
        num_buckets //= 2
        ret += (n < 0).astype(np.int32) * num_buckets
        n = np.abs(n)
    else:
        n = np.maximum(n, 0)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    with np.errstate(divide="ignore"):
        val_if_large = max_exact + (
            np.log(n.astype(np.float32) / max_exact + np.finfo(np.float32).eps)
            / np.log(max_distance / max_exact)
            * (num_buckets - max_exact)
        ).astype(np.int32)
    val_if_large = np.minimum(val_if_large, num_buckets - 1)
    return ret + np.where(is_small, n, val_if_large)


class RelativePositionBiases(nn.Module):
    """Per-head learned bias over relative position buckets, shared by all layers of a stack."""

    num_heads: int
    num_buckets: int = 32
    max_distance: int = 128

    @nn.compact
    def __call__(self, qlen: int, klen: int, bidirectional: bool, query_index: Array | None = None) -> Array:
        """Returns float32 biases of shape [1, heads, qlen, klen].

        With `query_index` (incremental decoding) the single query sits at that position.
        """
        table = self.param(
            "rel_embedding",
            nn.with_logical_partitioning(relpos_init, ("heads", "relpos_buckets")),
            (self.num_heads, self.num_buckets),
            jnp.float32,
        )
        context = np.arange(klen if query_index is not None else qlen, dtype=np.int32)[:, None]
        memory = np.arange(klen, dtype=np.int32)[None, :]
        buckets = relative_position_bucket(memory - context, bidirectional, self.num_buckets, self.max_distance)
        if query_index is not None:
            buckets = jax.lax.dynamic_slice_in_dim(jnp.asarray(buckets), query_index, qlen, axis=0)
        return jnp.take(table, buckets, axis=1)[None]


def attention_bias(mask: Array, dtype: DType) -> Array:
    """Turns a boolean (or {0,1}) attention mask [b, 1, q, k] into an additive bias."""
    return jnp.where(mask > 0, 0.0, NEG_INF).astype(dtype)


def combined_bias(mask: Array, bias: Array | None, dtype: DType) -> Array:
    """The additive attention bias [b, h, q, k]: the mask's plus the relative-position `bias`.

    Built inside each attention call, as T5X does, from the small [b, 1, q, k] mask and
    [1, h, q, k] bias, so XLA fuses it into the logits instead of one [b, h, q, k] array being
    held (and, under `nn.scan`, its gradient carried) across all layers.
    """
    mask_bias = attention_bias(mask, dtype)
    return mask_bias if bias is None else mask_bias + bias.astype(dtype)


def make_attention_mask(query_valid: Array, key_valid: Array) -> Array:
    """[b, q] x [b, k] -> boolean [b, 1, q, k] mask of pairs where both positions are valid."""
    return query_valid[:, None, :, None] & key_valid[:, None, None, :]


def segment_mask(query_segments: Array, key_segments: Array) -> Array:
    """Allows attention only within the same packed segment (boolean [b, 1, q, k])."""
    return query_segments[:, None, :, None] == key_segments[:, None, None, :]


ATTENTION_IMPLS = ("einsum", "xla", "cudnn")


class MultiHeadDotProductAttention(nn.Module):
    """T5X attention: unscaled dot products, additive bias, query-broadcast dropout.

    `impl="einsum"` is T5X's computation. `"xla"` / `"cudnn"` call
    `jax.nn.dot_product_attention` (cudnn: fused flash attention on NVIDIA GPUs); those skip
    dropout on the attention probabilities (residual and MLP dropout still apply) and compute
    the softmax in float32.
    """

    num_heads: int
    head_dim: int
    dtype: DType = jnp.bfloat16
    dropout_rate: float = 0.0
    float32_logits: bool = False
    deterministic: bool = True
    impl: str = "einsum"

    @nn.compact
    def __call__(
        self,
        inputs_q: Array,
        inputs_kv: Array,
        mask: Array,
        bias: Array | None = None,
        cache: str | None = None,
        cache_index: Array | None = None,
        cache_length: int = 0,
    ) -> Array:
        """Attention of `inputs_q` over `inputs_kv` where `mask` [b, 1, q, k] allows it.

        `bias` [1, h, q, k] is the relative-position bias (none for cross-attention).
        `cache="self"` (incremental decoding): this step's keys/values are written at
        `cache_index` into a `cache_length` cache, and attention runs over the whole cache (the
        caller's mask hides unwritten positions). `cache="static"`: keys/values of `inputs_kv`
        (the encoder output) are projected once, on the call that creates the cache, and read
        back afterwards; T5X recomputes them every step. Both caches are head-major [b, h, k, d].
        """
        joined = self.num_heads * self.head_dim
        query_init = lambda *a: attention_init(*a) / np.sqrt(self.head_dim).astype(np.float32)  # noqa: E731
        proj = functools.partial(dense, joined, ("embed", "joined_kv"), dtype=self.dtype)

        def heads(x):
            return constrain(
                x.reshape((*x.shape[:-1], self.num_heads, self.head_dim)), ("batch", "length", "heads", "kv")
            )

        query = heads(proj(name="query", init=query_init)(inputs_q))
        project_kv = lambda: (  # noqa: E731
            heads(proj(name="key", init=attention_init)(inputs_kv)),
            heads(proj(name="value", init=attention_init)(inputs_kv)),
        )
        if cache == "static":
            key, value = self._static_cache(project_kv)
        elif cache == "self":
            key, value = self._growing_cache(*project_kv(), cache_index, cache_length)
        else:
            key, value = project_kv()
        bias = combined_bias(mask, bias, self.dtype)
        if cache:
            # One query per step: a fused kernel buys nothing, and the head-major cache feeds both dots as it is.
            out = self._einsum_attention(query, key, value, bias, kv_axes="bhkd", float32_logits=self.impl != "einsum")
        elif self.impl == "einsum":
            out = self._einsum_attention(query, key, value, bias)
        else:
            out = jax.nn.dot_product_attention(query, key, value, bias=bias, scale=1.0, implementation=self.impl)
        out = out.reshape((*out.shape[:-2], joined))
        return dense(features=inputs_q.shape[-1], axes=("joined_kv", "embed"), name="out", dtype=self.dtype)(out)

    def _static_cache(self, project_kv: Callable[[], tuple[Array, Array]]) -> tuple[Array, Array]:
        """The encoder's keys/values, head-major [b, h, k, d], projected on the call that creates the cache."""
        if self.has_variable("cache", "cached_key"):
            return self.get_variable("cache", "cached_key"), self.get_variable("cache", "cached_value")
        key, value = (jnp.swapaxes(x, 1, 2) for x in project_kv())
        self.put_variable("cache", "cached_key", key)
        self.put_variable("cache", "cached_value", value)
        return key, value

    def _growing_cache(self, key: Array, value: Array, index: Array, length: int) -> tuple[Array, Array]:
        """The head-major cache [b, h, length, d] after writing this step; zeros (no write) when it is created.

        Head-major because the attention dots batch over (b, h): with T5X's [b, length, h, d]
        layout XLA transposes the whole cache, every layer and every step, before each dot.
        """
        initialized = self.has_variable("cache", "cached_key")
        batch, _, heads, head_dim = key.shape
        cached_key = self.variable("cache", "cached_key", jnp.zeros, (batch, heads, length, head_dim), key.dtype)
        cached_value = self.variable("cache", "cached_value", jnp.zeros, (batch, heads, length, head_dim), value.dtype)
        if initialized:
            write = lambda cached, x: jax.lax.dynamic_update_slice_in_dim(cached, jnp.swapaxes(x, 1, 2), index, 2)  # noqa: E731
            cached_key.value = write(cached_key.value, key)
            cached_value.value = write(cached_value.value, value)
        return cached_key.value, cached_value.value

    def _einsum_attention(
        self,
        query: Array,
        key: Array,
        value: Array,
        bias: Array | None,
        kv_axes: str = "bkhd",
        float32_logits: bool = False,
    ) -> Array:
        """T5X's attention; `kv_axes` names the keys'/values' layout ("bhkd" for the decoding caches).

        `float32_logits` (decoding a model trained with a fused impl, whose softmax is float32)
        asks the dot for float32 output instead of casting the whole cache every step.
        """
        if self.float32_logits:
            query, key = query.astype(jnp.float32), key.astype(jnp.float32)
        logits_dtype = jnp.float32 if float32_logits else None
        logits = jnp.einsum(f"bqhd,{kv_axes}->bhqk", query, key, preferred_element_type=logits_dtype)
        if bias is not None:
            logits = logits + bias.astype(logits.dtype)
        weights = jax.nn.softmax(logits).astype(self.dtype)
        if not self.deterministic and self.dropout_rate > 0.0:
            weights = nn.Dropout(self.dropout_rate, broadcast_dims=(-2,), deterministic=False)(weights)
        return jnp.einsum(f"bhqk,{kv_axes}->bqhd", weights, value)


class MlpBlock(nn.Module):
    """Gated (or plain) feed-forward block: wi_0/wi_1 (or wi) then wo."""

    mlp_dim: int
    activations: Sequence[str] = ("gelu", "linear")
    dtype: DType = jnp.bfloat16
    dropout_rate: float = 0.0
    deterministic: bool = True

    @nn.compact
    def __call__(self, x: Array) -> Array:
        hidden = None
        for i, act in enumerate(self.activations):
            name = "wi" if len(self.activations) == 1 else f"wi_{i}"
            h = dense(features=self.mlp_dim, axes=("embed", "mlp"), name=name, dtype=self.dtype)(x)
            h = h if act == "linear" else getattr(nn, act)(h)
            hidden = h if hidden is None else hidden * h
        hidden = length_dropout(self.dropout_rate, self.deterministic)(hidden)
        hidden = constrain(hidden, ("batch", "length", "mlp"))
        return dense(features=x.shape[-1], axes=("mlp", "embed"), name="wo", dtype=self.dtype)(hidden)
