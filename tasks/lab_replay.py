"""Replay of the lab's general suite inside a distillation mixture (the lab's `replay` arm).

`with_replay` (gin-callable) returns `{mixture}_replay`: the distillation mixture's tasks at their
rates plus the general suite's train split at `fraction` of all examples drawn. The distillation
converter needs teacher rows on every example, so the general examples carry rows without mass
(`NO_MASS`): the distillation loss trains them with NLL, as it does answer-only records.
"""

from __future__ import annotations

import gin
import seqio
import tensorflow as tf

from distill.contracts.distill_examples import NO_MASS, TEACHER_IDS, TEACHER_LOGPROBS
from distill.data import general_suite
from tasks import registry, teacher_features


def _general_train_rows() -> tuple[dict[str, str], ...]:
    pairs = general_suite.task_formats()
    return tuple(row for task, fmt in pairs for row in general_suite.examples(task, fmt, "train"))


def _no_mass_rows(top_k: int):
    @seqio.map_over_dataset
    def add_rows(features):
        shape = [tf.shape(features["targets"])[0], top_k]
        return {**features, TEACHER_IDS: tf.zeros(shape, tf.int32), TEACHER_LOGPROBS: tf.fill(shape, NO_MASS)}

    return add_rows


@gin.configurable
def with_replay(mixture: str = gin.REQUIRED, fraction: float = 0.1, top_k: int = 5) -> str:
    """Registers (or replaces) and returns `{mixture}_replay`; `top_k` must be the records' K."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"with_replay.fraction must be in (0, 1), got {fraction}")
    distill = seqio.get_mixture_or_task(mixture)
    vocab = distill.tasks[0].output_features["targets"].vocabulary
    text = {name: seqio.Feature(vocab, add_eos=True) for name in ("inputs", "targets")}
    replay_name, name = f"{mixture}_general_replay", f"{mixture}_replay"
    seqio.TaskRegistry.remove(replay_name)
    seqio.MixtureRegistry.remove(name)
    rows = _general_train_rows()
    seqio.TaskRegistry.add(
        replay_name,
        source=seqio.FunctionDataSource(lambda split, shuffle_files, seed=None: registry.tf_dataset(rows), ["train"]),
        preprocessors=[
            seqio.preprocessors.tokenize,
            seqio.CacheDatasetPlaceholder(),
            seqio.preprocessors.append_eos_after_trim,
            _no_mass_rows(top_k),
        ],
        output_features={**text, **teacher_features.TEACHER_OUTPUT_FEATURES},
        metric_fns=[],
    )
    rates = [(task.name, distill.get_rate(task)) for task in distill.tasks]
    replay_rate = sum(rate for _, rate in rates) * fraction / (1.0 - fraction)
    seqio.MixtureRegistry.add(name, [*rates, (replay_name, replay_rate)])
    return name
