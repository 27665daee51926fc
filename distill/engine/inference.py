"""Inference runs with T5X's keyword names: `infer` (predictions or scores as resumable JSONL)
and `evaluate` (seqio's Evaluator with each task's postprocessor and metrics).

Both restore params only, run decoding or scoring on fixed-size batches (one compilation per
length), and keep the host-side example order, so a killed `infer` restarted with the same
output directory appends where it stopped and ends with every example exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from distill.contracts import durable
from distill.engine import checkpoints, decoding, utils
from distill.engine.models import BaseModel
from distill.engine.partitioning import BasePartitioner

log = logging.getLogger(__name__)
MODES = ("predict", "score")


def abstract_params(model: BaseModel, partitioner: BasePartitioner) -> Any:
    """Param shapes, dtypes and shardings, without allocating anything."""
    shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
    boxed = jax.eval_shape(lambda r: model.get_initial_variables(r, shapes), jax.random.PRNGKey(0))["params"]
    shardings = partitioner.param_shardings(boxed)
    return jax.tree_util.tree_map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), nn.unbox(boxed), shardings
    )


def restore_params(
    model: BaseModel, partitioner: BasePartitioner, cfg: utils.RestoreCheckpointConfig
) -> tuple[Any, int]:
    path = cfg.path[0] if isinstance(cfg.path, (list, tuple)) else cfg.path
    if not path:
        raise ValueError("Set CHECKPOINT_PATH (utils.RestoreCheckpointConfig.path) to the checkpoint to run.")
    return checkpoints.load_params(path, abstract_params(model, partitioner), model.layer_counts)


class BatchRunner:
    """Decodes or scores host batches, padded to one global batch size so each length compiles once."""

    def __init__(
        self, model: BaseModel, params: Any, partitioner: BasePartitioner, batch_size: int, seed: int = 0
    ) -> None:
        if batch_size % partitioner.data_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by the data axis ({partitioner.data_size})")
        self.model, self.params, self.partitioner, self.batch_size = model, params, partitioner, batch_size
        self.rng = jax.random.PRNGKey(seed)
        self._score = jax.jit(model.score_batch)

    def _put(self, rows: np.ndarray) -> jax.Array:
        padded = np.zeros((self.batch_size, *rows.shape[1:]), np.int32)
        padded[: len(rows)] = rows
        return jax.device_put(padded, self.partitioner.batch_sharding())

    def predict(self, encoder_tokens: np.ndarray, max_length: int, batch_index: int) -> dict[str, np.ndarray]:
        """Decodes (tokens, token_log_probs, scores, lengths as numpy, first len(rows) rows).

        The sampling key depends only on `batch_index`, so a resumed run samples what an
        uninterrupted one would.
        """
        params = self.model.decode_params.with_length(max_length)
        rng = jax.random.fold_in(self.rng, batch_index)
        with self.partitioner.activation_context():
            out = decoding.decode(self.model.module, self.params, self._put(encoder_tokens), params, rng)
        out = jax.device_get(out)
        n = len(encoder_tokens)
        return {k: np.asarray(getattr(out, k))[:n] for k in ("tokens", "token_log_probs", "scores", "lengths")}

    def score(self, encoder_tokens: np.ndarray, targets: np.ndarray) -> np.ndarray:
        decoder_inputs = np.concatenate([np.zeros_like(targets[:, :1]), targets[:, :-1]], axis=1)
        batch = {
            "encoder_input_tokens": self._put(encoder_tokens),
            "decoder_input_tokens": self._put(decoder_inputs),
            "decoder_target_tokens": self._put(targets),
        }
        with self.partitioner.activation_context():
            scores = self._score(self.params, batch)
        return np.asarray(jax.device_get(scores))[: len(encoder_tokens)]


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _pad_rows(rows: Sequence[np.ndarray], length: int) -> np.ndarray:
    out = np.zeros((len(rows), length), np.int32)
    for i, row in enumerate(rows):
        row = np.asarray(row)[:length]
        out[i, : len(row)] = row
    return out


def seqio_model_fns(runner: BatchRunner) -> tuple[Callable, Callable]:
    """`predict_fn` and `score_fn` for `seqio.Evaluator` (enumerated datasets of model features)."""

    def predict_fn(ds: Any) -> list[tuple[int, list[int]]]:
        results = []
        for batch_index, chunk in enumerate(_chunks(ds.as_numpy_iterator(), runner.batch_size)):
            inputs = np.stack([features["encoder_input_tokens"] for _, features in chunk])
            length = chunk[0][1]["decoder_target_tokens"].shape[0]
            out = runner.predict(inputs, length, batch_index)
            # Fixed-length rows (zeros after EOS), as T5X returns them: seqio stacks them.
            results.extend((int(index), tokens) for (index, _), tokens in zip(chunk, out["tokens"][:, 0], strict=True))
        return results

    def score_fn(ds: Any) -> list[tuple[int, float]]:
        results = []
        for chunk in _chunks(ds.as_numpy_iterator(), runner.batch_size):
            inputs = np.stack([features["encoder_input_tokens"] for _, features in chunk])
            targets = np.stack([features["decoder_target_tokens"] for _, features in chunk])
            scores = runner.score(inputs, targets)
            results.extend((int(index), float(score)) for (index, _), score in zip(chunk, scores, strict=True))
        return results

    return predict_fn, score_fn


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO":
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(x), 5) for x in values]


def _completed_lines(path: str) -> int:
    """Whole lines already in `path`; a torn last line (a kill mid-write) is cut off first."""
    if not os.path.exists(path):
        return 0
    with open(path, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            log.warning("Dropping a torn last line of %s (%d bytes)", path, len(data) - end)
            f.truncate(end)
    return data[:end].count(b"\n")


def infer(
    *,
    model: BaseModel,
    dataset_cfg: utils.DatasetConfig,
    restore_checkpoint_cfg: utils.RestoreCheckpointConfig,
    partitioner: BasePartitioner,
    output_dir: str,
    mode: str = "predict",
    checkpoint_period: int = 100,
    shard_id: int = 0,
    num_shards: int = 1,
    random_seed: int = 0,
) -> list[str]:
    """Writes `{output_dir}/{task}-{mode}.jsonl-{shard:05d}-of-{num_shards:05d}` per task.

    Each line: `index`, the example's text fields (`inputs`), and for `predict` the best
    `prediction` plus every decode in `outputs` (text, score, per-token log-probs); for `score`
    the target log-likelihood `score`. Lines are flushed and fsynced per batch; a restart skips
    the lines already written. `checkpoint_period` is accepted for T5X gins (we sync every batch).
    """
    import seqio

    del checkpoint_period
    if mode not in MODES:
        raise ValueError(f"infer mode {mode!r}; choose one of {MODES}")
    params, step = restore_params(model, partitioner, restore_checkpoint_cfg)
    runner = BatchRunner(model, params, partitioner, dataset_cfg.batch_size, random_seed)
    os.makedirs(output_dir, exist_ok=True)
    paths = []
    for task in seqio.get_subtasks(seqio.get_mixture_or_task(dataset_cfg.mixture_or_task_name)):
        path = os.path.join(output_dir, f"{task.name}-{mode}.jsonl-{shard_id:05d}-of-{num_shards:05d}")
        _infer_task(task, dataset_cfg, runner, model, mode, path, shard_id, num_shards)
        paths.append(path)
    log.info("Inference from checkpoint step %d written to %s", step, output_dir)
    return paths


def _task_examples(task: Any, cfg: utils.DatasetConfig, shard_id: int, num_shards: int) -> list[dict]:
    lengths, split = cfg.task_feature_lengths, cfg.split
    ds = task.get_dataset(sequence_length=lengths, split=split, shuffle=False, num_epochs=1, use_cached=cfg.use_cached)
    return [ex for i, ex in enumerate(ds.as_numpy_iterator()) if i % num_shards == shard_id]


def _infer_task(
    task: Any,
    cfg: utils.DatasetConfig,
    runner: BatchRunner,
    model: BaseModel,
    mode: str,
    path: str,
    shard_id: int,
    num_shards: int,
) -> None:
    if os.path.exists(path + ".COMPLETED"):
        log.info("%s is complete; skipping", path)
        return
    examples = _task_examples(task, cfg, shard_id, num_shards)
    lengths = cfg.task_feature_lengths or {
        key: max(len(ex[key]) for ex in examples) for key in ("inputs", "targets") if examples
    }
    done = _completed_lines(path)
    vocab = model.output_vocabulary
    start, total = time.monotonic(), len(examples)
    print(f"{task.name}: {done}/{total} examples already written to {path}", flush=True)
    with open(path, "a", encoding="utf-8") as out:
        for batch_index, chunk in enumerate(_chunks(enumerate(examples), runner.batch_size)):
            if chunk[-1][0] < done:
                continue
            # A batch cut short by a kill is recomputed whole (same rows, same sampling key) and
            # only its missing lines are written.
            inputs = _pad_rows([ex["inputs"] for _, ex in chunk], lengths["inputs"])
            records = [
                {
                    "index": i * num_shards + shard_id,
                    "inputs": {k: _jsonable(v) for k, v in ex.items() if k not in ("inputs", "targets")},
                }
                for i, ex in chunk
            ]
            if mode == "score":
                targets = _pad_rows([ex["targets"] for _, ex in chunk], lengths["targets"])
                for record, score in zip(records, runner.score(inputs, targets), strict=True):
                    record["score"] = float(score)
            else:
                out_tokens = runner.predict(inputs, lengths["targets"], batch_index)
                for row, record in enumerate(records):
                    record["outputs"] = [
                        {
                            "text": vocab.decode(out_tokens["tokens"][row, n, :length].tolist()),
                            "score": float(out_tokens["scores"][row, n]),
                            "token_log_probs": _rounded(out_tokens["token_log_probs"][row, n, :length]),
                        }
                        for n, length in enumerate(out_tokens["lengths"][row])
                    ]
                    record["prediction"] = record["outputs"][0]["text"]
            out.writelines(json.dumps(r) + "\n" for (i, _), r in zip(chunk, records, strict=True) if i >= done)
            out.flush()
            os.fsync(out.fileno())
            written = chunk[-1][0] + 1
            rate = (written - done) / max(time.monotonic() - start, 1e-9)
            print(f"{task.name}: {written}/{total} examples ({rate:.1f}/s)", flush=True)
    durable.write_text(path + ".COMPLETED", f"{total}\n")


def evaluate(
    *,
    model: BaseModel,
    dataset_cfg: utils.DatasetConfig,
    restore_checkpoint_cfg: utils.RestoreCheckpointConfig,
    partitioner: BasePartitioner,
    output_dir: str,
    inference_evaluator_cls: Callable[..., Any],
    random_seed: int = 0,
) -> Mapping[str, Any]:
    """Runs `inference_evaluator_cls` (seqio.Evaluator) on a checkpoint; metrics go to its loggers."""
    params, step = restore_params(model, partitioner, restore_checkpoint_cfg)
    runner = BatchRunner(model, params, partitioner, dataset_cfg.batch_size, random_seed)
    evaluator = make_evaluator(inference_evaluator_cls, model, dataset_cfg, output_dir)
    metrics = run_evaluator(evaluator, runner, step)
    _write_metrics(os.path.join(output_dir, f"metrics-{step}.json"), metrics)
    return metrics


def make_evaluator(evaluator_cls: Callable[..., Any], model: BaseModel, cfg: utils.DatasetConfig, log_dir: str) -> Any:
    os.makedirs(log_dir, exist_ok=True)
    return evaluator_cls(
        mixture_or_task_name=cfg.mixture_or_task_name,
        feature_converter=model.FEATURE_CONVERTER_CLS(pack=False),
        eval_split=cfg.split,
        use_cached=cfg.use_cached,
        seed=cfg.seed,
        sequence_length=cfg.task_feature_lengths,
        log_dir=log_dir,
    )


def run_evaluator(evaluator: Any, runner: BatchRunner, step: int) -> dict[str, Any]:
    predict_fn, score_fn = seqio_model_fns(runner)
    all_metrics, _ = evaluator.evaluate(
        compute_metrics=jax.process_index() == 0, step=step, predict_fn=predict_fn, score_fn=score_fn
    )
    metrics = all_metrics.result() if hasattr(all_metrics, "result") else all_metrics
    return {task: {k: _jsonable(v) for k, v in values.items()} for task, values in (metrics or {}).items()}


def _write_metrics(path: str, metrics: Mapping[str, Any]) -> None:
    if jax.process_index() == 0:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2, default=str)
        for task, values in metrics.items():
            print(f"{task}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items() if isinstance(v, float)))
