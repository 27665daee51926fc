"""T5 v1.1 / FlanT5 encoder-decoder, parameter-compatible with `t5x/examples/t5/network.py`.

Layers may be scanned with `nn.scan` (one compiled layer body per stack, so XL/XXL compile
in bounded time). Scanned parameters live under `layers/` with a leading layer axis;
`distill.engine.layout` converts them to and from T5X's `layers_0 ... layers_{n-1}` names,
which is what checkpoints always contain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from distill.engine import layers as L  # noqa: N812 - short, like T5X's `layers` alias

Array = jax.Array


def save_dots_and_fused_attention(prim: Any, *args: Any, **params: Any) -> bool:
    """Saves what `dots_with_no_batch_dims` saves plus the fused attention's forward outputs.

    jax's cuDNN attention is a custom VJP whose backward needs its forward's output and softmax
    statistics (small: [b, q, h, d] and [b, h, q]). Under the batch-free-dots policy they are
    not saveable, so the backward pass reruns the whole fused forward; saving them skips that.
    With einsum attention (no fused primitive) this is `dots_with_no_batch_dims`.
    """
    fused = prim.name.startswith("dot_product_attention") and "_fwd" in prim.name
    return fused or jax.checkpoint_policies.dots_with_no_batch_dims_saveable(prim, *args, **params)


REMAT_POLICIES = {
    "none": None,
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_with_no_batch_dims": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
    "dots_with_no_batch_dims_and_attention": save_dots_and_fused_attention,
}


@dataclasses.dataclass(frozen=True)
class T5Config:
    """Hyperparameters; field names are T5X's `network.T5Config` names."""

    vocab_size: int = 32128
    dtype: Any = "bfloat16"
    emb_dim: int = 512
    num_heads: int = 8
    num_encoder_layers: int = 6
    num_decoder_layers: int = 6
    head_dim: int = 64
    mlp_dim: int = 2048
    mlp_activations: Sequence[str] = ("gelu", "linear")
    dropout_rate: float = 0.1
    logits_via_embedding: bool = False
    float32_attention_logits: bool = False
    scan_layers: bool = False
    scan_unroll: int = 1  # Layers per scan iteration: fewer loop trips, a longer compile.
    remat_policy: str = "none"
    attention_impl: str = "einsum"  # or "cudnn" (fused; no attention-probability dropout), "xla"

    def __post_init__(self) -> None:
        if self.remat_policy not in REMAT_POLICIES:
            raise ValueError(f"T5Config.remat_policy={self.remat_policy!r}; choose one of {sorted(REMAT_POLICIES)}")
        if self.scan_unroll < 1:
            raise ValueError(f"T5Config.scan_unroll={self.scan_unroll}; it must be at least 1")
        if self.attention_impl not in L.ATTENTION_IMPLS:
            raise ValueError(f"T5Config.attention_impl={self.attention_impl!r}; choose one of {L.ATTENTION_IMPLS}")

    @property
    def activation_dtype(self) -> Any:
        return jnp.dtype(self.dtype)


class EncoderLayer(nn.Module):
    config: T5Config
    deterministic: bool = True

    @nn.compact
    def __call__(self, x: Array, mask: Array, bias: Array) -> tuple[Array, None]:
        cfg, dtype = self.config, self.config.activation_dtype
        drop = L.length_dropout(cfg.dropout_rate, self.deterministic)
        h = L.RMSNorm(dtype=dtype, name="pre_attention_layer_norm")(x)
        h = self._attention("attention")(inputs_q=h, inputs_kv=h, mask=mask, bias=bias)
        x = x + drop(h)
        h = L.RMSNorm(dtype=dtype, name="pre_mlp_layer_norm")(x)
        h = self._mlp()(h)
        x = constrain_embed(x + drop(h))
        return x, None

    def _attention(self, name: str) -> L.MultiHeadDotProductAttention:
        cfg = self.config
        return L.MultiHeadDotProductAttention(
            num_heads=cfg.num_heads,
            head_dim=cfg.head_dim,
            dtype=cfg.activation_dtype,
            dropout_rate=cfg.dropout_rate,
            float32_logits=cfg.float32_attention_logits,
            deterministic=self.deterministic,
            impl=cfg.attention_impl,
            name=name,
        )

    def _mlp(self) -> L.MlpBlock:
        cfg = self.config
        return L.MlpBlock(
            mlp_dim=cfg.mlp_dim,
            activations=cfg.mlp_activations,
            dtype=cfg.activation_dtype,
            dropout_rate=cfg.dropout_rate,
            deterministic=self.deterministic,
            name="mlp",
        )


class DecoderLayer(EncoderLayer):
    """Self-attention, cross-attention, MLP; with `decode_length` > 0, one cached decoding step."""

    decode_length: int = 0

    @nn.compact
    def __call__(
        self,
        y: Array,
        encoded: Array,
        self_mask: Array,
        self_bias: Array,
        cross_mask: Array,
        cache_index: Array | None,
    ) -> tuple[Array, None]:
        cfg, dtype = self.config, self.config.activation_dtype
        decoding = self.decode_length > 0
        self_cache = {"cache": "self", "cache_index": cache_index, "cache_length": self.decode_length}
        drop = L.length_dropout(cfg.dropout_rate, self.deterministic)
        h = L.RMSNorm(dtype=dtype, name="pre_self_attention_layer_norm")(y)
        h = self._attention("self_attention")(
            inputs_q=h, inputs_kv=h, mask=self_mask, bias=self_bias, **(self_cache if decoding else {})
        )
        y = y + drop(h)
        h = L.RMSNorm(dtype=dtype, name="pre_cross_attention_layer_norm")(y)
        h = self._attention("encoder_decoder_attention")(
            inputs_q=h, inputs_kv=encoded, mask=cross_mask, cache="static" if decoding else None
        )
        y = y + drop(h)
        h = L.RMSNorm(dtype=dtype, name="pre_mlp_layer_norm")(y)
        h = self._mlp()(h)
        y = constrain_embed(y + drop(h))
        return y, None


def constrain_embed(x: Array) -> Array:
    return L.constrain(x, ("batch", "length", "embed"))


def layer_stack(
    layer_cls: type[nn.Module],
    config: T5Config,
    num_layers: int,
    deterministic: bool,
    num_inputs: int,
    **layer_kwargs: Any,
):
    """Applies `num_layers` copies of `layer_cls`, scanned or as `layers_i`, with optional remat."""
    policy = REMAT_POLICIES[config.remat_policy]
    if config.remat_policy != "none":
        layer_cls = nn.remat(layer_cls, policy=policy, prevent_cse=not config.scan_layers)
    if config.scan_layers:
        scanned = nn.scan(
            layer_cls,
            variable_axes={"params": 0, "cache": 0},
            split_rngs={"params": True, "dropout": True},
            in_axes=(nn.broadcast,) * num_inputs,
            length=num_layers,
            unroll=config.scan_unroll,
            metadata_params={nn.PARTITION_NAME: "layers"},
        )(config, deterministic, name="layers", **layer_kwargs)
        return lambda x, *args: scanned(x, *args)[0]

    layers = [layer_cls(config, deterministic, name=f"layers_{i}", **layer_kwargs) for i in range(num_layers)]

    def apply(x: Array, *args: Array) -> Array:
        for layer in layers:
            x, _ = layer(x, *args)
        return x

    return apply


class Encoder(nn.Module):
    config: T5Config
    shared_embedding: nn.Module

    @nn.compact
    def __call__(self, tokens: Array, segment_ids: Array | None, deterministic: bool) -> Array:
        cfg, dtype = self.config, self.config.activation_dtype
        mask = L.make_attention_mask(tokens > 0, tokens > 0)
        if segment_ids is not None:
            mask = mask & L.segment_mask(segment_ids, segment_ids)
        length = tokens.shape[1]
        # float32 into the layers, which cast it: its gradient is summed across layers in float32.
        relpos = L.RelativePositionBiases(num_heads=cfg.num_heads, name="relpos_bias")(
            qlen=length, klen=length, bidirectional=True
        )

        x = self.shared_embedding(tokens.astype(jnp.int32)).astype(dtype)
        x = constrain_embed(L.length_dropout(cfg.dropout_rate, deterministic)(x))
        x = layer_stack(EncoderLayer, cfg, cfg.num_encoder_layers, deterministic, 2)(x, mask, relpos)
        x = L.RMSNorm(dtype=dtype, name="encoder_norm")(x)
        return nn.Dropout(cfg.dropout_rate, deterministic=deterministic)(x)


class Decoder(nn.Module):
    config: T5Config
    shared_embedding: nn.Module

    @nn.compact
    def __call__(
        self,
        encoded: Array,
        encoder_tokens: Array,
        decoder_input_tokens: Array,
        decoder_target_tokens: Array | None,
        encoder_segment_ids: Array | None,
        decoder_segment_ids: Array | None,
        deterministic: bool,
        decode_length: int = 0,
    ) -> Array:
        cfg, dtype = self.config, self.config.activation_dtype
        relpos = L.RelativePositionBiases(num_heads=cfg.num_heads, name="relpos_bias")
        if decode_length:
            self_mask, self_bias, cross_mask, index = self._decoding_masks(relpos, encoder_tokens, decode_length)
        else:
            self_mask, self_bias, cross_mask = self._training_masks(
                relpos, encoder_tokens, decoder_target_tokens, encoder_segment_ids, decoder_segment_ids
            )
            index = None

        y = self.shared_embedding(decoder_input_tokens.astype(jnp.int32)).astype(dtype)
        y = constrain_embed(L.length_dropout(cfg.dropout_rate, deterministic)(y))
        y = layer_stack(DecoderLayer, cfg, cfg.num_decoder_layers, deterministic, 5, decode_length=decode_length)(
            y, encoded, self_mask, self_bias, cross_mask, index
        )
        y = L.RMSNorm(dtype=dtype, name="decoder_norm")(y)
        y = L.length_dropout(cfg.dropout_rate, deterministic)(y)
        if cfg.logits_via_embedding:
            logits = self.shared_embedding.attend(y.astype(jnp.float32)) / jnp.sqrt(y.shape[-1])
        else:
            logits = L.dense(features=cfg.vocab_size, axes=("embed", "vocab"), name="logits_dense", dtype=jnp.float32)(
                y
            )
        return L.constrain(logits, ("batch", "length", "vocab"))

    def _training_masks(
        self,
        relpos: nn.Module,
        encoder_tokens: Array,
        decoder_target_tokens: Array,
        encoder_segment_ids: Array | None,
        decoder_segment_ids: Array | None,
    ) -> tuple[Array, Array, Array]:
        """Self-attention mask (causal, padding, segments) and relative positions, cross-attention mask."""
        length = decoder_target_tokens.shape[1]
        target_valid = decoder_target_tokens > 0
        causal = jnp.tril(jnp.ones((length, length), jnp.bool_))[None, None]
        self_mask = L.make_attention_mask(target_valid, target_valid) & causal
        cross_mask = L.make_attention_mask(target_valid, encoder_tokens > 0)
        if decoder_segment_ids is not None:
            self_mask = self_mask & L.segment_mask(decoder_segment_ids, decoder_segment_ids)
            cross_mask = cross_mask & L.segment_mask(decoder_segment_ids, encoder_segment_ids)
        return self_mask, relpos(qlen=length, klen=length, bidirectional=False), cross_mask

    def _decoding_masks(
        self, relpos: nn.Module, encoder_tokens: Array, decode_length: int
    ) -> tuple[Array, Array, Array, Array]:
        """Masks and relative positions for one decoding step at the cached position, which then advances.

        The first call (the one that creates the cache) leaves the position at 0.
        """
        initializing = not self.has_variable("cache", "position")
        position = self.variable("cache", "position", lambda: jnp.zeros((), jnp.int32))
        index = position.value
        if not initializing:
            position.value = index + 1
        written = (jnp.arange(decode_length) <= index)[None, None, None, :]
        self_bias = relpos(qlen=1, klen=decode_length, bidirectional=False, query_index=index)
        return written, self_bias, (encoder_tokens > 0)[:, None, None, :], index


class Transformer(nn.Module):
    """The T5 encoder-decoder with a shared input embedding (`token_embedder`)."""

    config: T5Config

    def setup(self) -> None:
        cfg = self.config
        self.token_embedder = nn.Embed(
            cfg.vocab_size,
            cfg.emb_dim,
            dtype=cfg.activation_dtype,
            param_dtype=jnp.float32,
            embedding_init=nn.with_logical_partitioning(L.embedding_init, ("vocab", "embed")),
        )
        self.encoder = Encoder(config=cfg, shared_embedding=self.token_embedder)
        self.decoder = Decoder(config=cfg, shared_embedding=self.token_embedder)

    def encode(
        self, encoder_input_tokens: Array, encoder_segment_ids: Array | None = None, enable_dropout: bool = True
    ) -> Array:
        return self.encoder(
            tokens=encoder_input_tokens, segment_ids=encoder_segment_ids, deterministic=not enable_dropout
        )

    def decode(
        self,
        encoded: Array,
        encoder_input_tokens: Array,
        decoder_input_tokens: Array,
        decoder_target_tokens: Array,
        encoder_segment_ids: Array | None = None,
        decoder_segment_ids: Array | None = None,
        enable_dropout: bool = True,
        decode_length: int = 0,
    ) -> Array:
        """Decoder logits; with `decode_length` > 0, one incremental step over the `cache` collection.

        Decoding applies this with `mutable=["cache"]`: a first call creates the caches (the
        encoder's keys/values for cross-attention, zeros for self-attention), and each later
        call feeds one token per row and returns its next-token logits.
        """
        return self.decoder(
            encoded=encoded,
            encoder_tokens=encoder_input_tokens,
            decoder_input_tokens=decoder_input_tokens,
            decoder_target_tokens=decoder_target_tokens,
            encoder_segment_ids=encoder_segment_ids,
            decoder_segment_ids=decoder_segment_ids,
            deterministic=not enable_dropout,
            decode_length=decode_length,
        )

    def __call__(
        self,
        encoder_input_tokens: Array,
        decoder_input_tokens: Array,
        decoder_target_tokens: Array,
        encoder_segment_ids: Array | None = None,
        decoder_segment_ids: Array | None = None,
        encoder_positions: Array | None = None,
        decoder_positions: Array | None = None,
        enable_dropout: bool = True,
    ) -> Array:
        """Teacher-forced logits [batch, target_length, vocab] in float32.

        Positions are accepted for T5X signature compatibility; relative position biases use
        row indices, which is exact because cross-segment attention is masked.
        """
        del encoder_positions, decoder_positions
        encoded = self.encode(
            encoder_input_tokens=encoder_input_tokens,
            encoder_segment_ids=encoder_segment_ids,
            enable_dropout=enable_dropout,
        )
        return self.decode(
            encoded=encoded,
            encoder_input_tokens=encoder_input_tokens,
            decoder_input_tokens=decoder_input_tokens,
            decoder_target_tokens=decoder_target_tokens,
            encoder_segment_ids=encoder_segment_ids,
            decoder_segment_ids=decoder_segment_ids,
            enable_dropout=enable_dropout,
        )
