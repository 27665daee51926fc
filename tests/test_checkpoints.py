"""Orbax checkpoints: exact round trips, T5X per-layer names on disk, params-only initial restores."""

from __future__ import annotations

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from distill.engine import checkpoints, partitioning, trainer, utils
from tests.support.micro import input_shapes, micro_model, random_batch

COUNTS = {"encoder": 2, "decoder": 2}


def make_trainer(scan_layers: bool = False, num_partitions: int = 1, devices: int = 1) -> trainer.Trainer:
    batch = random_batch()
    partitioner = partitioning.PjitPartitioner(num_partitions=num_partitions, devices=jax.devices()[:devices])
    schedule = utils.create_learning_rate_scheduler(factors="constant", base_learning_rate=0.01)
    return trainer.Trainer(micro_model(scan_layers=scan_layers), partitioner, schedule, input_shapes(batch))


def trained_state(train: trainer.Trainer, steps: int = 2) -> trainer.TrainState:
    state = train.init_state(jax.random.PRNGKey(0))
    batch = jax.device_put(random_batch(), train.partitioner.batch_sharding())
    for _ in range(steps):
        state, _ = train.train_step(state, batch, jax.random.PRNGKey(1))
    return state


def assert_trees_equal(a, b) -> None:
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), a, b)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A 2-step unscanned run saved to a model dir."""
    model_dir = str(tmp_path_factory.mktemp("model"))
    train = make_trainer()
    state = trained_state(train)
    manager = checkpoints.CheckpointManager(model_dir, COUNTS)
    manager.save(state)
    manager.close()
    return model_dir, jax.device_get(state)


def test_round_trip_is_exact_and_sharded(saved) -> None:
    model_dir, state = saved
    train = make_trainer(num_partitions=2, devices=8)
    manager = checkpoints.CheckpointManager(model_dir, COUNTS)
    assert manager.latest_step() == 2
    restored = manager.restore(2, train.abstract_state)
    assert_trees_equal(restored, state)
    kernel = restored.params["encoder"]["layers_0"]["mlp"]["wi_0"]["kernel"]
    assert kernel.sharding == train.state_shardings.params["encoder"]["layers_0"]["mlp"]["wi_0"]["kernel"]


def test_disk_layout_uses_t5x_names_even_when_scanned(tmp_path) -> None:
    train = make_trainer(scan_layers=True)
    state = trained_state(train)
    manager = checkpoints.CheckpointManager(str(tmp_path), COUNTS)
    manager.save(state)
    manager.close()
    state_dir = tmp_path / "checkpoint_2" / "state"
    assert state_dir.is_dir()
    saved = ocp.PyTreeCheckpointer().restore(str(state_dir))
    target = saved["target"]
    assert set(target["encoder"]) == {"layers_0", "layers_1", "relpos_bias", "encoder_norm"}
    assert target["decoder"]["layers_1"]["self_attention"]["query"]["kernel"].shape == (16, 32)
    assert int(saved["state"]["step"]) == 2
    np.testing.assert_array_equal(
        target["encoder"]["layers_1"]["mlp"]["wo"]["kernel"],
        np.asarray(state.params["encoder"]["layers"]["mlp"]["wo"]["kernel"][1]),
    )


def test_scanned_and_unscanned_runs_restore_each_other(saved) -> None:
    model_dir, state = saved
    scanned = make_trainer(scan_layers=True)
    restored = checkpoints.CheckpointManager(model_dir, COUNTS).restore(2, scanned.abstract_state)
    np.testing.assert_array_equal(
        restored.params["encoder"]["layers"]["attention"]["query"]["kernel"][0],
        state.params["encoder"]["layers_0"]["attention"]["query"]["kernel"],
    )
    batch = jax.device_put(random_batch(), scanned.partitioner.batch_sharding())
    plain = make_trainer()
    plain_state = checkpoints.CheckpointManager(model_dir, COUNTS).restore(2, plain.abstract_state)
    _, m_scanned = scanned.train_step(restored, batch, jax.random.PRNGKey(1))
    _, m_plain = plain.train_step(plain_state, batch, jax.random.PRNGKey(1))
    np.testing.assert_allclose(m_scanned["loss"], m_plain["loss"], rtol=1e-5)


def test_initial_checkpoint_restores_params_and_step_with_dtype_conversion(tmp_path, saved) -> None:
    """INITIAL_CHECKPOINT_PATH: params only (fresh optimizer), cast to the run's dtype."""
    _, state = saved
    bf16 = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.bfloat16), state.params)
    path = tmp_path / "checkpoint_1000"
    tree = {"target": bf16, "state": {"step": jnp.asarray(1000, jnp.int32)}}
    ocp.PyTreeCheckpointer().save(str(path / "state"), tree)

    train = make_trainer(scan_layers=True)
    for given in (path, tmp_path):  # a checkpoint dir, or a model dir (latest checkpoint)
        params, step = checkpoints.load_params(str(given), train.abstract_state.params, COUNTS)
        assert step == 1000
        kernel = params["encoder"]["layers"]["mlp"]["wi_0"]["kernel"]
        assert kernel.dtype == jnp.float32 and kernel.shape[0] == 2
        np.testing.assert_array_equal(
            kernel[1], np.asarray(bf16["encoder"]["layers_1"]["mlp"]["wi_0"]["kernel"], np.float32)
        )
    fresh = train.state_from_params(params, step)
    assert int(fresh.step) == 1000
    assert all(float(jnp.abs(x).sum()) == 0 for x in jax.tree_util.tree_leaves(fresh.opt_state) if x.ndim > 1)


def test_unreadable_or_missing_checkpoints_get_a_clear_error(tmp_path) -> None:
    (tmp_path / "checkpoint").write_bytes(b"\x82")  # A legacy T5X msgpack cut short.
    train = make_trainer()
    with pytest.raises(ValueError, match="not a T5X checkpoint"):
        checkpoints.load_params(str(tmp_path), train.abstract_state.params, COUNTS)
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        checkpoints.locate(os.path.join(str(tmp_path), "missing"))


def uncommit(step_dir) -> None:
    """What a save cut before orbax committed it leaves: no commit_success.txt, no commit timestamp."""
    for marker in step_dir.rglob("commit_success.txt"):
        marker.unlink()
    for metadata in step_dir.rglob("_CHECKPOINT_METADATA"):
        content = json.loads(metadata.read_text())
        content.pop("commit_timestamp_nsecs", None)
        metadata.write_text(json.dumps(content))


@pytest.mark.parametrize("partial", ["arrays-only", "no-commit-marker"])
def test_an_uncommitted_checkpoint_beside_a_complete_one_is_skipped(saved, tmp_path, caplog, partial) -> None:
    model_dir, state = saved
    shutil.copytree(model_dir, tmp_path, dirs_exist_ok=True)  # checkpoint_2, complete
    torn = tmp_path / "checkpoint_8"
    shutil.copytree(tmp_path / "checkpoint_2", torn)
    if partial == "arrays-only":  # a copy or a save cut before any metadata was written
        for path in [*torn.rglob("*METADATA"), *torn.rglob("commit_success.txt")]:
            path.unlink()
    else:
        uncommit(torn)
    found = checkpoints.locate(str(tmp_path))
    assert found == checkpoints.FoundCheckpoint(checkpoints.ORBAX, str(tmp_path / "checkpoint_2" / "state"))
    assert f"Skipping {torn}: " in caplog.text
    assert checkpoints.committed_steps(str(tmp_path)) == [2]
    assert checkpoints.CheckpointManager(str(tmp_path), COUNTS).latest_step() == 2  # where training resumes
    train = make_trainer()
    params, step = checkpoints.load_params(str(tmp_path), train.abstract_state.params, COUNTS)
    assert step == 2
    assert_trees_equal(params, state.params)
    with pytest.raises(FileNotFoundError, match=f"{torn}.* not a complete checkpoint|No checkpoint at {torn}"):
        checkpoints.locate(str(torn))


def test_a_preempted_step_commits_its_save_and_runs_no_evaluation(tmp_path) -> None:
    from distill.engine.train import save_and_evaluate

    state = trained_state(make_trainer())
    manager = checkpoints.CheckpointManager(str(tmp_path), COUNTS)  # asynchronous saves
    evaluated = []

    def evaluate(_, step: int) -> None:
        evaluated.append((step, checkpoints.committed_steps(str(tmp_path))))

    try:
        save_and_evaluate(manager, state, 2, False, True, False, evaluate)  # an eval step, no save due
        assert evaluated == [(2, [])]
        # SIGTERM at an eval step: the save is committed on return, and nothing was evaluated meanwhile.
        save_and_evaluate(manager, state, 2, False, True, True, evaluate)
        assert checkpoints.committed_steps(str(tmp_path)) == [2] and evaluated == [(2, [])]
    finally:
        manager.close()
