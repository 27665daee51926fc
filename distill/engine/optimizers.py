"""Optimizer definitions: optax transformations that the trainer scales by the learning rate.

Each definition's `create()` returns an optax transformation producing the descent direction
for a unit learning rate. The trainer multiplies it by `learning_rate_fn(train_state.step)`,
so, as in T5X, the schedule follows the train state's step (which continues from the
restored checkpoint) and one schedule serves every optimizer.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import optax


class OptimizerDef(Protocol):
    def create(self) -> optax.GradientTransformation: ...


@dataclasses.dataclass(frozen=True)
class AdamW:
    """AdamW (the paper's optimizer) with optional global-norm clipping.

    Weight decay is decoupled and scaled by the learning rate, as in PyTorch's AdamW.
    """

    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    global_norm_clip: float | None = 1.0

    def create(self) -> optax.GradientTransformation:
        adamw = optax.adamw(1.0, b1=self.b1, b2=self.b2, eps=self.eps, weight_decay=self.weight_decay)
        if self.global_norm_clip is None:
            return adamw
        return optax.chain(optax.clip_by_global_norm(self.global_norm_clip), adamw)
