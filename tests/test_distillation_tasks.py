"""Distillation tasks from a records directory: aligned teacher rows, packing, mixture rates, gin run.

The records directories are written here with `distill.contracts.distill_examples` (the contract with `distill.build`):
targets drawn from a few T5 tokens, teacher rows with transferred mass (partly filled rows, an
exact log-prob 0.0, id 0 with mass) and rows without mass, as the builder writes them.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import sys

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import seqio
import tensorflow as tf

import tasks  # registers the plain tasks (the name clash) and the lab's general suite (replay)
from distill.contracts import distill_examples
from distill.contracts.format_ids import DECODER_FORMAT_IDS, format_code
from distill.data import data_dir
from distill.engine import gin_utils, losses, models, network
from distill.engine.train import train
from tasks import distillation
from tasks.teacher_features import (
    DECODER_TEACHER_IDS,
    DECODER_TEACHER_LOGPROBS,
    TEACHER_IDS,
    TEACHER_LOGPROBS,
    DistillationFeatureConverter,
)
from tests.support import REPO_ROOT
from tests.support.micro import MICRO, input_shapes

K = 3
COUNTS = {"zs_cot": 14, "ic_cot": 9, "zs_ao": 5}
TOKENS = np.arange(3, 15)  # A few T5 ids: the micro student can learn the teacher over them.


def teacher_rows(length: int, rng: np.random.Generator, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    ids, logprobs = distill_examples.no_mass_rows(length, K)
    if fmt.endswith("ao"):
        return ids, logprobs
    for pos in range(length):
        kind = pos % 4
        if kind == 3:
            continue  # a position the alignment could not transfer
        ids[pos] = rng.choice(TOKENS, K, replace=False)
        probs = rng.dirichlet(np.ones(K)) * (0.9 if kind == 1 else 1.0)
        logprobs[pos] = np.log(probs)
        if kind == 2:
            ids[pos, 1:], logprobs[pos, 1:] = (0, 0), distill_examples.NO_MASS  # a one-hot row, log-prob exactly 0.0
            logprobs[pos, 0] = 0.0
        if pos == 1:
            ids[pos, 2] = 0  # id 0 carrying mass
    return ids, logprobs


def write_records(out: str, counts: dict[str, int], seed: int = 0, bad_row: bool = False) -> dict[str, dict]:
    """A records directory (2 shards per format); returns the examples by question id."""
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    formats, written = {}, {}
    for fmt, count in counts.items():
        files = [distill_examples.shard_name(fmt, i, 2) for i in range(2)]
        writers = [tf.io.TFRecordWriter(os.path.join(out, name)) for name in files]
        for i in range(count):
            length = int(rng.integers(1, 15))
            ids, logprobs = teacher_rows(length, rng, fmt)
            example = distill_examples.DistillExample(
                f"Q: {fmt} question {i} A:", "", rng.choice(TOKENS, length), ids, logprobs, fmt, f"{fmt}-{i}", i, "1"
            )
            if bad_row:  # past DistillExample's own check, as a buggy writer might
                example.teacher_ids, example.teacher_logprobs = ids[1:], logprobs[1:]
            writers[i % 2].write(distill_examples.serialize(example))
            written[example.question_id] = example
        for writer in writers:
            writer.close()
        formats[fmt] = {"examples": count, "files": files}
    distill_examples.write_manifest(
        out, {"top_k": K, "vocabulary": data_dir.t5_sentencepiece_model(), "formats": formats}
    )
    return written


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory) -> tuple[str, dict]:
    out = str(tmp_path_factory.mktemp("records"))
    return out, write_records(out, COUNTS)


def numpy_examples(name: str, lengths: dict[str, int]) -> list[dict]:
    ds = seqio.get_mixture_or_task(name).get_dataset(lengths, split="train", shuffle=False)
    return list(ds.as_numpy_iterator())


def test_task_examples_end_in_eos_with_a_no_mass_teacher_row(records_dir) -> None:
    path, written = records_dir
    assert distillation.register_distillation(path) == "distill"
    vocab = seqio.get_mixture_or_task("distill_zs_cot").output_features["inputs"].vocabulary
    for name, target_length in (("distill_zs_cot", 6), ("distill_zs_ao", 64)):
        examples = numpy_examples(name, {"inputs": 8, "targets": target_length})
        assert len(examples) == COUNTS[name.split("_", 1)[1]]
        for example in examples:
            source = written[example["question_id"].decode()]
            kept = min(len(source.targets), target_length - 1)
            np.testing.assert_array_equal(example["targets"], [*source.targets[:kept], 1])
            np.testing.assert_array_equal(example["inputs"], [*vocab.encode(source.inputs_pretokenized)[:7], 1])
            np.testing.assert_array_equal(example[TEACHER_IDS], [*source.teacher_ids[:kept], [0] * K])
            np.testing.assert_array_equal(
                example[TEACHER_LOGPROBS], [*source.teacher_logprobs[:kept], [distill_examples.NO_MASS] * K]
            )


def segments(row: dict, segment_ids: np.ndarray | None) -> list[dict]:
    """The examples of one converted row: by decoder segment when packed, else the non-padding prefix."""
    keys = ("decoder_target_tokens", DECODER_TEACHER_IDS, DECODER_TEACHER_LOGPROBS)
    if segment_ids is None:
        keep = row["decoder_target_tokens"] > 0
        return [{key: row[key][keep] for key in keys}]
    return [{key: row[key][segment_ids == s] for key in keys} for s in range(1, segment_ids.max() + 1)]


def test_packed_batches_reconstruct_the_unpacked_teacher_features(records_dir) -> None:
    distillation.register_distillation(records_dir[0])
    lengths = {"inputs": 32, "targets": 24}
    converted = {}
    for pack in (False, True):
        ds = seqio.get_dataset("distill_zs_cot", lengths, DistillationFeatureConverter(pack=pack), shuffle=False)
        converted[pack] = list(ds.batch(4).as_numpy_iterator())
    unpacked = [
        example
        for batch in converted[False]
        for row in range(len(batch["decoder_target_tokens"]))
        for example in segments({k: v[row] for k, v in batch.items()}, None)
    ]
    packed, rows = [], 0
    for batch in converted[True]:
        assert batch[DECODER_TEACHER_IDS].shape[1:] == (24, K) and batch[DECODER_TEACHER_LOGPROBS].dtype == np.float32
        padding = batch["decoder_segment_ids"] == 0
        assert (batch[DECODER_TEACHER_IDS][padding] == 0).all()
        assert (batch[DECODER_TEACHER_LOGPROBS][padding] == distill_examples.NO_MASS).all()
        for row, segment_ids in enumerate(batch["decoder_segment_ids"]):
            packed += segments({k: v[row] for k, v in batch.items()}, segment_ids)
            rows += 1
    assert len(packed) == len(unpacked) == COUNTS["zs_cot"] and rows < len(packed), "examples share packed rows"
    for got, want in zip(packed, unpacked, strict=True):
        for key, value in want.items():
            np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_a_dataset_without_teacher_features_converts_as_enc_dec() -> None:
    """Evaluation tasks go through the distillation model's converter unchanged."""
    rng = np.random.default_rng(1)
    rows = [
        {key: rng.integers(1, 99, rng.integers(1, 12), dtype=np.int32) for key in ("inputs", "targets")}
        for _ in range(9)
    ]
    ds = tf.data.Dataset.from_generator(
        lambda: iter(rows), output_signature={k: tf.TensorSpec([None], tf.int32) for k in ("inputs", "targets")}
    )
    lengths = {"inputs": 32, "targets": 32}
    for pack in (False, True):
        plain, distill = (
            next(cls(pack=pack)(ds, lengths).batch(4).as_numpy_iterator())
            for cls in (seqio.EncDecFeatureConverter, DistillationFeatureConverter)
        )
        assert plain.keys() == distill.keys()
        for key, value in plain.items():
            np.testing.assert_array_equal(distill[key], value)


def test_mixture_rates_follow_example_counts_or_weights(records_dir) -> None:
    path = records_dir[0]

    def rates(name: str) -> dict[str, float]:
        mixture = seqio.get_mixture_or_task(name)
        return {task.name.removeprefix(f"{name}_"): mixture.get_rate(task) for task in mixture.tasks}

    distillation.register_distillation(path, name="by_size")
    assert rates("by_size") == {fmt: float(count) for fmt, count in COUNTS.items()}
    weights = {"ic_cot": 3.0, "zs_cot": 1.0}
    distillation.register_distillation(path, name="weighted", formats=["ic_cot", "zs_cot"], weights=weights)
    assert rates("weighted") == weights
    with pytest.raises(ValueError, match="must name exactly the formats"):
        distillation.register_distillation(path, name="weighted", weights=weights)


def test_registration_replaces_its_own_tasks_and_refuses_clashes(records_dir, tmp_path) -> None:
    distillation.register_distillation(records_dir[0], name="again")
    write_records(str(tmp_path), {"ic_cot": 2})
    distillation.register_distillation(str(tmp_path), name="again")  # a re-parsed config, another directory
    assert [task.name for task in seqio.get_mixture_or_task("again").tasks] == ["again_ic_cot"]
    assert len(numpy_examples("again_ic_cot", {"inputs": 16, "targets": 16})) == 2
    with pytest.raises(ValueError, match=r"\['gsm8k_ic_cot', 'gsm8k_zs_ao', 'gsm8k_zs_cot'\] already registered"):
        distillation.register_distillation(records_dir[0], name="gsm8k")
    assert "gsm8k_zs_cot" in seqio.TaskRegistry.names() and "gsm8k" not in seqio.MixtureRegistry.names()


def test_bad_records_directories_are_reported(records_dir, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no manifest"):
        distillation.register_distillation(str(tmp_path))
    with pytest.raises(ValueError, match=r"manifest.json: field 'formats' has no examples for \['ic_ao'\]"):
        distillation.register_distillation(records_dir[0], formats=["ic_ao"])
    write_records(str(tmp_path), {"zs_cot": 2}, bad_row=True)
    distillation.register_distillation(str(tmp_path), name="bad")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"teacher_topk_ids is not \[len\(targets\), K=3\]"):
        numpy_examples("bad_zs_cot", {"inputs": 16, "targets": 16})


def scalars(log_dir: str, tag: str) -> list[float]:
    values = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = value.simple_value
    return [values[step] for step in sorted(values)]


def test_distill_gin_trains_a_micro_student_toward_the_teacher(records_dir, tmp_path, monkeypatch) -> None:
    """gin/runs/distill.gin with the t5_1_1 micro model, through the real train loop (packing on)."""
    monkeypatch.setattr(sys.modules["__main__"], "train", train, raising=False)
    monkeypatch.chdir(REPO_ROOT)
    overrides = tmp_path / "overrides.gin"
    overrides.write_text(
        "from __gin__ import dynamic_registration\nimport __main__ as train_script\n"
        "train_script.train.train_eval_dataset_cfg = None\ntrain_script.train.infer_eval_dataset_cfg = None\n"
        "train_script.train.stats_period = 1\n"
    )
    flags = [
        f'--gin.MODEL_DIR="{tmp_path / "model"}"',
        f'--gin.RECORDS_DIR="{records_dir[0]}"',
        "--gin.TASK_FEATURE_LENGTHS={'inputs': 16, 'targets': 16}",
        "--gin.TRAIN_STEPS=12",
        "--gin.BATCH_SIZE=8",
        "--gin.INITIAL_CHECKPOINT_PATH=None",
        "--gin.DROPOUT_RATE=0.0",
        "--gin.ACTIVATION_DTYPE='float32'",
        "--gin.RANDOM_SEED=0",
        "--gin.utils.create_learning_rate_scheduler.base_learning_rate=0.05",
        "--gin.utils.create_learning_rate_scheduler.warmup_steps=1",
    ]
    bindings = [flag.split("=", 1)[1] for flag in gin_utils.rewrite_gin_args(flags)]
    gin.clear_config(clear_constants=True)
    try:
        gin_utils.parse_gin_flags(
            ["."], ["gin/models/t5_1_1/micro.gin", "gin/runs/distill.gin", str(overrides)], bindings
        )
        step, _ = gin.get_configurable(train)()
    finally:
        gin.clear_config(clear_constants=True)
    assert step == 12
    assert "DistributionMatchingLoss" in (tmp_path / "model" / "config.gin").read_text()
    kl = scalars(str(tmp_path / "model" / "train"), "teacher_kl")
    assert len(kl) == 12 and kl[-1] < 0.5 * kl[0], f"teacher KL per step: {kl}"
    assert all(value > 0 for value in scalars(str(tmp_path / "model" / "train"), "dm_loss"))


SHARES = {"zs_ao": 0.02, "zs_cot": 0.3, "ic_ao": 0.08, "ic_cot": 0.6}


def packed_mixture_batch(records_dir: str) -> dict:
    """One training batch of the whole mixture, packed as in training (rows mix formats)."""
    distillation.register_distillation(records_dir)
    lengths = {"inputs": 48, "targets": 32}
    ds = seqio.get_dataset("distill", lengths, DistillationFeatureConverter(pack=True), shuffle=True, seed=3)
    return next(ds.batch(8).as_numpy_iterator())


def test_every_packed_target_token_carries_its_format(records_dir) -> None:
    distillation.register_distillation(records_dir[0])
    for fmt in COUNTS:
        ds = seqio.get_dataset(f"distill_{fmt}", {"inputs": 48, "targets": 32}, DistillationFeatureConverter(pack=True))
        for batch in ds.batch(4).as_numpy_iterator():
            real = batch["decoder_segment_ids"] > 0
            assert (batch[DECODER_FORMAT_IDS][real] == format_code(fmt)).all()
            assert (batch[DECODER_FORMAT_IDS][~real] == 0).all()
    batch = packed_mixture_batch(records_dir[0])
    codes, segments = batch[DECODER_FORMAT_IDS], batch["decoder_segment_ids"]
    for row_codes, row_segments in zip(codes, segments, strict=True):
        for segment in set(row_segments[row_segments > 0]):
            assert len(set(row_codes[row_segments == segment])) == 1, "one format per packed example"
    assert any(len(set(row[row > 0])) > 1 for row in codes), "rows mix formats"


def test_format_shares_on_a_real_packed_batch(records_dir) -> None:
    """Each format present gets its configured share (renormalized over those present); its tokens weigh the same."""
    batch = packed_mixture_batch(records_dir[0])
    codes = batch[DECODER_FORMAT_IDS]
    tokens = (batch["decoder_target_tokens"] > 0).astype(np.float32)
    weights = np.asarray(losses.FormatShareWeighting(SHARES)(batch, jnp.asarray(tokens)))
    present = [fmt for fmt in SHARES if (codes == format_code(fmt)).any()]
    assert sorted(present) == sorted(COUNTS), "the batch holds every format of the records (ic_ao has none)"
    np.testing.assert_allclose(weights.sum(), tokens.sum(), rtol=1e-6)  # the loss keeps its per-token scale
    for fmt in present:
        mine = weights[codes == format_code(fmt)]
        np.testing.assert_allclose(mine.sum() / weights.sum(), SHARES[fmt] / sum(SHARES[f] for f in present), rtol=1e-5)
        np.testing.assert_allclose(mine, mine[0], rtol=1e-6)
    assert (weights[tokens == 0] == 0).all()
    token_shares = {fmt: tokens[codes == format_code(fmt)].sum() / tokens.sum() for fmt in present}
    assert token_shares["ic_cot"] < 0.5 < SHARES["ic_cot"] / sum(SHARES[f] for f in present)


def test_token_sum_mode_gives_the_unweighted_loss_exactly(records_dir) -> None:
    """`FORMAT_SHARES = None` is today's token sum; the shares reweight it as the mean per format times its share."""
    batch = {k: jnp.asarray(v) for k, v in packed_mixture_batch(records_dir[0]).items()}
    config = dataclasses.replace(MICRO, vocab_size=32128)  # the records' T5 ids
    model = models.EncoderDecoderModel(network.Transformer(config), target_loss=losses.DistributionMatchingLoss())
    params = nn.unbox(model.get_initial_variables(jax.random.PRNGKey(0), input_shapes(batch)))["params"]
    today = model.loss_fn(params, batch, None)[0]
    model.loss_weighting = losses.FormatShareWeighting(None)
    assert model.loss_fn(params, batch, None)[0] == today
    model.loss_weighting = losses.FormatShareWeighting(SHARES)
    weighted = model.loss_fn(params, batch, None)[0]
    logits = model.compute_logits(params, batch)
    tokens = batch["decoder_loss_weights"].astype(jnp.float32)
    present = {fmt: format_code(fmt) for fmt in COUNTS}
    expected = 0.0
    for fmt, code in present.items():
        mine = tokens * (batch[DECODER_FORMAT_IDS] == code)
        share = SHARES[fmt] / sum(SHARES[f] for f in present)
        expected += share * model.target_loss(logits, batch, mine)[0] / mine.sum() * tokens.sum()
    np.testing.assert_allclose(weighted, expected, rtol=1e-5)
    assert abs(float(weighted) - float(today)) > 1e-3 * abs(float(today))


def test_replay_mixes_plain_tasks_in_with_no_mass_rows_and_their_format_code(records_dir) -> None:
    path = records_dir[0]
    total = sum(COUNTS.values())
    distillation.register_distillation(path, name="replayed", replay="lab_general", replay_fraction=0.2)
    mixture = seqio.get_mixture_or_task("replayed")
    replayed = [task for task in mixture.tasks if "_replay_" in task.name]
    assert {task.name.removeprefix("replayed_replay_") for task in replayed} == set(tasks.lab.general_task_names())
    replay_rate = sum(mixture.get_rate(task) for task in replayed)
    assert replay_rate / (replay_rate + total) == pytest.approx(0.2)
    examples = numpy_examples(replayed[0].name, {"inputs": 64, "targets": 16})
    assert examples and all(e["targets"][-1] == 1 for e in examples)
    for example in examples:
        length = len(example["targets"])
        np.testing.assert_array_equal(example[TEACHER_IDS], np.zeros((length, K)))
        np.testing.assert_array_equal(example[TEACHER_LOGPROBS], np.full((length, K), distill_examples.NO_MASS))
        np.testing.assert_array_equal(example["format_ids"], np.full(length, format_code("zs_ao")))
    rows = mixture.get_dataset({"inputs": 64, "targets": 16}, split="train", shuffle=True, seed=0).take(200)
    drawn = [e for e in rows.as_numpy_iterator()]
    replay_share = np.mean([bool((e[TEACHER_LOGPROBS] == distill_examples.NO_MASS).all()) for e in drawn])
    assert 0.05 < replay_share < 0.45  # about 0.2, drawn at random
    with pytest.raises(ValueError, match="replay_fraction"):
        distillation.register_distillation(path, name="replayed", replay="lab_general", replay_fraction=1.0)
