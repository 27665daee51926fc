"""Checkpoint interoperability: Hugging Face T5 <-> engine parity, exact round trips, T5X formats, memory.

A randomly initialised transformers T5ForConditionalGeneration (T5 v1.1: gated GELU, untied
head, 32 buckets up to distance 128) is the reference: converted to our checkpoint it must
give the same encoder outputs, logits and greedy decodes in the engine, and converting back
must reproduce its tensors bit for bit. T5X's own formats are written here as T5X writes them
(flax msgpack + tensorstore zarr; orbax OCDBT) and read unconverted, as is T5X's tiny test
checkpoint from the shared data directory when present.
"""

from __future__ import annotations

import copy
import dataclasses
import filecmp
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import flax.serialization
import gin
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import orbax.checkpoint as ocp
import pytest
import tensorstore as ts

from bench import hf_peer
from distill.convert import cli, hf_files, names
from distill.engine import checkpoints, decoding, inference, models, network, partitioning
from distill.engine.layout import scanned_to_layers
from tests.support import REPO_ROOT

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from safetensors import safe_open  # noqa: E402 - after the skip: safetensors comes with the [hf] extra.

CONFIG = network.T5Config(
    vocab_size=96,
    dtype="float32",
    emb_dim=32,
    num_heads=4,
    head_dim=8,
    num_encoder_layers=3,
    num_decoder_layers=2,
    mlp_dim=48,
    dropout_rate=0.0,
)
TINY_T5X = os.path.join(os.environ["COT_DATA_DIR"], "t5x", "test_t5_tiny.checkpoint_0")


def engine(config: network.T5Config, num_partitions: int = 1):
    """The engine model for `config` and its abstract (sharded) params."""
    model = models.EncoderDecoderModel(network.Transformer(config))
    partitioner = partitioning.PjitPartitioner(num_partitions=num_partitions, devices=jax.devices()[:num_partitions])
    return model, inference.abstract_params(model, partitioner)


def hf_tensors(directory: str) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors model directory, read by the safetensors library."""
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".safetensors"):
            with safe_open(os.path.join(directory, name), "pt") as f:
                out.update({key: f.get_tensor(key) for key in f.keys()})  # noqa: SIM118 - safe_open is no dict
    return out


def assert_same_tensors(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for name, tensor in expected.items():
        assert actual[name].dtype == tensor.dtype and torch.equal(actual[name], tensor), name


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory):
    """A random T5 v1.1 model, every weight (layer norms included) drawn afresh, saved as safetensors."""
    torch.manual_seed(0)
    model = transformers.T5ForConditionalGeneration(hf_peer.hf_config(CONFIG, dropout_rate=0.0))
    hf_peer.untie_logits(model)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "layer_norm" in name:
                param.copy_(1.0 + 0.2 * torch.randn_like(param))
            elif "relative_attention_bias" in name:
                param.copy_(torch.randn_like(param))
            else:
                param.copy_(torch.randn_like(param) / param.shape[-1] ** 0.5)
    model.eval()
    directory = str(tmp_path_factory.mktemp("hf") / "model")
    model.save_pretrained(directory)
    return model, directory


@pytest.fixture(scope="module")
def converted(hf_model, tmp_path_factory):
    """The HF model converted to our checkpoint, and loaded into the engine (scanned layers: fast compiles)."""
    dst = str(tmp_path_factory.mktemp("t5x"))
    checkpoint_dir = cli.hf_to_t5x(hf_model[1], dst, step=5)
    model, abstract = engine(dataclasses.replace(CONFIG, scan_layers=True))
    params, step = checkpoints.load_params(dst, abstract, model.layer_counts)
    assert step == 5 and checkpoint_dir == os.path.join(dst, "checkpoint_5")
    return dst, model, params


def padded_batch(rng: np.random.RandomState, lengths: list[int], width: int, vocab: int) -> np.ndarray:
    tokens = rng.randint(2, vocab, (len(lengths), width))
    for row, length in enumerate(lengths):
        tokens[row, length:] = 0
    return tokens


def rel_err(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def engine_vs_hf(model, params, hf, enc: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """Relative errors of the engine's encoder outputs and logits against transformers', at valid positions."""
    dec_in = np.concatenate([np.zeros_like(targets[:, :1]), targets[:, :-1]], axis=1)
    batch = {"encoder_input_tokens": enc, "decoder_input_tokens": dec_in, "decoder_target_tokens": targets}
    batch = {k: jnp.asarray(v, jnp.int32) for k, v in batch.items()}
    encoded, logits = jax.jit(
        lambda p, b: (
            model.module.apply({"params": p}, b["encoder_input_tokens"], enable_dropout=False, method="encode"),
            model.compute_logits(p, b),
        )
    )(params, batch)
    with torch.no_grad():
        out = hf(
            input_ids=torch.as_tensor(enc),
            attention_mask=torch.as_tensor(enc > 0),
            decoder_input_ids=torch.as_tensor(dec_in),
            decoder_attention_mask=torch.as_tensor(targets > 0),
        )
    enc_valid, dec_valid = enc > 0, targets > 0
    return (
        rel_err(np.asarray(encoded)[enc_valid], out.encoder_last_hidden_state.numpy()[enc_valid]),
        rel_err(np.asarray(logits)[dec_valid], out.logits.numpy()[dec_valid]),
    )


def test_engine_matches_transformers_on_long_padded_inputs_and_greedy_decoding(hf_model, converted) -> None:
    """Relative positions past max_distance (160 > 128 tokens), padding, then 32 greedy tokens."""
    hf, _ = hf_model
    _, model, params = converted
    rng = np.random.RandomState(0)
    enc = padded_batch(rng, [160, 141, 57], 160, CONFIG.vocab_size)
    targets = padded_batch(rng, [150, 133, 20], 150, CONFIG.vocab_size)
    encoder_err, logits_err = engine_vs_hf(model, params, hf, enc, targets)
    print(f"float32 max relative error: encoder {encoder_err:.2e}, logits {logits_err:.2e}")
    assert encoder_err < 1e-4 and logits_err < 1e-4

    ours = model.decode_batch(
        params, {"encoder_input_tokens": jnp.asarray(enc)}, decode_params=decoding.DecodeParams(max_decode_length=32)
    ).tokens[:, 0]
    with torch.no_grad():
        theirs = hf.generate(
            input_ids=torch.as_tensor(enc),
            attention_mask=torch.as_tensor(enc > 0),
            max_new_tokens=32,
            do_sample=False,
            num_beams=1,
        ).numpy()[:, 1:]  # Drop the decoder start token.
    theirs = np.pad(theirs, ((0, 0), (0, 32 - theirs.shape[1])))  # Rows after EOS are 0 in both.
    assert (np.asarray(ours) > 1).sum() > 48  # Mostly real tokens, not an early EOS everywhere.
    np.testing.assert_array_equal(np.asarray(ours), theirs)


def test_written_gin_gives_the_model_sizes(converted) -> None:
    gin.clear_config()
    try:
        gin.parse_config_file(os.path.join(converted[0], "model.gin"))
        bindings = gin.get_bindings(network.T5Config)
    finally:
        gin.clear_config()
    assert network.T5Config(dtype="float32", dropout_rate=0.0, **bindings) == CONFIG


@pytest.mark.parametrize("form", ["safetensors", "sharded", "bin", "bfloat16"])
def test_hf_to_t5x_to_hf_is_bitwise_exact(hf_model, tmp_path, form: str) -> None:
    """Every input form back to identical tensors; the sharded output loads in transformers, head untied."""
    hf, directory = hf_model
    src = str(tmp_path / "src")
    if form == "sharded":
        hf.save_pretrained(src, max_shard_size="40KB")
        assert os.path.isfile(os.path.join(src, "model.safetensors.index.json"))
    elif form == "bin":
        os.makedirs(src)
        torch.save(hf.state_dict(), os.path.join(src, "pytorch_model.bin"))  # embed_tokens copies included
        hf.config.save_pretrained(src)
    elif form == "bfloat16":
        copy.deepcopy(hf).to(torch.bfloat16).save_pretrained(src)
    else:
        src = directory
    cli.hf_to_t5x(src, str(tmp_path / "t5x"))
    files = cli.t5x_to_hf(str(tmp_path / "t5x"), str(tmp_path / "back"), max_shard_bytes=30_000)
    assert len(files) > 1 and os.path.isfile(tmp_path / "back" / "model.safetensors.index.json")
    expected = {k: v.to(torch.bfloat16) if form == "bfloat16" else v for k, v in hf_tensors(directory).items()}
    assert_same_tensors(hf_tensors(str(tmp_path / "back")), expected)
    if form == "sharded":
        loaded = transformers.T5ForConditionalGeneration.from_pretrained(str(tmp_path / "back"))
        assert loaded.lm_head.weight.data_ptr() != loaded.shared.weight.data_ptr()
        assert not loaded.config.scale_decoder_outputs
        assert_same_tensors(loaded.state_dict(), hf.state_dict())


def test_t5_1_0_relu_and_tied_embeddings_convert_and_match(tmp_path) -> None:
    """T5 1.0: one ReLU input kernel (`wi`) and logits from the embedding, scaled by d_model**-0.5 on both sides."""
    torch.manual_seed(1)
    hf_config = transformers.T5Config(
        vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2, feed_forward_proj="relu",
        tie_word_embeddings=True, dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )  # fmt: skip
    hf = transformers.T5ForConditionalGeneration(hf_config).eval()
    hf.save_pretrained(str(tmp_path / "hf"))
    cli.hf_to_t5x(str(tmp_path / "hf"), str(tmp_path / "t5x"))
    config = dataclasses.replace(
        CONFIG, vocab_size=64, emb_dim=16, num_heads=2, num_encoder_layers=2, mlp_dim=32, mlp_activations=("relu",),
        logits_via_embedding=True, scan_layers=True,
    )  # fmt: skip
    model, abstract = engine(config)
    params, _ = checkpoints.load_params(str(tmp_path / "t5x"), abstract, model.layer_counts)
    rng = np.random.RandomState(2)
    enc, targets = padded_batch(rng, [20, 13], 20, 64), padded_batch(rng, [9, 4], 9, 64)
    assert max(engine_vs_hf(model, params, hf, enc, targets)) < 1e-4
    cli.t5x_to_hf(str(tmp_path / "t5x"), str(tmp_path / "back"))
    assert_same_tensors(hf_tensors(str(tmp_path / "back")), hf_tensors(str(tmp_path / "hf")))


def write_t5x_legacy(
    directory: str, params: dict[str, np.ndarray], step: int, inline: set[str], bfloat16: str | None = None
) -> None:
    """A T5X legacy checkpoint as `t5x.checkpoints.Checkpointer` writes it (see `distill.engine.t5x_legacy`).

    Params not in `inline` go to gzip zarr arrays named `target.<path with dots>` (`bfloat16` as
    bfloat16; every other spec in the form T5X writes on GCS, with its dummy bucket); the
    optimizer state, which the reader skips, holds both kinds.
    """
    target, param_states = {}, {}
    for i, (name, array) in enumerate(sorted(params.items())):
        keys = name.split("/")
        node = target
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if name in inline:
            node[keys[-1]] = array
            continue
        relative = "target." + ".".join(keys)
        stored = array.astype(ml_dtypes.bfloat16) if name == bfloat16 else array
        spec = {
            "driver": "zarr",
            "dtype": stored.dtype.name,
            "kvstore": {"driver": "file", "path": relative},
            "metadata": {"shape": list(array.shape), "chunks": [max(1, array.shape[0] // 2), *array.shape[1:]]},
        }
        spec["metadata"]["compressor"] = {"id": "gzip"}
        store = ts.open({**spec, "kvstore": {"driver": "file", "path": os.path.join(directory, relative)}}, create=True)
        store.result().write(stored).result()
        if i % 2:
            spec["kvstore"] = {"driver": "gcs", "bucket": "t5x-dummy-bucket", "path": relative}
        node[keys[-1]] = spec
        param_states[name.replace("/", ".")] = {"v_row": np.ones((1,), np.float32), "v": dict(spec)}
    tree = {
        "version": 3,
        "optimizer": {"target": target, "state": {"step": np.int32(step), "param_states": param_states}},
    }
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "checkpoint"), "wb") as f:
        f.write(flax.serialization.msgpack_serialize(tree))


@pytest.fixture(scope="module")
def engine_params(converted) -> dict[str, np.ndarray]:
    """The converted model's params by `/`-joined T5X name."""
    return {name: param.read() for name, param in checkpoints.open_params(converted[0]).items()}


def test_t5x_legacy_checkpoints_load_sharded_and_convert(engine_params, hf_model, tmp_path, monkeypatch) -> None:
    # flax splits inline arrays over MAX_CHUNK_SIZE into `__msgpack_chunked_array__` dicts.
    monkeypatch.setattr(flax.serialization, "MAX_CHUNK_SIZE", 256)
    inline = {name for name in engine_params if "layer_norm" in name or name.endswith("rel_embedding")}
    ckpt = str(tmp_path / "model" / "checkpoint_1000")
    embedding = "token_embedder/embedding"  # Stored as bfloat16, restored as float32.
    write_t5x_legacy(ckpt, engine_params, 1000, inline, bfloat16=embedding)

    model, abstract = engine(dataclasses.replace(CONFIG, scan_layers=True), num_partitions=2)
    params, step = checkpoints.load_params(str(tmp_path / "model"), abstract, model.layer_counts)
    assert step == 1000
    kernel = params["encoder"]["layers"]["mlp"]["wi_0"]["kernel"]
    assert kernel.sharding == abstract["encoder"]["layers"]["mlp"]["wi_0"]["kernel"].sharding
    assert len(kernel.sharding.device_set) == 2 and kernel.dtype == jnp.float32
    np.testing.assert_array_equal(kernel[1], engine_params["encoder/layers_1/mlp/wi_0/kernel"])
    np.testing.assert_array_equal(
        params["token_embedder"]["embedding"], engine_params[embedding].astype(ml_dtypes.bfloat16).astype(np.float32)
    )

    exact = str(tmp_path / "exact")
    write_t5x_legacy(exact, engine_params, 7, inline)
    cli.t5x_to_hf(exact, str(tmp_path / "hf"))
    assert_same_tensors(hf_tensors(str(tmp_path / "hf")), hf_tensors(hf_model[1]))

    smaller, abstract = engine(dataclasses.replace(CONFIG, mlp_dim=64))
    with pytest.raises(
        ValueError, match=r"decoder/layers_0/mlp/wi_0/kernel is \(32, 48\) in the checkpoint, \(32, 64\) in the model"
    ):
        checkpoints.load_params(ckpt, abstract, smaller.layer_counts)
    tied, abstract = engine(dataclasses.replace(CONFIG, logits_via_embedding=True))
    with pytest.raises(ValueError, match="params the model does not have: decoder/logits_dense/kernel"):
        checkpoints.load_params(ckpt, abstract, tied.layer_counts)


def test_t5x_orbax_checkpoints_load_and_convert(engine_params, hf_model, tmp_path) -> None:
    """T5X's current writer: an orbax manager, item `state`, OCDBT, `{'target', 'state': {'step', 'param_states'}}`."""
    target = flax.traverse_util.unflatten_dict(engine_params, sep="/")
    tree = {"target": target, "state": {"step": np.int32(1138000), "param_states": {"note": np.zeros(3)}}}
    handler = ocp.PyTreeCheckpointHandler(use_ocdbt=True)
    options = ocp.CheckpointManagerOptions(step_prefix="checkpoint", create=True)
    with ocp.CheckpointManager(str(tmp_path), options=options, item_handlers={"state": handler}) as manager:
        manager.save(1138000, args=ocp.args.Composite(state=ocp.args.PyTreeSave(tree)))
    assert os.path.isfile(tmp_path / "checkpoint_1138000" / "state" / "manifest.ocdbt")

    model, abstract = engine(CONFIG)
    params, step = checkpoints.load_params(str(tmp_path / "checkpoint_1138000"), abstract, model.layer_counts)
    assert step == 1138000
    for name, value in flax.traverse_util.flatten_dict(params, sep="/").items():
        np.testing.assert_array_equal(value, engine_params[name])
    cli.t5x_to_hf(str(tmp_path), str(tmp_path / "hf"))
    assert_same_tensors(hf_tensors(str(tmp_path / "hf")), hf_tensors(hf_model[1]))


@pytest.mark.skipif(not os.path.isfile(TINY_T5X), reason="T5X's tiny test checkpoint is not in COT_DATA_DIR")
def test_t5x_tiny_checkpoint_loads_and_converts_to_an_equal_transformers_model(tmp_path) -> None:
    """google-research/t5x's single-file msgpack: loaded unconverted; its HF conversion gives the same logits."""
    config = network.T5Config(
        dtype="float32",
        emb_dim=8,
        num_heads=4,
        head_dim=3,
        mlp_dim=16,
        num_encoder_layers=2,
        num_decoder_layers=2,
        scan_layers=True,
    )
    model, abstract = engine(config)
    params, step = checkpoints.load_params(TINY_T5X, abstract, model.layer_counts)
    with open(TINY_T5X, "rb") as f:
        expected = flax.serialization.msgpack_restore(f.read())["optimizer"]["target"]
    assert step == 0
    flat = flax.traverse_util.flatten_dict(scanned_to_layers(params, model.layer_counts), sep="/")
    assert flat.keys() == flax.traverse_util.flatten_dict(expected, sep="/").keys()
    for name, value in flax.traverse_util.flatten_dict(expected, sep="/").items():
        np.testing.assert_array_equal(flat[name], value)

    cli.t5x_to_hf(TINY_T5X, str(tmp_path))
    hf = transformers.T5ForConditionalGeneration.from_pretrained(str(tmp_path)).eval()
    rng = np.random.RandomState(1)
    enc = padded_batch(rng, [140, 90], 140, config.vocab_size)
    targets = padded_batch(rng, [30, 12], 30, config.vocab_size)
    encoder_err, logits_err = engine_vs_hf(model, params, hf, enc, targets)
    assert encoder_err < 1e-4 and logits_err < 1e-4


def test_bad_hugging_face_inputs_are_named(hf_model, tmp_path) -> None:
    hf, directory = hf_model
    config = json.loads((Path(directory) / "config.json").read_text())
    (tmp_path / "gelu").mkdir()
    os.symlink(os.path.join(directory, "model.safetensors"), tmp_path / "gelu" / "model.safetensors")
    (tmp_path / "gelu" / "config.json").write_text(json.dumps({**config, "feed_forward_proj": "gelu"}))
    with pytest.raises(ValueError, match=r"config\.json: feed_forward_proj 'gelu'"):
        cli.hf_to_t5x(str(tmp_path / "gelu"), str(tmp_path / "out"))
    state = {k: v for k, v in hf.state_dict().items() if k != "decoder.block.1.layer.2.DenseReluDense.wo.weight"}
    transformers.T5ForConditionalGeneration.save_pretrained(hf, str(tmp_path / "partial"), state_dict=state)
    with pytest.raises(ValueError, match=r"missing tensors \['decoder.block.1.layer.2.DenseReluDense.wo.weight'\]"):
        cli.hf_to_t5x(str(tmp_path / "partial"), str(tmp_path / "out"))
    cli.hf_to_t5x(directory, str(tmp_path / "twice"))
    with pytest.raises(FileExistsError, match="checkpoint_0 already exists"):
        cli.hf_to_t5x(directory, str(tmp_path / "twice"))


# A T5 v1.1 "large" with 32 + 32 layers: 1.02B params, 2.0 GB in bfloat16.
BIG = dataclasses.replace(CONFIG, vocab_size=32128, emb_dim=1024, num_heads=16, head_dim=64, mlp_dim=2816,
                          num_encoder_layers=32, num_decoder_layers=32)  # fmt: skip
MEASURE = textwrap.dedent(
    """
    import json, sys
    from distill.convert import cli

    def status(field):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))

    growth = {}
    for command, src, dst in (("hf_to_t5x", *sys.argv[1:3]), ("t5x_to_hf", *sys.argv[2:4])):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # Reset the peak resident set size: measure this conversion only.
        base = status("VmRSS")
        getattr(cli, command)(src, dst)
        growth[command] = status("VmHWM") - base
    print(json.dumps(growth))
    """
)


@pytest.mark.e2e
def test_converting_a_1b_model_holds_about_one_tensor(tmp_path) -> None:
    """Peak RSS growth converting 2 GB of weights, each way, stays under 4x the largest tensor (66 MB).

    A conversion holds a tensor, its transpose and tensorstore's buffer; the checkpoint is 30x
    that. The input is written tensor by tensor too (a repeating ramp, so that misplaced or
    untransposed data shows), and the round trip must give the input file back byte for byte.
    """
    src, t5x, back = tmp_path / "hf", tmp_path / "t5x", tmp_path / "back"
    src.mkdir()
    (src / "config.json").write_text(json.dumps(names.hf_config(BIG)))
    shapes = names.param_shapes(BIG)
    infos = [
        (p.hf, hf_files.TensorInfo(shapes[p.t5x][:: -1 if p.transpose else 1], np.dtype(ml_dtypes.bfloat16)))
        for p in names.param_map(BIG)
    ]
    sizes = dict(infos)
    largest = max(info.nbytes for _, info in infos)
    values = (np.arange(largest // 2, dtype=np.int32) % 251).astype(ml_dtypes.bfloat16)
    hf_files.write_safetensors(
        str(src), infos, lambda name: values[: int(np.prod(sizes[name].shape))].reshape(sizes[name].shape), 2**40
    )
    total = sum(info.nbytes for _, info in infos)
    assert total > 2e9 and sum(int(np.prod(i.shape)) for _, i in infos) > 1e9

    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(src), str(t5x), str(back)],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    growth = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"{total / 1e9:.2f} GB, largest tensor {largest / 1e6:.0f} MB; peak RSS growth (MB):", end=" ")
    print({command: round(nbytes / 1e6) for command, nbytes in growth.items()})
    assert max(growth.values()) < 4 * largest
    assert filecmp.cmp(src / "model.safetensors", back / "model.safetensors", shallow=False)
