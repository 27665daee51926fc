"""Inference runs: resumable infer JSONL, scoring, seqio evaluation, and in-training inference eval."""

from __future__ import annotations

import glob
import json
import os

import jax
import numpy as np
import pytest
import seqio
import tensorflow as tf

from distill.engine import adafactor, checkpoints, decoding, inference, models, network, partitioning, trainer, utils
from distill.engine.train import train

TASK = "test_copy_bytes"
LENGTHS = {"inputs": 12, "targets": 12}


def _copy_examples(split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
    del shuffle_files, seed
    rng = np.random.default_rng({"train": 0, "validation": 1, "test": 2}[split])
    words = ["".join(rng.choice(list("abcdefgh"), size=rng.integers(2, 8))) for _ in range(36)]
    return tf.data.Dataset.from_tensor_slices({"inputs": words, "targets": words})


def exact_match(targets: list[str], predictions: list[str]) -> dict[str, float]:
    return {"exact_match": 100.0 * float(np.mean([t == p for t, p in zip(targets, predictions, strict=True)]))}


if TASK not in seqio.TaskRegistry.names():
    seqio.TaskRegistry.add(
        TASK,
        source=seqio.FunctionDataSource(_copy_examples, splits=("train", "validation", "test")),
        preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos_after_trim],
        output_features={k: seqio.Feature(seqio.ByteVocabulary(), add_eos=True) for k in ("inputs", "targets")},
        metric_fns=[exact_match],
    )


def byte_model(decode_params: decoding.DecodeParams | None = None) -> models.EncoderDecoderModel:
    config = network.T5Config(
        vocab_size=384, emb_dim=32, num_heads=2, head_dim=16, num_encoder_layers=2, num_decoder_layers=2,
        mlp_dim=64, dtype="float32", dropout_rate=0.0,
    )  # fmt: skip
    vocab = seqio.ByteVocabulary()
    return models.EncoderDecoderModel(
        network.Transformer(config), vocab, vocab, adafactor.Adafactor(), z_loss=1e-4, decode_params=decode_params
    )


def one_device() -> partitioning.PjitPartitioner:
    return partitioning.PjitPartitioner(num_partitions=1, devices=jax.devices()[:1])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    """A micro byte model after a few train steps, saved as an orbax checkpoint."""
    model_dir = str(tmp_path_factory.mktemp("model"))
    model = byte_model()
    shapes = {"encoder_input_tokens": (8, 12), "decoder_input_tokens": (8, 12)}
    schedule = utils.create_learning_rate_scheduler("constant", base_learning_rate=0.01)
    train_ = trainer.Trainer(model, one_device(), schedule, shapes)
    state = train_.init_state(jax.random.PRNGKey(0))
    batch = {
        k: jax.numpy.asarray(np.random.RandomState(0).randint(3, 200, s), jax.numpy.int32) for k, s in shapes.items()
    }
    batch["decoder_target_tokens"] = batch["decoder_input_tokens"]
    for _ in range(3):
        state, _ = train_.train_step(state, batch, jax.random.PRNGKey(1))
    manager = checkpoints.CheckpointManager(model_dir, model.layer_counts)
    manager.save(state)
    manager.close()
    return model_dir


def dataset_cfg(batch_size: int = 8, lengths: dict | None = LENGTHS) -> utils.DatasetConfig:
    return utils.DatasetConfig(TASK, lengths, "test", batch_size, shuffle=False, seed=0)


def run_infer(checkpoint: str, output_dir: str, mode: str = "predict") -> str:
    params = decoding.DecodeParams(method="sample", num_decodes=2, temperature=1.0)
    (path,) = inference.infer(
        model=byte_model(params),
        dataset_cfg=dataset_cfg(),
        restore_checkpoint_cfg=utils.RestoreCheckpointConfig(path=checkpoint),
        partitioner=one_device(),
        output_dir=output_dir,
        mode=mode,
    )
    return path


def read_lines(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_infer_writes_every_example_once_with_all_decodes(checkpoint, tmp_path) -> None:
    path = run_infer(checkpoint, str(tmp_path))
    records = read_lines(path)
    assert [r["index"] for r in records] == list(range(36))
    assert os.path.exists(path + ".COMPLETED")
    for r in records:
        assert r["inputs"]["inputs_pretokenized"] == r["inputs"]["targets_pretokenized"]
        assert len(r["outputs"]) == 2 and r["prediction"] == r["outputs"][0]["text"]
        assert r["outputs"][0]["score"] >= r["outputs"][1]["score"]
        for output in r["outputs"]:
            assert sum(output["token_log_probs"]) == pytest.approx(output["score"], abs=1e-3)


def test_killed_infer_resumes_and_ends_with_the_same_file(checkpoint, tmp_path) -> None:
    """A kill leaves whole lines and maybe a torn one; the restart completes exactly once each."""
    path = run_infer(checkpoint, str(tmp_path / "full"))
    with open(path, "rb") as f:
        complete = f.read()
    killed_dir = tmp_path / "killed"
    killed_dir.mkdir()
    torn_at = complete.index(b"\n", len(complete) // 2) - 25  # inside a line of a middle batch
    with open(killed_dir / os.path.basename(path), "wb") as f:
        f.write(complete[:torn_at])
    resumed = run_infer(checkpoint, str(killed_dir))
    with open(resumed, "rb") as f:
        assert f.read() == complete


def test_score_mode_writes_target_log_likelihoods(checkpoint, tmp_path) -> None:
    records = read_lines(run_infer(checkpoint, str(tmp_path), mode="score"))
    model = byte_model()
    params, _ = inference.restore_params(model, one_device(), utils.RestoreCheckpointConfig(path=checkpoint))
    vocab = seqio.ByteVocabulary()
    for r in records[:4]:
        text = r["inputs"]["targets_pretokenized"]
        tokens = np.zeros((1, 12), np.int32)
        ids = [*vocab.encode(text), 1]
        tokens[0, : len(ids)] = ids
        batch = {
            "encoder_input_tokens": tokens,
            "decoder_input_tokens": np.concatenate([np.zeros((1, 1), np.int32), tokens[:, :-1]], axis=1),
            "decoder_target_tokens": tokens,
        }
        assert r["score"] == pytest.approx(float(model.score_batch(params, batch)[0]), rel=1e-5)
        assert r["score"] < 0


def test_evaluate_runs_task_metrics_and_writes_them(checkpoint, tmp_path) -> None:
    evaluator_cls = lambda **kw: seqio.Evaluator(**kw, logger_cls=[seqio.JSONLogger, seqio.TensorBoardLogger])  # noqa: E731
    metrics = inference.evaluate(
        model=byte_model(),
        dataset_cfg=dataset_cfg(lengths=None),
        restore_checkpoint_cfg=utils.RestoreCheckpointConfig(path=checkpoint),
        partitioner=one_device(),
        output_dir=str(tmp_path),
        inference_evaluator_cls=evaluator_cls,
    )
    assert 0.0 <= metrics[TASK]["exact_match"] <= 100.0
    with open(tmp_path / "metrics-3.json", encoding="utf-8") as f:
        assert json.load(f)[TASK]["exact_match"] == metrics[TASK]["exact_match"]
    assert glob.glob(str(tmp_path / f"{TASK}-metrics.jsonl"))
    assert glob.glob(str(tmp_path / "**" / "events.out.tfevents.*"), recursive=True)


def test_training_evaluates_every_eval_period_from_its_first_step_and_at_its_last(tmp_path, capsys) -> None:
    """T5X's schedule: a run that starts (or resumes) at step s evaluates at s + k * period and at its end.

    The teacher-forced (train-eval) batches are built once per run and reused at every evaluation.
    """
    cfg = utils.DatasetConfig(TASK, LENGTHS, "train", 8, shuffle=True)
    train_eval_cfg = utils.DatasetConfig(TASK, LENGTHS, "train", 8, shuffle=False, seed=0)
    built = []

    def get_dataset_fn(dataset_cfg, *args, **kwargs):
        built.append(dataset_cfg is train_eval_cfg)
        return utils.get_dataset(dataset_cfg, *args, **kwargs)

    evaluator_cls = lambda **kw: seqio.Evaluator(**kw, logger_cls=[seqio.JSONLogger])  # noqa: E731
    schedule = utils.create_learning_rate_scheduler("constant", base_learning_rate=0.01)

    def run(total_steps: int) -> None:
        train(
            model=byte_model(),
            train_dataset_cfg=cfg,
            train_eval_dataset_cfg=train_eval_cfg,
            eval_steps=2,
            get_dataset_fn=get_dataset_fn,
            infer_eval_dataset_cfg=dataset_cfg(lengths=None),
            inference_evaluator_cls=evaluator_cls,
            checkpoint_cfg=utils.CheckpointConfig(save=utils.SaveCheckpointConfig(period=4)),
            partitioner=one_device(),
            trainer_cls=lambda **kw: trainer.Trainer(learning_rate_fn=schedule, **kw),
            model_dir=str(tmp_path),
            total_steps=total_steps,
            eval_period=2,
            random_seed=0,
        )

    run(5)  # 5 is not a multiple of the period: the last step is evaluated all the same
    run(8)  # resumes at 5: evaluated at 7, then at the end
    lines = read_lines(str(tmp_path / "inference_eval" / f"{TASK}-metrics.jsonl"))
    assert [line["step"] for line in lines] == [2, 4, 5, 7, 8]
    assert all("exact_match" in line for line in lines)
    train_evals = [
        line.split(" step ")[1].split(" ")[0]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith(f"eval {TASK} step ")
    ]
    assert train_evals == ["2", "4", "5", "7", "8"]
    assert built.count(True) == 2  # once per run, not once per evaluation
