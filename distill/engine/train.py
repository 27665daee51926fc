"""The training loop behind `train_t5x.py`, with `t5x/train.py`'s keyword arguments.

Initialisation order is T5X's: the latest checkpoint in MODEL_DIR (resume), else
`checkpoint_cfg.restore.path` (params and step; fresh optimizer statistics), else random
init. Unlike T5X, an unset RANDOM_SEED is drawn once and stored in MODEL_DIR/run.json, so a
restarted run replays exactly the data order and dropout of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

from distill.contracts import durable
from distill.engine import checkpoints, inference, utils
from distill.engine.models import BaseModel, summarize_metrics
from distill.engine.partitioning import BasePartitioner
from distill.engine.progress import ProgressLine, ScalarWriter
from distill.engine.trainer import Trainer, TrainState

log = logging.getLogger(__name__)


def input_shapes(cfg: utils.DatasetConfig) -> dict[str, tuple[int, int]]:
    lengths = cfg.task_feature_lengths
    return {
        "encoder_input_tokens": (cfg.batch_size, lengths["inputs"]),
        "decoder_input_tokens": (cfg.batch_size, lengths["targets"]),
    }


def _run_metadata(model_dir: str, random_seed: int | None) -> dict[str, int]:
    """Seed and initial step of this run, fixed at its first start and reused on restarts."""
    path = os.path.join(model_dir, "run.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
        if random_seed is not None and meta["random_seed"] != random_seed:
            raise ValueError(f"RANDOM_SEED={random_seed} but {path} records seed {meta['random_seed']} for this run.")
        return meta
    if random_seed is None:
        seed = np.int64(time.time_ns() % (2**31 - 1))
        random_seed = int(multihost_utils.broadcast_one_to_all(seed))
    return {"random_seed": random_seed}


def _write_json(path: str, content: Mapping[str, Any]) -> None:
    if jax.process_index() == 0:
        durable.write_json(path, content)


def write_model_info(model_dir: str, trainer: Trainer) -> None:
    """MODEL_DIR/model-info.txt: every parameter with shape and partition spec, and the total."""
    if jax.process_index() != 0:
        return
    flat = jax.tree_util.tree_flatten_with_path(trainer.abstract_state.params)[0]
    lines, total = [], 0
    for path, leaf in flat:
        name = "/".join(str(getattr(k, "key", k)) for k in path)
        total += math.prod(leaf.shape)
        lines.append(f"{name:<80} {leaf.shape!s:<20} {leaf.dtype} {leaf.sharding.spec}")
    lines.append(f"Total parameters: {total:,}")
    durable.write_text(os.path.join(model_dir, "model-info.txt"), "\n".join(lines) + "\n")


class _PreemptionFlag:
    """Turns SIGTERM into a checkpoint at the next step boundary instead of lost work."""

    def __init__(self) -> None:
        self.requested = False
        with contextlib.suppress(ValueError):  # Only the main thread may install handlers.
            signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, *_: Any) -> None:
        self.requested = True


def train(
    *,
    model: BaseModel,
    train_dataset_cfg: utils.DatasetConfig,
    checkpoint_cfg: utils.CheckpointConfig,
    partitioner: BasePartitioner,
    trainer_cls: Callable[..., Trainer],
    model_dir: str,
    total_steps: int,
    train_eval_dataset_cfg: utils.DatasetConfig | None = None,
    infer_eval_dataset_cfg: utils.DatasetConfig | None = None,
    eval_steps: int = 20,
    eval_period: int = 1000,
    stats_period: int | None = None,
    relative_steps: int | None = None,
    random_seed: int | None = None,
    use_hardware_rng: bool = False,
    summarize_config_fn: Callable[[str], None] | None = None,
    inference_evaluator_cls: Any = None,
    get_dataset_fn: Callable[..., Any] = utils.get_dataset,
    run_eval_before_training: bool = False,
) -> tuple[int, TrainState]:
    """Trains `model` until `total_steps` (a global step count, as in T5X); returns (step, state)."""
    del use_hardware_rng  # Accepted for T5X gins; dropout uses threefry (see accepted_bindings).
    model_dir = os.path.abspath(model_dir)
    os.makedirs(model_dir, exist_ok=True)
    if summarize_config_fn is not None:
        summarize_config_fn(model_dir)
    meta = _run_metadata(model_dir, random_seed)
    init_rng, trainer_rng = jax.random.split(jax.random.PRNGKey(meta["random_seed"]))

    trainer = trainer_cls(model=model, partitioner=partitioner, input_shapes=input_shapes(train_dataset_cfg))
    write_model_info(model_dir, trainer)
    counts = model.layer_counts
    save_cfg = checkpoint_cfg.save or utils.SaveCheckpointConfig()
    manager = checkpoints.CheckpointManager(model_dir, counts, keep=save_cfg.keep, use_async=save_cfg.use_async)
    state = _initial_state(trainer, manager, checkpoint_cfg.restore, counts, init_rng)
    step = int(jax.device_get(state.step))
    meta.setdefault("initial_step", step)
    _write_json(os.path.join(model_dir, "run.json"), meta)
    if relative_steps is not None:  # Counted from the run's first step, so a resumed run ends where it would have.
        total_steps = meta["initial_step"] + relative_steps

    shard_id, num_shards = partitioner.data_layout(train_dataset_cfg.batch_size)
    batches = get_dataset_fn(
        train_dataset_cfg,
        shard_id,
        num_shards,
        model.FEATURE_CONVERTER_CLS,
        meta["random_seed"],
        start_step=step - meta["initial_step"],
    )
    save_period = save_cfg.period or total_steps
    extra_saves = set(save_cfg.checkpoint_steps or ())
    stats_period = stats_period or min(eval_period, 100)
    progress = ProgressLine(total_steps, step)
    writer = ScalarWriter(os.path.join(model_dir, "train"))
    train_eval = _train_evaluator(trainer, train_eval_dataset_cfg, eval_steps, partitioner, get_dataset_fn, model_dir)
    infer_eval = _inference_evaluator(
        model, partitioner, inference_evaluator_cls, infer_eval_dataset_cfg, model_dir, meta["random_seed"]
    )

    def evaluate(state: TrainState, step: int) -> None:
        train_eval(state, step)
        infer_eval(state, step)

    preemption = _PreemptionFlag()
    if manager.latest_step() != step:
        manager.save(state)
    if run_eval_before_training:
        evaluate(state, step)

    sums, sums_steps, summary = None, 0, None
    batch_sharding = partitioner.batch_sharding()
    first_step = step
    log.info("Training from step %d to %d", step, total_steps)
    while step < total_steps:
        batch = utils.make_global_batch(next(batches), batch_sharding, num_shards)
        state, metrics = trainer.train_step(state, batch, trainer_rng)
        step += 1
        learning_rate = metrics.pop("learning_rate")
        sums = metrics if sums is None else jax.tree_util.tree_map(jax.numpy.add, sums, metrics)
        sums_steps += 1
        if step % stats_period == 0 or step == total_steps:
            summary = summarize_metrics(jax.device_get(sums), sums_steps)
            summary["learning_rate"] = float(learning_rate)
            summary.update(progress.timing(step, summary["nonpadding_tokens"] * sums_steps))
            progress.show(step, summary)
            writer.write(step, summary)
            sums, sums_steps = None, 0
        preempted = preemption.requested  # read once: a signal arriving below waits for the next step
        save = step % save_period == 0 or step in extra_saves or step == total_steps
        evaluate_now = is_eval_step(step, first_step, total_steps, eval_period)
        save_and_evaluate(manager, state, step, save, evaluate_now, preempted, evaluate)
        if preempted:
            log.warning("SIGTERM received: checkpoint %d committed, stopping (its evaluation skipped).", step)
            break
    manager.close()
    writer.close()
    if summary is not None and jax.process_index() == 0:
        print(
            f"Finished at step {step}: loss {summary['loss_per_nonpadding_target_token']:.4f}/token, "
            f"token accuracy {summary['accuracy']:.3f}. Checkpoint: {model_dir}/checkpoint_{step}",
            flush=True,
        )
    return step, state


def is_eval_step(step: int, first_step: int, total_steps: int, eval_period: int) -> bool:
    """T5X's schedule: every `eval_period` steps counted from this run's first step, and the last step.

    Why relative: a fine-tune starts at the pretrained step (T5X: 1,000,000; the lab: 1,200), and
    evaluating at global multiples of the period would skip the run's own end whenever its
    length is not a multiple (the lab's 500 steps from 1,200 at period 125 were last evaluated at
    1,625, never at 1,700).
    """
    return (step - first_step) % eval_period == 0 or step == total_steps


def save_and_evaluate(
    manager: checkpoints.CheckpointManager,
    state: TrainState,
    step: int,
    save: bool,
    evaluate_now: bool,
    preempted: bool,
    evaluate: Callable[[TrainState, int], None],
) -> None:
    """A step's checkpoint and evaluation, in the order a preemption needs.

    Why: after SIGTERM the machine goes away within a grace period. The checkpoint is what must
    survive it, so a preempted step saves and waits until orbax has committed the save, and runs
    no evaluation (a full one could outlast the grace period and leave the save torn).
    """
    if save or preempted:
        manager.save(state)
    if preempted:
        manager.wait()
    elif evaluate_now:
        evaluate(state, step)


def _initial_state(
    trainer: Trainer,
    manager: checkpoints.CheckpointManager,
    restore_cfg: utils.RestoreCheckpointConfig | None,
    counts: Mapping[str, int],
    init_rng: jax.Array,
) -> TrainState:
    latest = manager.latest_step()
    if latest is not None:
        log.info("Resuming from checkpoint %d in the model directory", latest)
        return manager.restore(latest, trainer.abstract_state)
    path = restore_cfg.path if restore_cfg else None
    if isinstance(path, (list, tuple)):
        if len(path) > 1:
            raise ValueError("Training restores from a single INITIAL_CHECKPOINT_PATH.")
        path = path[0] if path else None
    if path:
        params, step = checkpoints.load_params(path, trainer.abstract_state.params, counts)
        log.info("Initialised params from %s (step %d, fresh optimizer state)", path, step)
        return trainer.state_from_params(params, step)
    return trainer.init_state(init_rng)


def _inference_evaluator(
    model: BaseModel,
    partitioner: BasePartitioner,
    evaluator_cls: Callable[..., Any] | None,
    cfg: utils.DatasetConfig | None,
    model_dir: str,
    seed: int,
) -> Callable[[TrainState, int], None]:
    """Decoding-based metrics (each task's postprocessor and metric_fns) into MODEL_DIR/inference_eval."""
    if evaluator_cls is None or cfg is None:
        return lambda state, step: None
    evaluator = inference.make_evaluator(evaluator_cls, model, cfg, os.path.join(model_dir, "inference_eval"))
    runner = inference.BatchRunner(model, None, partitioner, cfg.batch_size, seed)

    def evaluate(state: TrainState, step: int) -> None:
        runner.params = state.params
        metrics = inference.run_evaluator(evaluator, runner, step)
        if jax.process_index() == 0:
            for task, values in metrics.items():
                shown = ", ".join(f"{k} {v:.4g}" for k, v in values.items() if isinstance(v, (int, float)))
                print(f"inference eval {task} step {step} | {shown}", flush=True)

    return evaluate


def _train_evaluator(
    trainer: Trainer,
    cfg: utils.DatasetConfig | None,
    eval_steps: int,
    partitioner: BasePartitioner,
    get_dataset_fn: Callable[..., Any],
    model_dir: str,
) -> Callable[[TrainState, int], None]:
    """Teacher-forced metrics on `eval_steps` batches of the train-eval dataset (T5X's training_eval)."""
    if cfg is None:
        return lambda state, step: None
    name = getattr(cfg.mixture_or_task_name, "name", cfg.mixture_or_task_name)
    writer = ScalarWriter(os.path.join(model_dir, "training_eval", str(name)))
    shard_id, num_shards = partitioner.data_layout(cfg.batch_size)

    # The same `eval_steps` batches every evaluation, built once (as T5X builds its train-eval
    # datasets once): rebuilding a seqio mixture's pipeline costs seconds per evaluation.
    held: list[dict] = []

    def evaluate(state: TrainState, step: int) -> None:
        if not held:
            batches = get_dataset_fn(cfg, shard_id, num_shards, trainer.model.FEATURE_CONVERTER_CLS, cfg.seed or 0)
            held.extend(itertools.islice(batches, eval_steps))
        sums, count = None, 0
        for local in held:
            batch = utils.make_global_batch(local, partitioner.batch_sharding(), num_shards)
            metrics = trainer.eval_step(state.params, batch)
            sums = metrics if sums is None else jax.tree_util.tree_map(jax.numpy.add, sums, metrics)
            count += 1
        if count:
            summary = summarize_metrics(jax.device_get(sums), count)
            writer.write(step, summary)
            if jax.process_index() == 0:
                print(
                    f"eval {name} step {step} | loss {summary['loss']:.4f} | acc {summary['accuracy']:.3f}", flush=True
                )

    return evaluate
