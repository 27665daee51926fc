"""Preemption: a run killed with SIGKILL after a checkpoint and restarted ends with the same params,
bit for bit, as an uninterrupted run of the same number of steps.

SIGKILL gives the run no chance to save (unlike SIGTERM), so the restart must resume from the
last finalized checkpoint and replay exactly what an uninterrupted run does after it: the data
stream from that step and the dropout RNG. Restarting from scratch would also reproduce the
params, so the test checks separately that the restart resumed.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support import runs

pytestmark = pytest.mark.e2e  # runs the project's commands as subprocesses

STEPS = 40
SAVE_PERIOD = 5
TIMEOUT_S = 600  # Generous: the CPU is shared; a normal run takes well under a minute.


def test_sigkill_after_checkpoint_then_restart_matches_uninterrupted_run(tmp_path: Path) -> None:
    # One compilation cache for all three processes: they compile the same programs.
    env = runs.subprocess_env(devices=1, compilation_cache=str(tmp_path / "xla_cache"))
    uninterrupted_dir, preempted_dir = str(tmp_path / "uninterrupted"), str(tmp_path / "preempted")
    preempted_command = runs.train_command(preempted_dir, STEPS, save_period=SAVE_PERIOD)

    with runs.cleanup([]) as procs:
        first = runs.Run(preempted_command, env, str(tmp_path / "preempted_first"))
        procs.append(first)
        runs.wait_for(lambda: any(step > 0 for step in runs.finalized_steps(preempted_dir)), TIMEOUT_S, first)
        os.kill(first.pid, signal.SIGKILL)
        first.proc.wait(timeout=60)
        assert first.proc.returncode == -signal.SIGKILL, f"the run ended before it was killed\n{first.logs()}"
        steps_at_kill = runs.finalized_steps(preempted_dir)
        assert STEPS not in steps_at_kill, f"killed too late to test anything: {steps_at_kill}; raise STEPS"
        resume_step = max(steps_at_kill)

        # The restart and the uninterrupted reference run side by side (both hit the compilation cache).
        restarted = runs.Run(preempted_command, env, str(tmp_path / "preempted_restart"))
        uninterrupted = runs.Run(
            runs.train_command(uninterrupted_dir, STEPS, save_period=SAVE_PERIOD), env, str(tmp_path / "uninterrupted")
        )
        procs += [restarted, uninterrupted]
        runs.wait_all([restarted, uninterrupted], TIMEOUT_S)

    log = restarted.stderr()
    assert f"Resuming from checkpoint {resume_step} " in log, f"the restart did not resume\n{restarted.logs()}"
    assert f"Training from step {resume_step} to {STEPS}" in log, restarted.logs()

    before_kill = runs.load_checkpoint(preempted_dir, resume_step)
    assert before_kill["state/step"] == resume_step
    runs.assert_bitwise_equal(
        runs.load_checkpoint(uninterrupted_dir, resume_step), before_kill, f"checkpoint {resume_step} (before the kill)"
    )
    final_uninterrupted = runs.load_checkpoint(uninterrupted_dir, STEPS)
    final_preempted = runs.load_checkpoint(preempted_dir, STEPS)
    runs.assert_bitwise_equal(runs.params_of(final_uninterrupted), runs.params_of(final_preempted), "final params")
    runs.assert_bitwise_equal(final_uninterrupted, final_preempted, "final train state (params, optimizer state, step)")
