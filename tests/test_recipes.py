"""The specialization recipes parse and build their train step on 8 simulated devices, from abstract shapes."""

from __future__ import annotations

import glob
import math
import os

import gin
import jax
import jax.numpy as jnp
import pytest

from distill.contracts.format_ids import DECODER_FORMAT_IDS
from distill.engine import losses, partitioning, trainer, utils
from tests.support import REPO_ROOT
from tests.support.gin_flags import parse as gin_parse

pytestmark = pytest.mark.usefixtures("fresh_gin")

SIZES = {"base": 247.6e6, "large": 783.2e6, "xl": 2.85e9, "xxl": 11.14e9}  # FlanT5 parameters (untied head)
MESHES = sorted(glob.glob("gin/experiments/meshes/*.gin", root_dir=REPO_ROOT))
ABLATIONS = sorted(glob.glob("gin/experiments/ablations/*.gin", root_dir=REPO_ROOT))
TEACHER_K = 5


FLAGS = ['--gin.MODEL_DIR="/tmp/recipe"', '--gin.RECORDS_DIR="/tmp/records"']


def parse(files: list[str]) -> None:
    gin_parse(files, FLAGS)


def build_trainer() -> trainer.Trainer:
    """The run's model, mesh, schedule and microbatching as `train` would build them, on abstract shapes."""
    model = gin.query_parameter("%MODEL").scoped_configurable_fn()
    partitioner = gin.get_configurable(partitioning.PjitPartitioner)(devices=jax.devices()[:8])
    lengths, batch = gin.query_parameter("%TASK_FEATURE_LENGTHS"), gin.query_parameter("%BATCH_SIZE")
    shapes = {"encoder_input_tokens": (batch, lengths["inputs"]), "decoder_input_tokens": (batch, lengths["targets"])}
    return trainer.Trainer(
        model,
        partitioner,
        gin.get_configurable(utils.create_learning_rate_scheduler)(),
        shapes,
        num_microbatches=gin.query_parameter("trainer.Trainer.num_microbatches"),
    )


def packed_batch(tr: trainer.Trainer) -> dict[str, jax.ShapeDtypeStruct]:
    """What `DistillationFeatureConverter` yields with packing: tokens, segments, positions, teacher top-k."""
    sharding = tr.partitioner.batch_sharding()
    (batch, inputs), (_, targets) = tr.input_shapes["encoder_input_tokens"], tr.input_shapes["decoder_input_tokens"]
    shapes = {f"encoder_{k}": (batch, inputs) for k in ("input_tokens", "segment_ids", "positions")}
    shapes |= {f"decoder_{k}": (batch, targets) for k in ("input_tokens", "target_tokens", "segment_ids", "positions")}
    out = {k: jax.ShapeDtypeStruct(s, jnp.int32, sharding=sharding) for k, s in shapes.items()}
    out["decoder_loss_weights"] = jax.ShapeDtypeStruct((batch, targets), jnp.float32, sharding=sharding)
    teacher = (batch, targets, TEACHER_K)
    out["decoder_teacher_topk_ids"] = jax.ShapeDtypeStruct(teacher, jnp.int32, sharding=sharding)
    out["decoder_teacher_topk_logprobs"] = jax.ShapeDtypeStruct(teacher, jnp.float32, sharding=sharding)
    out[DECODER_FORMAT_IDS] = jax.ShapeDtypeStruct((batch, targets), jnp.int32, sharding=sharding)
    return out


def per_device_bytes(tree) -> int:
    leaves = jax.tree_util.tree_leaves(tree)
    return sum(math.prod(x.sharding.shard_shape(x.shape)) * x.dtype.itemsize for x in leaves)


def checkpoint_and_steps(recipe: str) -> tuple[str, int]:
    gin.clear_config(clear_constants=True)
    parse([recipe])
    path, steps = gin.query_parameter("%INITIAL_CHECKPOINT_PATH"), gin.query_parameter("%TRAIN_STEPS")
    assert steps > int(path.rsplit("_", 1)[-1]), "TRAIN_STEPS counts from the checkpoint's step"
    return path, steps


@pytest.mark.parametrize("size", list(SIZES))
def test_t5_1_1_recipes_change_only_the_starting_checkpoint(size: str) -> None:
    configs = {}
    for family in ("flan_t5", "t5_1_1"):
        path, steps = checkpoint_and_steps(f"gin/experiments/{family}_{size}_gsm8k_specialize.gin")
        assert path.startswith(f"gs://t5-data/pretrained_models/t5x/{family}_{size}/checkpoint_")
        configs[family] = gin.config_str().replace(path, "CHECKPOINT").replace(str(steps), "STEPS")
    assert configs["flan_t5"] == configs["t5_1_1"]


@pytest.mark.parametrize("size", list(SIZES))
def test_recipe_builds_on_every_mesh(size: str) -> None:
    recipe = f"gin/experiments/flan_t5_{size}_gsm8k_specialize.gin"
    for mesh in MESHES:
        gin.clear_config(clear_constants=True)
        parse([recipe, mesh])
        tr = build_trainer()
        params = sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(tr.abstract_state.params))
        assert params == pytest.approx(SIZES[size], rel=0.01)
        # Parameters and optimizer state are sharded over all 8 devices (FSDP, with model parallelism on v4-32).
        state_bytes = per_device_bytes(tr.abstract_state.params) + per_device_bytes(tr.abstract_state.opt_state)
        total = sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(tr.abstract_state))
        assert state_bytes < total / 6, (mesh, state_bytes, total)
        batch = gin.query_parameter("%BATCH_SIZE")
        assert batch % (tr.partitioner.data_size * tr.num_microbatches) == 0


@pytest.mark.parametrize("size", ["base", "xxl"])
def test_recipe_train_step_lowers(size: str) -> None:
    """The distillation train step (packed batch with teacher top-k) traces and lowers on the 8-GPU mesh."""
    parse([f"gin/experiments/flan_t5_{size}_gsm8k_specialize.gin", "gin/experiments/meshes/gpu_8.gin"])
    tr = build_trainer()
    lowered = tr.lower_train_step(packed_batch(tr))
    assert "dm_loss" in str(jax.tree_util.tree_structure(lowered.out_info))


@pytest.mark.parametrize("size", list(SIZES))
def test_recipe_weighs_formats_as_the_paper_and_evaluates_over_its_range(size: str) -> None:
    """Per-format loss shares from the size's original micro-batch mix; >= 10 evaluations from ~0.2 to ~2 epochs."""
    parse([f"gin/experiments/flan_t5_{size}_gsm8k_specialize.gin"])
    weighting = gin.query_parameter("%MODEL").scoped_configurable_fn().loss_weighting
    assert isinstance(weighting, losses.FormatShareWeighting)
    shares = weighting.shares
    assert sum(shares.values()) == pytest.approx(1.0)
    assert 0.6 < shares["ic_cot"] < 0.8 and shares["ic_ao"] + shares["zs_ao"] < 0.025
    assert shares["ic_cot"] > shares["zs_cot"] > shares["ic_ao"]
    start = int(gin.query_parameter("%INITIAL_CHECKPOINT_PATH").rsplit("_", 1)[-1])
    steps = gin.query_parameter("%TRAIN_STEPS") - start
    period = gin.query_parameter("%EVAL_PERIOD")
    assert steps % period == 0 and steps // period >= 10


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_ablations_apply_to_a_recipe(ablation: str) -> None:
    parse(["gin/experiments/flan_t5_base_gsm8k_specialize.gin", ablation])
    name = os.path.basename(ablation)
    if name == "sample_matching.gin":
        assert gin.query_parameter("%DM_WEIGHT") == 0.0
    else:
        formats = gin.query_parameter("%DISTILL_FORMATS")
        prefix = "ic_" if name == "in_context_only.gin" else "zs_"
        assert sorted(formats) == [f"{prefix}ao", f"{prefix}cot"]
