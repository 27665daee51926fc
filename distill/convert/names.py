"""Hugging Face T5 <-> T5X: parameter names, and the model config on either side.

One table (`param_map`) drives both directions. Hugging Face's `nn.Linear` weights are
[out, in], T5X's kernels [in, out], so those are transposed; the relative position table is
[buckets, heads] in Hugging Face (stored in block 0 only) and [heads, buckets] in T5X. Both
compute unscaled attention, so no weight is rescaled. The engine's sizes live in its
`network.T5Config`, so that is what the Hugging Face `config.json` is read into and written from.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from distill.engine import network
from distill.engine.layout import scanned_to_layers

# T5X's relative position biases (and the engine's) have 32 buckets up to distance 128.
RELPOS_BUCKETS, RELPOS_MAX_DISTANCE = 32, 128
# feed_forward_proj -> T5X mlp_activations. Hugging Face's "gated-gelu" is gelu_new (tanh), as
# flax's nn.gelu; its plain "gelu" is the exact erf form, which the engine does not have.
ACTIVATIONS = {"gated-gelu": ("gelu", "linear"), "relu": ("relu",), "gated-relu": ("relu", "linear")}
# Copies of `shared.weight` that Hugging Face checkpoints may also hold.
EMBEDDING_COPIES = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")
# The T5Config fields a converted checkpoint fixes (written to DST/model.gin).
GIN_FIELDS = (
    "vocab_size",
    "emb_dim",
    "num_heads",
    "num_encoder_layers",
    "num_decoder_layers",
    "head_dim",
    "mlp_dim",
    "mlp_activations",
    "logits_via_embedding",
)
_ATTENTION = {"q": "query", "k": "key", "v": "value", "o": "out"}
# Per stack: (sublayer index, Hugging Face module, T5X module, T5X layer norm before it).
_SUBLAYERS = {
    "encoder": ((0, "SelfAttention", "attention", "pre_attention_layer_norm"),),
    "decoder": (
        (0, "SelfAttention", "self_attention", "pre_self_attention_layer_norm"),
        (1, "EncDecAttention", "encoder_decoder_attention", "pre_cross_attention_layer_norm"),
    ),
}


@dataclasses.dataclass(frozen=True)
class ParamName:
    hf: str  # e.g. "encoder.block.0.layer.0.SelfAttention.q.weight"
    t5x: str  # e.g. "encoder/layers_0/attention/query/kernel"
    transpose: bool


def param_map(config: network.T5Config) -> list[ParamName]:
    """Every param of the model, in Hugging Face's order."""
    names = [ParamName("shared.weight", "token_embedder/embedding", False)]
    mlp = ["wi"] if len(config.mlp_activations) == 1 else [f"wi_{i}" for i in range(len(config.mlp_activations))]
    for stack, layers in (("encoder", config.num_encoder_layers), ("decoder", config.num_decoder_layers)):
        for i in range(layers):
            hf, t5x = f"{stack}.block.{i}.layer", f"{stack}/layers_{i}"
            for j, hf_module, t5x_module, norm in _SUBLAYERS[stack]:
                if i == 0 and hf_module == "SelfAttention":
                    bias = f"{hf}.0.SelfAttention.relative_attention_bias.weight"
                    names.append(ParamName(bias, f"{stack}/relpos_bias/rel_embedding", True))
                names.append(ParamName(f"{hf}.{j}.layer_norm.weight", f"{t5x}/{norm}/scale", False))
                names += [
                    ParamName(f"{hf}.{j}.{hf_module}.{a}.weight", f"{t5x}/{t5x_module}/{b}/kernel", True)
                    for a, b in _ATTENTION.items()
                ]
            j = len(_SUBLAYERS[stack])
            names.append(ParamName(f"{hf}.{j}.layer_norm.weight", f"{t5x}/pre_mlp_layer_norm/scale", False))
            names += [
                ParamName(f"{hf}.{j}.DenseReluDense.{w}.weight", f"{t5x}/mlp/{w}/kernel", True) for w in [*mlp, "wo"]
            ]
        names.append(ParamName(f"{stack}.final_layer_norm.weight", f"{stack}/{stack}_norm/scale", False))
    if not config.logits_via_embedding:
        names.append(ParamName("lm_head.weight", "decoder/logits_dense/kernel", True))
    return names


def param_shapes(config: network.T5Config) -> dict[str, tuple[int, ...]]:
    """The engine's param shapes for `config`, by `/`-joined T5X name.

    Computed abstractly from the scanned network (one layer traced per stack, fast even for XXL).
    """
    module = network.Transformer(dataclasses.replace(config, scan_layers=True))
    tokens = jnp.ones((1, 1), jnp.int32)
    boxed = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), tokens, tokens, tokens, enable_dropout=False))
    counts = {"encoder": config.num_encoder_layers, "decoder": config.num_decoder_layers}
    per_layer = scanned_to_layers(nn.unbox(boxed["params"]), counts)
    flat = jax.tree_util.tree_flatten_with_path(per_layer)[0]
    return {"/".join(key.key for key in path): tuple(leaf.shape) for path, leaf in flat}


def config_from_hf(hf: Mapping[str, Any], where: str) -> network.T5Config:
    """The engine config of a Hugging Face T5 / FlanT5 / mT5 `config.json` (read into `hf`)."""

    def field(name: str, default: Any = None) -> Any:
        if name not in hf and default is None:
            raise ValueError(f"{where}: no `{name}`; is this a T5 config?")
        return hf.get(name, default)

    if field("model_type") not in ("t5", "mt5"):
        raise ValueError(f"{where}: model_type {hf['model_type']!r}; only T5 / FlanT5 / mT5 convert")
    expected = {
        "relative_attention_num_buckets": RELPOS_BUCKETS,
        "relative_attention_max_distance": RELPOS_MAX_DISTANCE,
        "layer_norm_epsilon": 1e-6,
    }
    for name, value in expected.items():
        if field(name, value) != value:
            raise ValueError(f"{where}: {name} = {hf[name]}; the T5X network has {value}")
    proj = field("feed_forward_proj", "relu")
    if proj not in ACTIVATIONS:
        raise ValueError(f"{where}: feed_forward_proj {proj!r} is not one of {sorted(ACTIVATIONS)}")
    return network.T5Config(
        vocab_size=field("vocab_size"),
        emb_dim=field("d_model"),
        num_heads=field("num_heads"),
        num_encoder_layers=field("num_layers"),
        num_decoder_layers=hf.get("num_decoder_layers") or field("num_layers"),
        head_dim=field("d_kv"),
        mlp_dim=field("d_ff"),
        mlp_activations=ACTIVATIONS[proj],
        # transformers' default when the key is absent is tied (and scaled) output embeddings.
        logits_via_embedding=bool(hf.get("tie_word_embeddings", True)),
    )


def hf_config(config: network.T5Config) -> dict[str, Any]:
    """A `config.json` that transformers' T5ForConditionalGeneration loads as this model.

    `tie_word_embeddings: false` is what makes transformers (4 and 5) keep the separate
    `lm_head` of T5 v1.1 / FlanT5 and skip the d_model**-0.5 output scaling of tied T5 1.0.
    """
    proj = {v: k for k, v in ACTIVATIONS.items()}[tuple(config.mlp_activations)]
    return {
        "architectures": ["T5ForConditionalGeneration"],
        "model_type": "t5",
        "vocab_size": config.vocab_size,
        "d_model": config.emb_dim,
        "d_kv": config.head_dim,
        "d_ff": config.mlp_dim,
        "num_layers": config.num_encoder_layers,
        "num_decoder_layers": config.num_decoder_layers,
        "num_heads": config.num_heads,
        "relative_attention_num_buckets": RELPOS_BUCKETS,
        "relative_attention_max_distance": RELPOS_MAX_DISTANCE,
        "feed_forward_proj": proj,
        "tie_word_embeddings": config.logits_via_embedding,
        "dropout_rate": 0.1,
        "layer_norm_epsilon": 1e-6,
        "initializer_factor": 1.0,
        "is_encoder_decoder": True,
        "use_cache": True,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
    }


def config_from_params(shapes: Mapping[str, tuple[int, ...]], where: str) -> network.T5Config:
    """The engine config of a T5X checkpoint, from its param names and shapes.

    The activations are not stored: two input kernels (`wi_0`, `wi_1`) are taken as T5 v1.1's
    gated GELU, one (`wi`) as T5 1.0's ReLU.
    """
    try:
        vocab_size, emb_dim = shapes["token_embedder/embedding"]
        num_heads, buckets = shapes["encoder/relpos_bias/rel_embedding"]
        gated = "encoder/layers_0/mlp/wi_0/kernel" in shapes
        mlp_dim = shapes[f"encoder/layers_0/mlp/{'wi_0' if gated else 'wi'}/kernel"][1]
        head_dim = shapes["encoder/layers_0/attention/query/kernel"][1] // num_heads
    except KeyError as error:
        raise ValueError(f"{where} is not a T5 encoder-decoder checkpoint: it has no param {error}") from error
    if buckets != RELPOS_BUCKETS:
        raise ValueError(f"{where}: {buckets} relative position buckets; the T5X network has {RELPOS_BUCKETS}")

    def layers(stack: str) -> int:
        return len({m.group(1) for name in shapes if (m := re.match(rf"{stack}/layers_(\d+)/", name))})

    return network.T5Config(
        vocab_size=vocab_size,
        emb_dim=emb_dim,
        num_heads=num_heads,
        num_encoder_layers=layers("encoder"),
        num_decoder_layers=layers("decoder"),
        head_dim=head_dim,
        mlp_dim=mlp_dim,
        mlp_activations=ACTIVATIONS["gated-gelu" if gated else "relu"],
        logits_via_embedding="decoder/logits_dense/kernel" not in shapes,
    )


def gin_lines(config: network.T5Config) -> str:
    """Gin bindings giving a model gin (e.g. gin/models/t5_1_1/base.gin) these sizes."""
    bindings = "".join(f"  {name} = {getattr(config, name)!r}\n" for name in GIN_FIELDS)
    return (
        f"from __gin__ import dynamic_registration\nfrom distill.engine import network\n\nnetwork.T5Config:\n{bindings}"
    )
