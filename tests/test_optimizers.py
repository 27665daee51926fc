"""Adafactor follows T5X's update rule; AdamW and the learning-rate schedules are what gin says."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from distill.engine import adafactor, optimizers, utils


def t5x_adafactor_reference(params, grads_per_step, lr):
    """T5X's Adafactor (decay 0.8, clip 1.0, param scale, no momentum), one parameter at a time."""
    out = {}
    for name, param in params.items():
        p = np.array(param, np.float64)
        factored = p.ndim >= 2 and sorted(p.shape)[-2] >= 128
        r = c = v = None
        for t, grads in enumerate(grads_per_step):
            g = np.array(grads[name], np.float64)
            decay = 1.0 - (t + 1.0) ** -0.8
            g2 = g * g + 1e-30
            if factored:
                r_new, c_new = g2.mean(axis=1), g2.mean(axis=0)
                r = r_new * (1 - decay) if r is None else decay * r + (1 - decay) * r_new
                c = c_new * (1 - decay) if c is None else decay * c + (1 - decay) * c_new
                y = g / np.sqrt(np.outer(r, c) / r.mean())
            else:
                v = g2 * (1 - decay) if v is None else decay * v + (1 - decay) * g2
                y = g / np.sqrt(v)
            y = y / max(1.0, np.sqrt(np.mean(y * y)) / 1.0)
            p = p - lr * max(np.sqrt(np.mean(p * p)), 1e-3) * y
        out[name] = p
    return out


def test_adafactor_matches_t5x_update_rule() -> None:
    rng = np.random.RandomState(0)
    shapes = {"factored": (256, 128), "unfactored": (64, 32), "vector": (48,)}
    params = {k: jnp.asarray(rng.randn(*s) * 0.05, jnp.float32) for k, s in shapes.items()}
    grads = [{k: jnp.asarray(rng.randn(*s), jnp.float32) for k, s in shapes.items()} for _ in range(3)]
    tx = adafactor.Adafactor().create()
    state, current, lr = tx.init(params), params, 1e-3
    for g in grads:
        direction, state = tx.update(g, state, current)
        current = jax.tree_util.tree_map(lambda p, d: p + lr * d, current, direction)
    expected = t5x_adafactor_reference(params, grads, lr)
    for name in shapes:
        np.testing.assert_allclose(current[name], expected[name], rtol=1e-5, atol=1e-7, err_msg=name)


def test_adafactor_rejects_its_own_learning_rate() -> None:
    with pytest.raises(ValueError, match="create_learning_rate_scheduler"):
        adafactor.Adafactor(learning_rate=1e-3).create()


def test_adamw_direction_times_lr_equals_optax_adamw() -> None:
    rng = np.random.RandomState(1)
    params = {"w": jnp.asarray(rng.randn(8, 4), jnp.float32)}
    grads = [{"w": jnp.asarray(rng.randn(8, 4), jnp.float32)} for _ in range(3)]
    ours = optimizers.AdamW(weight_decay=0.01, global_norm_clip=None).create()
    schedule = utils.create_learning_rate_scheduler("constant * linear_warmup", 5e-4, warmup_steps=2)
    reference = optax.adamw(schedule, weight_decay=0.01)
    a, b = params, params
    state_a, state_b = ours.init(a), reference.init(b)
    for step, g in enumerate(grads):
        direction, state_a = ours.update(g, state_a, a)
        lr = schedule(step)
        a = jax.tree_util.tree_map(lambda p, d, lr=lr: p + lr * d, a, direction)
        updates, state_b = reference.update(g, state_b, b)
        b = optax.apply_updates(b, updates)
    np.testing.assert_allclose(a["w"], b["w"], rtol=1e-6)


@pytest.mark.parametrize(
    ("factors", "kwargs", "step", "expected"),
    [
        ("constant", {"base_learning_rate": 0.001}, 1_000_000, 0.001),
        ("constant * rsqrt_decay", {"base_learning_rate": 1.0, "warmup_steps": 10_000}, 5, 0.01),
        ("constant * rsqrt_decay", {"base_learning_rate": 1.0, "warmup_steps": 10_000}, 40_000, 0.005),
        ("constant * linear_warmup", {"base_learning_rate": 5e-4, "warmup_steps": 100}, 25, 1.25e-4),
        (
            "constant * linear_warmup * cosine_decay",
            {"base_learning_rate": 1.0, "warmup_steps": 10, "steps_per_cycle": 100},
            60,
            0.5,
        ),
        ("constant * linear_decay", {"base_learning_rate": 1.0, "warmup_steps": 10, "decay_factor": 0.01}, 60, 0.5),
        ("constant", {"base_learning_rate": 0.0}, 3, 1e-8),  # min_learning_rate clamp
    ],
)
def test_learning_rate_schedules(factors: str, kwargs: dict, step: int, expected: float) -> None:
    schedule = utils.create_learning_rate_scheduler(factors, **kwargs)
    assert float(schedule(jnp.asarray(step))) == pytest.approx(expected, rel=1e-5)


def test_unknown_schedule_factor_is_rejected() -> None:
    with pytest.raises(ValueError, match="linear_warmpu"):
        utils.create_learning_rate_scheduler("constant * linear_warmpu")
