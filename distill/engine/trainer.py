"""Train state and the partitioned, jit-compiled train step (with gradient accumulation).

Follows `t5x/trainer.py`: the learning rate is `learning_rate_fn(state.step)`, the dropout
rng is `fold_in(rng, step)`, microbatches are contiguous slices of the global batch whose
float32 gradients are summed (the loss is a sum, so this equals the full-batch gradient), and
the train state is donated. The loss normalizer is resolved once on the global batch, so
`num_microbatches` never changes the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from distill.engine.models import BaseModel
from distill.engine.partitioning import BasePartitioner
from distill.engine.utils import LearningRateSchedule

Array = jax.Array


@flax.struct.dataclass
class TrainState:
    step: Array
    params: Any
    opt_state: Any


class Trainer:
    """Owns the optimizer, the train-state shardings and the compiled train/eval steps."""

    def __init__(
        self,
        model: BaseModel,
        partitioner: BasePartitioner,
        learning_rate_fn: LearningRateSchedule,
        input_shapes: Mapping[str, tuple[int, ...]],
        num_microbatches: int | None = None,
    ) -> None:
        self.model = model
        self.partitioner = partitioner
        self.learning_rate_fn = learning_rate_fn
        self.num_microbatches = num_microbatches or 1
        self.input_shapes = dict(input_shapes)
        self.tx = model.optimizer_def.create()

        boxed = jax.eval_shape(lambda r: model.get_initial_variables(r, self.input_shapes), jax.random.key(0))
        param_shardings = partitioner.param_shardings(boxed["params"])
        abstract_params = nn.unbox(boxed)["params"]
        abstract_opt, opt_shardings = partitioner.opt_state_shardings(self.tx, abstract_params, param_shardings)
        replicated = partitioner.replicated()
        self.state_shardings = TrainState(step=replicated, params=param_shardings, opt_state=opt_shardings)
        abstract = TrainState(step=jax.ShapeDtypeStruct((), jnp.int32), params=abstract_params, opt_state=abstract_opt)
        self.abstract_state = jax.tree_util.tree_map(
            lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, self.state_shardings
        )
        batch_sharding = partitioner.batch_sharding()
        self._train_step = jax.jit(
            self._step,
            in_shardings=(self.state_shardings, batch_sharding, replicated),
            out_shardings=(self.state_shardings, replicated),
            donate_argnums=(0,),
        )
        self._eval_step = jax.jit(self._eval, in_shardings=(param_shardings, batch_sharding), out_shardings=replicated)

    def init_state(self, rng: Array) -> TrainState:
        """Randomly initialised state, created directly in its sharded layout."""

        def init(rng: Array) -> TrainState:
            params = nn.unbox(self.model.get_initial_variables(rng, self.input_shapes))["params"]
            return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=self.tx.init(params))

        with self.partitioner.activation_context():
            return jax.jit(init, out_shardings=self.state_shardings)(rng)

    def state_from_params(self, params: Any, step: int = 0) -> TrainState:
        """A fresh optimizer state around restored params (INITIAL_CHECKPOINT_PATH)."""
        init = lambda p: TrainState(step=jnp.asarray(step, jnp.int32), params=p, opt_state=self.tx.init(p))  # noqa: E731
        return jax.jit(init, out_shardings=self.state_shardings)(params)

    def train_step(self, state: TrainState, batch: Mapping[str, Array], rng: Array) -> tuple[TrainState, dict]:
        with self.partitioner.activation_context():
            return self._train_step(state, dict(batch), rng)

    def eval_step(self, params: Any, batch: Mapping[str, Array]) -> dict:
        with self.partitioner.activation_context():
            return self._eval_step(params, dict(batch))

    def lower_train_step(self, batch_shapes: Mapping[str, jax.ShapeDtypeStruct]) -> Any:
        """The train step traced and lowered for abstract shapes: no weights, no compile (config checks)."""
        rng = jax.ShapeDtypeStruct((2,), jnp.uint32)
        with self.partitioner.activation_context():
            return self._train_step.lower(self.abstract_state, dict(batch_shapes), rng)

    def compile_train_step(self, batch_shapes: Mapping[str, jax.ShapeDtypeStruct]) -> Any:
        """Ahead-of-time lowering and compilation (for compile-time and memory reports)."""
        lowered = self.lower_train_step(batch_shapes)
        with self.partitioner.activation_context():
            return lowered.compile()

    def _grads(self, params: Any, batch: dict, rng: Array, normalizer: Any) -> tuple[Any, dict]:
        grad_fn = jax.grad(self.model.loss_fn, has_aux=True)
        if self.num_microbatches == 1:
            return grad_fn(params, batch, rng, normalizer)
        batch_size = next(iter(batch.values())).shape[0]
        if batch_size % self.num_microbatches:
            raise ValueError(f"batch size {batch_size} is not divisible by num_microbatches={self.num_microbatches}")
        size = batch_size // self.num_microbatches
        batch_sharding = self.partitioner.batch_sharding()

        def microbatch(i: Array) -> dict:
            return {
                k: jax.lax.with_sharding_constraint(jax.lax.dynamic_slice_in_dim(v, i * size, size), batch_sharding)
                for k, v in batch.items()
            }

        def body(i: Array, carry: tuple[Any, dict]) -> tuple[Any, dict]:
            grads_sum, metrics_sum = carry
            grads, metrics = grad_fn(params, microbatch(i), jax.random.fold_in(rng, i), normalizer)
            grads_sum = jax.tree_util.tree_map(lambda a, g: a + g.astype(jnp.float32), grads_sum, grads)
            return grads_sum, jax.tree_util.tree_map(jnp.add, metrics_sum, metrics)

        zero_grads = jax.tree_util.tree_map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
        zero_metrics = jax.tree_util.tree_map(
            jnp.zeros_like, jax.eval_shape(lambda: grad_fn(params, microbatch(0), rng, normalizer)[1])
        )
        grads, metrics = jax.lax.fori_loop(0, self.num_microbatches, body, (zero_grads, zero_metrics))
        grads = jax.tree_util.tree_map(lambda g, p: g.astype(p.dtype), grads, params)
        return grads, metrics

    def _step(self, state: TrainState, batch: dict, rng: Array) -> tuple[TrainState, dict]:
        weights, normalizer = self.model.loss_weights_and_normalizer(batch)
        batch = {**batch, "decoder_loss_weights": weights}
        grads, metrics = self._grads(state.params, batch, jax.random.fold_in(rng, state.step), normalizer)
        learning_rate = jnp.asarray(self.learning_rate_fn(state.step), jnp.float32)
        direction, opt_state = self.tx.update(grads, state.opt_state, state.params)
        params = jax.tree_util.tree_map(lambda p, d: (p + learning_rate * d).astype(p.dtype), state.params, direction)
        metrics = {**metrics, "learning_rate": learning_rate}
        return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics

    def _eval(self, params: Any, batch: dict) -> dict:
        return self.model.loss_fn(params, batch, None)[1]
