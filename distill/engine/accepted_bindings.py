"""T5X bindings the engine accepts but does not act on, and the one log line each gets.

T5X's run gins (configs/runs/{finetune,pretrain,eval,infer}.gin) and model gins bind a few
parameters whose T5X machinery the engine does without (dataset-iterator checkpoints, hardware
RNG, chunked inference checkpoints, ...). They are accepted so the files parse unchanged. A run
that binds one to something other than what the engine does anyway is told so once, at parse
time, with what happens instead: silence would let a user believe the setting took effect.
docs/coming_from_t5x.md lists the same table.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import gin

from distill.engine.gin_utils import bound_values

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Accepted:
    instead: str  # What the engine does instead.
    same: tuple[Any, ...] = ()  # Bound values that ask for exactly that (nothing to report).


# Keyed by the configurable's defining module and name, so `from t5x import utils` and
# `from distill.engine import utils` bindings are the same entry.
ACCEPTED: dict[tuple[str, str], Accepted] = {
    ("distill.engine.train.train", "use_hardware_rng"): Accepted(
        "dropout always uses the reproducible threefry RNG", same=(False,)
    ),
    ("distill.engine.utils.SaveCheckpointConfig", "dtype"): Accepted(
        "params are saved in their training dtype", same=("float32",)
    ),
    ("distill.engine.utils.SaveCheckpointConfig", "save_dataset"): Accepted(
        "no dataset-iterator state is saved: the batch order is a function of (seed, step), so a resumed run "
        "replays it exactly",
        same=(False,),
    ),
    ("distill.engine.utils.RestoreCheckpointConfig", "mode"): Accepted(
        "one checkpoint is restored: the path given, or a model directory's latest committed checkpoint "
        "('all', evaluating every checkpoint of a directory, is not implemented)",
        same=("specific", "latest"),
    ),
    ("distill.engine.utils.RestoreCheckpointConfig", "dtype"): Accepted(
        "params are restored into the model's parameter dtype (float32), not cast", same=("float32", None)
    ),
    ("distill.engine.utils.RestoreCheckpointConfig", "strict"): Accepted(
        "every parameter must be in the checkpoint; optimizer state restores only when resuming a run",
        same=(True,),
    ),
    ("distill.engine.utils.RestoreCheckpointConfig", "fallback_to_scratch"): Accepted(
        "a missing checkpoint is an error", same=(False,)
    ),
    ("distill.engine.utils.RestoreCheckpointConfig", "restore_dataset"): Accepted(
        "no dataset-iterator state is restored (none is needed)", same=(False,)
    ),
    ("distill.engine.utils.DatasetConfig", "use_memory_cache"): Accepted(
        "train-eval batches are re-read at each evaluation (seqio.Evaluator.use_memory_cache still applies)",
        same=(False,),
    ),
    ("distill.engine.inference.infer", "checkpoint_period"): Accepted(
        "output lines are flushed and fsynced every batch, and a restart resumes after the last complete line"
    ),
    ("distill.engine.adafactor.Adafactor", "logical_factor_rules"): Accepted(
        "factoring follows the two largest dimensions, which is what T5X's standard rules give for every T5 parameter",
        same=("@standard_logical_factor_rules",),
    ),
}
_LOGGED: set[tuple[str, str]] = set()


def log_unimplemented() -> list[str]:
    """Logs (once per process) each bound parameter the engine accepts without acting on; returns the lines."""
    lines = []
    for (name, param), accepted in ACCEPTED.items():
        for scope, selector, value in bound_values(name, param):
            if isinstance(value, gin.config.ConfigurableReference):
                value = "@" + value.configurable.wrapped.__name__
            if value in accepted.same or (selector, param) in _LOGGED:
                continue
            _LOGGED.add((selector, param))
            where = f"{scope}/{selector}" if scope else selector
            lines.append(f"{where}.{param} = {value!r} is accepted but not implemented: {accepted.instead}.")
            log.info(lines[-1])
    return lines
