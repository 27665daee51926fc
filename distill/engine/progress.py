"""Training observability: a console progress line and TensorBoard scalars (host 0 only)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping

import jax

from distill.contracts.progress import duration

log = logging.getLogger(__name__)


class ScalarWriter:
    """TensorBoard event files under MODEL_DIR/<name> (tensorboardX, no tensorflow needed)."""

    def __init__(self, log_dir: str) -> None:
        self._writer = None
        if jax.process_index() != 0:
            return
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            log.warning("tensorboardX is not installed; no TensorBoard scalars in %s", log_dir)
            return
        os.makedirs(log_dir, exist_ok=True)
        self._writer = SummaryWriter(log_dir)

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        if self._writer is None:
            return
        for name, value in scalars.items():
            self._writer.add_scalar(name, value, step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class ProgressLine:
    """`step 120/1000 | loss 912.3 (2.34/token) | acc 0.41 | lr 1.0e-03 | 12.3k tok/s | ETA 7m45s`."""

    def __init__(self, total_steps: int, start_step: int) -> None:
        self.total_steps = total_steps
        self._last_time = time.monotonic()
        self._last_step = start_step

    def timing(self, step: int, target_tokens: float) -> dict[str, float]:
        now = time.monotonic()
        elapsed = max(now - self._last_time, 1e-9)
        steps = max(step - self._last_step, 1)
        self._last_time, self._last_step = now, step
        return {
            "timing/seconds_per_step": elapsed / steps,
            "timing/steps_per_second": steps / elapsed,
            "timing/target_tokens_per_second": target_tokens / elapsed,
        }

    def show(self, step: int, summary: Mapping[str, float]) -> None:
        if jax.process_index() != 0:
            return
        eta = (self.total_steps - step) * summary["timing/seconds_per_step"]
        tokens = summary["timing/target_tokens_per_second"]
        teacher_kl = f"teacher KL {summary['teacher_kl']:.3f} | " if "teacher_kl" in summary else ""
        print(
            f"step {step}/{self.total_steps} | loss {summary['loss']:.4f} "
            f"({summary['loss_per_nonpadding_target_token']:.4f}/token) | acc {summary['accuracy']:.3f} | {teacher_kl}"
            f"lr {summary['learning_rate']:.2e} | {tokens / 1000:.1f}k tok/s | "
            f"{summary['timing/seconds_per_step']:.3f} s/step | ETA {duration(eta)}",
            flush=True,
        )
