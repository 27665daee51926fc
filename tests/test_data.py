"""T5X-style DatasetConfig over seqio: deterministic (seed, step) batch order, host shards, caches."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import seqio

import tasks  # noqa: F401 - registers the tasks
from distill.engine import utils

TASK = "synthetic_arithmetic_bytes"


def config(**overrides) -> utils.DatasetConfig:
    values = dict(
        mixture_or_task_name=TASK,
        task_feature_lengths={"inputs": 16, "targets": 24},
        split="train",
        batch_size=4,
        shuffle=True,
        seed=None,
        pack=False,
    )
    return utils.DatasetConfig(**(values | overrides))


def batches(cfg: utils.DatasetConfig, count: int, seed: int = 7, start_step: int = 0, shard=(0, 1)) -> list[dict]:
    stream = utils.get_dataset(cfg, shard[0], shard[1], seqio.EncDecFeatureConverter, seed, start_step=start_step)
    return list(itertools.islice(stream, count))


def same(a: list[dict], b: list[dict]) -> bool:
    return all(np.array_equal(x[k], y[k]) for x, y in zip(a, b, strict=True) for k in x)


def test_batch_order_is_a_function_of_seed_and_step() -> None:
    cfg = config()
    first = batches(cfg, 5)
    assert same(first, batches(cfg, 5)), "same seed, same stream"
    assert same(first[3:], batches(cfg, 2, start_step=3)), "resuming at step 3 continues the stream"
    assert not same(first, batches(cfg, 5, seed=8)), "another seed, another order"
    assert not same(first, batches(config(seed=123), 5)), "DatasetConfig.seed overrides the run seed"


def test_feature_converter_output_and_packing() -> None:
    (plain,) = batches(config(), 1)
    assert set(plain) == {
        "encoder_input_tokens",
        "decoder_input_tokens",
        "decoder_target_tokens",
        "decoder_loss_weights",
    }
    assert plain["encoder_input_tokens"].shape == (4, 16) and plain["decoder_target_tokens"].shape == (4, 24)
    np.testing.assert_array_equal(plain["decoder_input_tokens"][:, 1:], plain["decoder_target_tokens"][:, :-1])
    (packed,) = batches(config(pack=True, task_feature_lengths={"inputs": 128, "targets": 256}), 1)
    assert packed["decoder_segment_ids"].max() > 1, "several examples share a packed row"


def test_hosts_read_disjoint_shards_of_the_global_batch() -> None:
    cfg = config(batch_size=8, shuffle=False)
    shard0 = batches(cfg, 1, shard=(0, 2))[0]["encoder_input_tokens"]
    shard1 = batches(cfg, 1, shard=(1, 2))[0]["encoder_input_tokens"]
    assert shard0.shape == shard1.shape == (4, 16)
    assert not {row.tobytes() for row in shard0} & {row.tobytes() for row in shard1}


def test_missing_cache_gets_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"no offline seqio cache.*USE_CACHED_TASKS=False"):
        batches(config(use_cached=True), 1)


def test_batch_size_must_divide_over_hosts() -> None:
    with pytest.raises(ValueError, match="not divisible"):
        batches(config(batch_size=5), 1, shard=(0, 2))
