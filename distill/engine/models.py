"""`EncoderDecoderModel`: T5X's model layer over the network (loss, metrics, scoring).

Mirrors `t5x/models.py`: the loss is the *sum* over target tokens (optionally divided by a
loss normalizing factor), z-loss defaults to 1e-4 in the model gins, and `score_batch` returns
per-example log-likelihoods. The token loss itself is a pluggable `TargetLoss`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp

from distill.engine import decoding, losses

Array = jax.Array
Batch = Mapping[str, Array]
Metrics = dict[str, Array]

_FROM_BATCH = object()  # Sentinel: resolve the loss normalizer on the batch given.
_COUNT_METRICS = ("accuracy_correct", "total_tokens", "examples")  # Summarized above, under other names.
PACKING_KEYS = ("encoder_segment_ids", "decoder_segment_ids", "encoder_positions", "decoder_positions")


class BaseModel(Protocol):
    """The gin `MODEL` plug point (T5X's `models.BaseModel`): what training, evaluation, inference and serving use.

    `EncoderDecoderModel` is the implementation; a user's model bound as `MODEL` needs only this.
    """

    module: nn.Module
    input_vocabulary: Any
    output_vocabulary: Any
    optimizer_def: Any
    decode_params: decoding.DecodeParams

    @property
    def FEATURE_CONVERTER_CLS(self) -> Any: ...  # noqa: N802 - T5X's attribute name.

    def layer_counts(self) -> dict[str, int]: ...

    def get_initial_variables(
        self, rng: Array, input_shapes: Mapping[str, tuple[int, ...]], input_types: Mapping[str, Any] | None = None
    ) -> Any: ...

    def loss_fn(self, params: Any, batch: Batch, dropout_rng: Array | None) -> tuple[Array, Metrics]: ...

    def score_batch(self, params: Any, batch: Batch) -> Array: ...

    def decode_batch(
        self, params: Any, batch: Batch, rng: Array | None = None, decode_params: decoding.DecodeParams | None = None
    ) -> decoding.Decodes: ...

    def predict_batch(
        self, params: Any, batch: Batch, rng: Array | None = None, decode_params: decoding.DecodeParams | None = None
    ) -> Array: ...


class EncoderDecoderModel:
    """A T5 encoder-decoder trained with teacher forcing.

    Args mirror T5X's: `module` is a `network.Transformer`; vocabularies are kept for the
    data pipeline and decoding; `optimizer_def` builds the optax transformation;
    `target_loss` defaults to `CrossEntropyLoss(z_loss, label_smoothing)`; `loss_weighting`
    (e.g. `losses.FormatShareWeighting`) reweights the target tokens of each global batch
    (default: none, the token sum).
    """

    def __init__(
        self,
        module: nn.Module,
        input_vocabulary: Any = None,
        output_vocabulary: Any = None,
        optimizer_def: Any = None,
        label_smoothing: float = 0.0,
        z_loss: float = 0.0,
        loss_normalizing_factor: float | str | None = None,
        target_loss: losses.TargetLoss | None = None,
        loss_weighting: losses.LossWeighting | None = None,
        feature_converter_cls: Any = None,
        decode_params: decoding.DecodeParams | None = None,
    ) -> None:
        self.module = module
        self.input_vocabulary = input_vocabulary
        self.output_vocabulary = output_vocabulary
        self.optimizer_def = optimizer_def
        self.loss_normalizing_factor = loss_normalizing_factor
        self.target_loss = target_loss or losses.CrossEntropyLoss(z_loss=z_loss, label_smoothing=label_smoothing)
        self.loss_weighting = loss_weighting
        self._feature_converter_cls = feature_converter_cls
        self.decode_params = decode_params or decoding.DecodeParams()

    @property
    def layer_counts(self) -> dict[str, int]:
        """Layers per stack, for converting scanned trees to T5X's per-layer names."""
        config = self.module.config
        return {"encoder": config.num_encoder_layers, "decoder": config.num_decoder_layers}

    @property
    def FEATURE_CONVERTER_CLS(self) -> Any:  # noqa: N802 - T5X's attribute name.
        if self._feature_converter_cls is not None:
            return self._feature_converter_cls
        import seqio  # Imported lazily: the engine must run without tensorflow/seqio.

        return seqio.EncDecFeatureConverter

    def get_initial_variables(
        self, rng: Array, input_shapes: Mapping[str, tuple[int, ...]], input_types: Mapping[str, Any] | None = None
    ) -> Any:
        """Boxed (logically partitioned) variables, as `module.init` returns them."""
        input_types = input_types or {}
        encoder_shape = input_shapes["encoder_input_tokens"]
        decoder_shape = input_shapes["decoder_input_tokens"]
        tokens = lambda name, shape: jnp.ones(shape, input_types.get(name, jnp.int32))  # noqa: E731
        return self.module.init(
            {"params": rng, "dropout": rng},
            encoder_input_tokens=tokens("encoder_input_tokens", encoder_shape),
            decoder_input_tokens=tokens("decoder_input_tokens", decoder_shape),
            decoder_target_tokens=tokens("decoder_target_tokens", decoder_shape),
            enable_dropout=False,
        )

    def compute_logits(self, params: Any, batch: Batch, dropout_rng: Array | None = None) -> Array:
        rngs = {"dropout": dropout_rng} if dropout_rng is not None else None
        return self.module.apply(
            {"params": params},
            encoder_input_tokens=batch["encoder_input_tokens"],
            decoder_input_tokens=batch["decoder_input_tokens"],
            decoder_target_tokens=batch["decoder_target_tokens"],
            **{k: batch[k] for k in PACKING_KEYS if k in batch},
            enable_dropout=dropout_rng is not None,
            rngs=rngs,
        )

    def loss_weights_and_normalizer(self, batch: Batch) -> tuple[Array, Any]:
        return losses.token_weights_and_normalizer(batch, self.loss_normalizing_factor, self.loss_weighting)

    def loss_fn(
        self, params: Any, batch: Batch, dropout_rng: Array | None, normalizer: Any = _FROM_BATCH
    ) -> tuple[Array, Metrics]:
        """Loss and summable metrics for one (micro)batch.

        `normalizer` is the loss normalizing factor resolved on the global batch, whose weights
        are then the batch's `decoder_loss_weights` as they are (the trainer resolves both once,
        so a microbatch is not reweighted on its own); by default both are resolved on this batch,
        as T5X does.
        """
        if normalizer is _FROM_BATCH:
            weights, normalizer = self.loss_weights_and_normalizer(batch)
        else:
            weights, _ = losses.token_weights_and_normalizer(batch, None)
        logits = self.compute_logits(params, batch, dropout_rng)
        loss, extra = self.target_loss(logits, batch, weights)
        if normalizer is not None:
            loss = loss / normalizer
            extra = {k: v / normalizer for k, v in extra.items()}
        correct = (jnp.argmax(logits, axis=-1) == batch["decoder_target_tokens"]).astype(jnp.float32)
        metrics = {
            "loss": loss,
            "accuracy_correct": jnp.sum(correct * weights),
            "nonpadding_tokens": jnp.sum(weights),
            "total_tokens": jnp.asarray(weights.size, jnp.float32),
            "examples": jnp.asarray(weights.shape[0], jnp.float32),
            **extra,
        }
        return loss, metrics

    def score_batch(self, params: Any, batch: Batch) -> Array:
        """Per-example log-likelihood of the targets: sum of token log-probs, no z-loss."""
        logits = self.compute_logits(params, batch)
        weights, _ = self.loss_weights_and_normalizer(batch)
        token_loss, _ = losses.cross_entropy_with_logits(logits, batch["decoder_target_tokens"], 1.0, 0.0, 0.0)
        return -jnp.sum(token_loss * weights, axis=-1)

    def decode_batch(
        self, params: Any, batch: Batch, rng: Array | None = None, decode_params: decoding.DecodeParams | None = None
    ) -> decoding.Decodes:
        """All decodes (tokens, per-token log-probs, scores), best first.

        Uses the model's `decode_params` (gin: `models.EncoderDecoderModel.decode_params`) unless
        given; an unset length is the batch's target length.
        """
        decode_params = decode_params or self.decode_params
        if "decoder_input_tokens" in batch:
            decode_params = decode_params.with_length(batch["decoder_input_tokens"].shape[1])
        return decoding.decode(self.module, params, batch["encoder_input_tokens"], decode_params, rng)

    def predict_batch(
        self, params: Any, batch: Batch, rng: Array | None = None, decode_params: decoding.DecodeParams | None = None
    ) -> Array:
        """T5X's `predict_batch`: the best decode per input, [batch, length] (greedy by default)."""
        return self.decode_batch(params, batch, rng, decode_params).tokens[:, 0]


def summarize_metrics(sums: Mapping[str, Any], steps: int) -> dict[str, float]:
    """Turns summed step metrics into T5X's reported names (averages per step and per token)."""
    sums = {k: float(v) for k, v in sums.items()}
    tokens = max(sums.get("nonpadding_tokens", 0.0), 1.0)
    out = {
        "loss": sums["loss"] / steps,
        "loss_per_nonpadding_target_token": sums["loss"] / tokens,
        "loss_per_all_target_tokens": sums["loss"] / max(sums.get("total_tokens", 1.0), 1.0),
        "accuracy": sums.get("accuracy_correct", 0.0) / tokens,
        "nonpadding_tokens": sums.get("nonpadding_tokens", 0.0) / steps,
    }
    # The target loss's own metrics (z_loss, cross_ent_loss, ...) averaged per step, except
    # `<name>_sum` / `<name>_tokens` pairs: a mean per counted token (e.g. the teacher KL over
    # positions with teacher mass).
    pairs = {key[: -len("_sum")] for key in sums if key.endswith("_sum") and key[: -len("_sum")] + "_tokens" in sums}
    for name in pairs:
        out[name] = sums[name + "_sum"] / max(sums[name + "_tokens"], 1e-9)
    paired = {f"{name}_{part}" for name in pairs for part in ("sum", "tokens")}
    for key, value in sums.items():
        if key not in out and key not in paired and key not in _COUNT_METRICS:
            out[key] = value / steps
    return out
