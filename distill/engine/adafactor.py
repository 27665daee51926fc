"""Adafactor with T5X's defaults and argument names, built from optax's components.

T5X's fine-tuning recipe: factored second moments (for parameters whose two largest dims
are >= 128), decay rate 0.8 (beta2_t = 1 - (t+1)^-0.8), update clipping at RMS 1.0,
updates scaled by max(RMS(param), 1e-3), no momentum, constant learning rate 1e-3.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import optax


@dataclasses.dataclass(frozen=True)
class Adafactor:
    """Gin-configurable like `t5x.adafactor.Adafactor`; `create()` gives the optax transformation.

    `logical_factor_rules` is accepted for gin compatibility: T5X itself falls back to the
    largest-two-dims heuristic for every T5 parameter (none has a batch-like axis), which is
    what optax implements.
    """

    learning_rate: float | None = None
    factored: bool = True
    multiply_by_parameter_scale: bool = True
    beta1: float | None = None
    decay_rate: float = 0.8
    step_offset: int = 0
    clipping_threshold: float | None = 1.0
    weight_decay_rate: float | None = None
    min_dim_size_to_factor: int = 128
    epsilon1: float = 1e-30
    epsilon2: float = 1e-3
    dtype_momentum: Any = jnp.float32
    global_norm_clip_threshold: float | None = None
    logical_factor_rules: Any = None

    def create(self) -> optax.GradientTransformation:
        if self.learning_rate is not None:
            raise ValueError(
                "Adafactor.learning_rate is not used: set the schedule with "
                "utils.create_learning_rate_scheduler (as T5X's Trainer does)."
            )
        chain = []
        if self.global_norm_clip_threshold is not None:
            chain.append(optax.clip_by_global_norm(self.global_norm_clip_threshold))
        chain.append(
            optax.scale_by_factored_rms(
                self.factored, self.decay_rate, self.step_offset, self.min_dim_size_to_factor, self.epsilon1
            )
        )
        if self.clipping_threshold is not None:
            chain.append(optax.clip_by_block_rms(self.clipping_threshold))
        if self.multiply_by_parameter_scale:
            chain.append(optax.scale_by_param_block_rms(self.epsilon2))
        if self.beta1 is not None:
            chain.append(optax.ema(self.beta1, debias=False, accumulator_dtype=self.dtype_momentum))
        if self.weight_decay_rate is not None:
            chain.append(optax.add_decayed_weights(self.weight_decay_rate))
        chain.append(optax.scale(-1.0))
        return optax.chain(*chain)


def standard_logical_factor_rules() -> dict[str, str]:
    """T5X's factor rules (kept so T5X model gins parse; see `Adafactor.logical_factor_rules`)."""
    return {
        "vocab": "COLUMN",
        "embed": "ROW",
        "mlp": "COLUMN",
        "heads": "COLUMN",
        "kv": "COLUMN",
        "joined_kv": "COLUMN",
        "relpos_buckets": "NONE",
        "layer_norm_scale": "NONE",
        "layers": "BATCH",
        "stack": "BATCH",
    }
