"""The network matches T5X's parameter tree (names, shapes, logical axes) and numerics rules."""

from __future__ import annotations

import dataclasses
import os

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distill.engine import layers, network
from distill.engine.layout import layers_to_scanned, scanned_to_layers
from tests.support.micro import MICRO, random_batch


def t5x_param_shapes(cfg: network.T5Config) -> dict[str, tuple[int, ...]]:
    """The tree T5X's examples/t5/network.py creates, written out from its documented layout."""
    d, joined, f, v, h = cfg.emb_dim, cfg.num_heads * cfg.head_dim, cfg.mlp_dim, cfg.vocab_size, cfg.num_heads
    wis = ["wi"] if len(cfg.mlp_activations) == 1 else [f"wi_{i}" for i in range(len(cfg.mlp_activations))]

    def attention(prefix: str) -> dict:
        return {
            f"{prefix}/query/kernel": (d, joined),
            f"{prefix}/key/kernel": (d, joined),
            f"{prefix}/value/kernel": (d, joined),
            f"{prefix}/out/kernel": (joined, d),
        }

    def mlp(prefix: str) -> dict:
        return {**{f"{prefix}/mlp/{w}/kernel": (d, f) for w in wis}, f"{prefix}/mlp/wo/kernel": (f, d)}

    shapes = {
        "token_embedder/embedding": (v, d),
        "encoder/relpos_bias/rel_embedding": (h, 32),
        "encoder/encoder_norm/scale": (d,),
        "decoder/relpos_bias/rel_embedding": (h, 32),
        "decoder/decoder_norm/scale": (d,),
    }
    if not cfg.logits_via_embedding:
        shapes["decoder/logits_dense/kernel"] = (d, v)
    for i in range(cfg.num_encoder_layers):
        p = f"encoder/layers_{i}"
        shapes |= attention(f"{p}/attention") | mlp(p)
        shapes |= {f"{p}/pre_attention_layer_norm/scale": (d,), f"{p}/pre_mlp_layer_norm/scale": (d,)}
    for i in range(cfg.num_decoder_layers):
        p = f"decoder/layers_{i}"
        shapes |= attention(f"{p}/self_attention") | attention(f"{p}/encoder_decoder_attention") | mlp(p)
        for norm in ("pre_self_attention_layer_norm", "pre_cross_attention_layer_norm", "pre_mlp_layer_norm"):
            shapes[f"{p}/{norm}/scale"] = (d,)
    return shapes


def flat(tree: dict) -> dict[str, object]:
    return {
        "/".join(str(k.key) for k in path): leaf
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: isinstance(x, nn.Partitioned))[0]
    }


def abstract_params(cfg: network.T5Config) -> dict:
    tokens = jnp.ones((1, 4), jnp.int32)
    return jax.eval_shape(
        lambda: network.Transformer(cfg).init(jax.random.PRNGKey(0), tokens, tokens, tokens, enable_dropout=False)
    )["params"]


T5X_TINY = network.T5Config(emb_dim=8, num_heads=4, head_dim=3, num_encoder_layers=2, num_decoder_layers=2, mlp_dim=16)
CONFIGS = {
    "t5_1_1_small": network.T5Config(
        emb_dim=512, num_heads=6, num_encoder_layers=8, num_decoder_layers=8, mlp_dim=1024
    ),
    "t5_1_1_xl": network.T5Config(
        emb_dim=2048, num_heads=32, num_encoder_layers=24, num_decoder_layers=24, mlp_dim=5120
    ),
    "byt5_small": network.T5Config(
        vocab_size=384, emb_dim=1472, num_heads=6, num_encoder_layers=12, num_decoder_layers=4, mlp_dim=3584
    ),
    "t5x_tiny": T5X_TINY,
    "t5_1_0_style": dataclasses.replace(T5X_TINY, mlp_activations=("relu",), logits_via_embedding=True),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_param_tree_matches_t5x(name: str) -> None:
    cfg = CONFIGS[name]
    ours = {k: tuple(v.value.shape) for k, v in flat(abstract_params(cfg)).items()}
    assert ours == t5x_param_shapes(cfg)


@pytest.mark.parametrize("name", ["t5_1_1_small", "t5x_tiny"])
def test_scanned_tree_converts_to_t5x_names(name: str) -> None:
    cfg = dataclasses.replace(CONFIGS[name], scan_layers=True)
    boxed = abstract_params(cfg)
    assert "layers" in boxed["encoder"] and "layers_0" not in boxed["encoder"]
    counts = {"encoder": cfg.num_encoder_layers, "decoder": cfg.num_decoder_layers}
    per_layer = scanned_to_layers(nn.unbox(boxed), counts)
    assert {k: tuple(v.shape) for k, v in flat(per_layer).items()} == t5x_param_shapes(cfg)


LOGICAL_AXES = {
    "token_embedder/embedding": ("vocab", "embed"),
    "encoder/relpos_bias/rel_embedding": ("heads", "relpos_buckets"),
    "encoder/layers_0/attention/query/kernel": ("embed", "joined_kv"),
    "encoder/layers_0/attention/out/kernel": ("joined_kv", "embed"),
    "encoder/layers_0/mlp/wi_0/kernel": ("embed", "mlp"),
    "encoder/layers_0/mlp/wo/kernel": ("mlp", "embed"),
    "encoder/layers_0/pre_mlp_layer_norm/scale": ("embed",),
    "decoder/layers_1/encoder_decoder_attention/value/kernel": ("embed", "joined_kv"),
    "decoder/logits_dense/kernel": ("embed", "vocab"),
}


def test_logical_axes_are_t5x_names() -> None:
    specs = flat(nn.get_partition_spec(abstract_params(T5X_TINY)))
    assert {k: tuple(specs[k]) for k in LOGICAL_AXES} == LOGICAL_AXES
    scanned = flat(nn.get_partition_spec(abstract_params(dataclasses.replace(T5X_TINY, scan_layers=True))))
    assert tuple(scanned["encoder/layers/attention/query/kernel"]) == ("layers", "embed", "joined_kv")


@pytest.mark.parametrize(
    ("relative", "bidirectional", "bucket"),
    [
        (0, True, 0),
        (-1, True, 1),  # key one before the query
        (1, True, 17),  # key after the query: second half of the buckets
        (-7, True, 7),
        (-8, True, 8),
        (-20, True, 10),  # 8 + floor(log(20/8) / log(128/8) * 8)
        (-500, True, 15),
        (500, True, 31),
        (0, False, 0),
        (-15, False, 15),
        (-16, False, 16),
        (-40, False, 23),  # 16 + floor(log(40/16) / log(128/16) * 16)
        (-1000, False, 31),
        (5, False, 0),  # future keys share bucket 0 in the causal decoder
    ],
)
def test_relative_position_buckets(relative: int, bidirectional: bool, bucket: int) -> None:
    got = layers.relative_position_bucket(np.array([relative], np.int32), bidirectional, 32, 128)
    assert int(got[0]) == bucket


def test_scanned_and_unscanned_networks_compute_the_same_function() -> None:
    batch = random_batch()
    args = (batch["encoder_input_tokens"], batch["decoder_input_tokens"], batch["decoder_target_tokens"])
    plain = network.Transformer(MICRO)
    params = nn.unbox(plain.init(jax.random.PRNGKey(0), *args, enable_dropout=False))["params"]
    scanned_cfg = dataclasses.replace(MICRO, scan_layers=True)
    scanned = network.Transformer(scanned_cfg)
    target = nn.unbox(jax.eval_shape(lambda: scanned.init(jax.random.PRNGKey(0), *args, enable_dropout=False)))
    scanned_params = layers_to_scanned(params, target["params"], {"encoder": 2, "decoder": 2})
    expected = plain.apply({"params": params}, *args, enable_dropout=False)
    got = scanned.apply({"params": scanned_params}, *args, enable_dropout=False)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def _scanned_loss_and_grads(cfg: network.T5Config, batch: dict) -> tuple[jax.Array, dict]:
    """Loss and gradients of a scanned network with dropout on (fixed dropout rng)."""
    module = network.Transformer(cfg)
    args = (batch["encoder_input_tokens"], batch["decoder_input_tokens"], batch["decoder_target_tokens"])
    params = module.init(jax.random.PRNGKey(0), *args, enable_dropout=False)["params"]

    def loss(params):
        logits = module.apply({"params": params}, *args, rngs={"dropout": jax.random.PRNGKey(1)})
        return jnp.mean(jax.nn.logsumexp(logits, axis=-1))

    return jax.value_and_grad(loss)(params)


def test_scan_unroll_computes_the_same_function() -> None:
    """`scan_unroll` only changes how many layers one loop trip runs: same loss, grads and dropout."""
    batch = random_batch()
    cfg = dataclasses.replace(MICRO, scan_layers=True, dropout_rate=0.3)
    loss_and_grads = jax.jit(_scanned_loss_and_grads, static_argnums=0)
    loss, grads = loss_and_grads(cfg, batch)
    unrolled_loss, unrolled_grads = loss_and_grads(dataclasses.replace(cfg, scan_unroll=2), batch)
    np.testing.assert_allclose(unrolled_loss, loss, rtol=1e-6)
    for got, expected in zip(jax.tree_util.tree_leaves(unrolled_grads), jax.tree_util.tree_leaves(grads), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="scan_unroll"):
        network.T5Config(scan_unroll=0)


def _scan_carries(jaxpr: jax.extend.core.Jaxpr) -> list[tuple[tuple[int, ...], jnp.dtype]]:
    """(shape, dtype) of the loop-carried operands of every `scan` in `jaxpr`, nested jaxprs included."""
    carries = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "scan":
            first = eqn.params["num_consts"]
            carried = eqn.invars[first : first + eqn.params["num_carry"]]
            carries += [(tuple(v.aval.shape), v.aval.dtype) for v in carried]
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            carries += _scan_carries(sub)
    return carries


def test_backward_layer_loop_carries_no_batch_by_heads_gradient() -> None:
    """The relative-position gradient summed across the scanned layers is [1, h, q, k], in float32.

    Each layer builds its additive attention bias from the [b, 1, q, k] mask and the
    [1, h, q, k] relative-position bias, as T5X does. Passing the layers one precombined
    [b, h, q, k] bias instead makes the backward loop carry (read and write, every layer) a
    float gradient of that size: 0.5 GB at XL, batch 16, 512 tokens.
    """
    batch = random_batch()
    cfg = dataclasses.replace(MICRO, scan_layers=True, dtype="bfloat16")
    jaxpr = jax.make_jaxpr(lambda b: _scanned_loss_and_grads(cfg, b))(batch).jaxpr
    carries = _scan_carries(jaxpr)
    b, h, length = batch["encoder_input_tokens"].shape[0], cfg.num_heads, batch["encoder_input_tokens"].shape[1]
    # The encoder's relative-position gradient, summed in float32 though the layers compute in bfloat16.
    assert ((1, h, length, length), jnp.float32) in carries
    assert not [s for s, _ in carries if len(s) == 4 and s[:2] == (b, h)], carries


def test_fused_attention_remat_policy_saves_the_cudnn_forward() -> None:
    """`dots_with_no_batch_dims_and_attention` keeps jax's cuDNN attention forward outputs (so the
    backward pass does not rerun it) and otherwise saves exactly the batch-free dots."""
    from jax._src.cudnn import fused_attention_stablehlo as cudnn

    policy = network.REMAT_POLICIES["dots_with_no_batch_dims_and_attention"]
    assert policy(cudnn._dot_product_attention_fwd_p_wrapper) and policy(cudnn._dot_product_attention_fwd_p)
    assert not policy(cudnn._dot_product_attention_bwd_p_wrapper)
    matmul = {"dimension_numbers": (((1,), (0,)), ((), ())), "precision": None, "preferred_element_type": None}
    batched = {**matmul, "dimension_numbers": (((2,), (1,)), ((0,), (0,)))}
    assert policy(jax.lax.dot_general_p, **matmul) and not policy(jax.lax.dot_general_p, **batched)
    assert not policy(jax.lax.exp_p)
    network.T5Config(remat_policy="dots_with_no_batch_dims_and_attention")  # A valid gin choice.


def test_bfloat16_activations_with_float32_params_and_logits() -> None:
    cfg = dataclasses.replace(MICRO, dtype="bfloat16")
    batch = random_batch()
    args = (batch["encoder_input_tokens"], batch["decoder_input_tokens"], batch["decoder_target_tokens"])
    module = network.Transformer(cfg)
    variables = module.init(jax.random.PRNGKey(0), *args, enable_dropout=False)
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(nn.unbox(variables))} == {jnp.dtype("float32")}
    encoded = module.apply(variables, batch["encoder_input_tokens"], enable_dropout=False, method=module.encode)
    assert encoded.dtype == jnp.bfloat16
    assert module.apply(variables, *args, enable_dropout=False).dtype == jnp.float32


def test_dropout_is_shared_along_the_length_axis() -> None:
    """T5X/MTF dropout draws one mask per (example, feature), broadcast over positions."""
    x = jnp.ones((2, 16, 32))
    out = layers.length_dropout(0.5, deterministic=False).apply({}, x, rngs={"dropout": jax.random.PRNGKey(0)})
    assert bool(jnp.all(out == out[:, :1, :]))
    assert 0 < float(jnp.mean(out == 0)) < 1


def test_padding_does_not_change_unpadded_outputs() -> None:
    batch = random_batch(batch_size=1, inputs=8, targets=5)
    module = network.Transformer(MICRO)
    args = (batch["encoder_input_tokens"], batch["decoder_input_tokens"], batch["decoder_target_tokens"])
    variables = module.init(jax.random.PRNGKey(0), *args, enable_dropout=False)
    padded = tuple(jnp.pad(a, ((0, 0), (0, 7))) for a in args)
    short = module.apply(variables, *args, enable_dropout=False)
    long = module.apply(variables, *padded, enable_dropout=False)
    valid = np.asarray(batch["decoder_target_tokens"][0] > 0)
    np.testing.assert_allclose(long[0, :5][valid], short[0][valid], rtol=1e-5, atol=1e-5)


T5X_TINY_CHECKPOINT = os.path.join(os.environ["COT_DATA_DIR"], "t5x", "test_t5_tiny.checkpoint_0")


@pytest.mark.skipif(not os.path.exists(T5X_TINY_CHECKPOINT), reason="T5X test checkpoint not in the data dir")
def test_t5x_tiny_checkpoint_loads_into_the_network() -> None:
    """T5X's own test checkpoint (google-research/t5x testdata) has exactly our tree and runs."""
    with open(T5X_TINY_CHECKPOINT, "rb") as f:
        target = flax.serialization.msgpack_restore(f.read())["optimizer"]["target"]
    t5x_shapes = {k: tuple(np.shape(v)) for k, v in flat(target).items()}
    assert t5x_shapes == t5x_param_shapes(T5X_TINY)
    cfg = dataclasses.replace(T5X_TINY, dtype="float32", dropout_rate=0.0)
    batch = random_batch(vocab=cfg.vocab_size)
    args = (batch["encoder_input_tokens"], batch["decoder_input_tokens"], batch["decoder_target_tokens"])
    params = jax.tree_util.tree_map(jnp.asarray, target)
    logits = network.Transformer(cfg).apply({"params": params}, *args, enable_dropout=False)
    assert logits.shape == (*batch["decoder_target_tokens"].shape, cfg.vocab_size)
    assert bool(jnp.all(jnp.isfinite(logits)))


def test_fused_attention_path_matches_t5x_attention() -> None:
    """`attention_impl="xla"` (jax.nn.dot_product_attention, the cuDNN path's reference) is T5X's function."""
    batch = random_batch()
    args = (batch["encoder_input_tokens"], batch["decoder_input_tokens"], batch["decoder_target_tokens"])
    plain = network.Transformer(MICRO)
    params = plain.init(jax.random.PRNGKey(0), *args, enable_dropout=False)
    fused = network.Transformer(dataclasses.replace(MICRO, attention_impl="xla"))
    np.testing.assert_allclose(
        fused.apply(params, *args, enable_dropout=False),
        plain.apply(params, *args, enable_dropout=False),
        rtol=1e-5,
        atol=1e-5,
    )
    with pytest.raises(ValueError, match="attention_impl"):
        network.T5Config(attention_impl="flash")
