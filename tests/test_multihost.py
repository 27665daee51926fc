"""Multi-host: two real processes on loopback (`jax.distributed`, CPU collectives) train a few steps
and end with identical params that equal the single-process run.

Each process has one CPU device, so the 2-process run and the 1-process, 2-device reference
compile the same SPMD program over a ('data': 2) mesh; gradients are summed over two devices
either way, and a sum of two floats does not depend on order, so equality is bitwise. (With
more devices per process the all-reduce order could differ between gloo and the in-process
reduction, and only a tolerance would hold.)

seqio shards examples across hosts before shuffling, so a 2-host run's global batches are not
a 1-host run's. The reference therefore reads both hosts' shards itself
(`runs.get_dataset_as_hosts`) and trains on exactly the batches the 2-process run assembles.
CPU collectives need no setup: jax 0.10 uses gloo whenever `jax.distributed` is initialized.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support import runs

pytestmark = pytest.mark.e2e  # runs the project's commands as subprocesses

STEPS = 6
PROCESSES = 2
TIMEOUT_S = 600  # Generous: three processes share the CPU; together they take about 1.5 minutes.


@pytest.mark.skipif(
    not socket.gethostbyname(socket.gethostname()).startswith("127."),
    reason="gloo binds to the address of this machine's hostname; the test only sends traffic over loopback",
)
def test_two_processes_match_each_other_and_the_single_process_run(tmp_path: Path) -> None:
    multi_dir, single_dir = str(tmp_path / "multi"), str(tmp_path / "single")
    coordinator = f"127.0.0.1:{runs.free_port()}"

    with runs.cleanup([]) as procs:
        for index in range(PROCESSES):
            flags = [
                "--multiprocess_gpu",
                f"--coordinator_address={coordinator}",
                f"--process_count={PROCESSES}",
                f"--process_index={index}",
                "--initialization_timeout=300",
            ]
            command = runs.train_command(multi_dir, STEPS, save_period=STEPS, extra=flags, dump_params=True)
            procs.append(runs.Run(command, runs.subprocess_env(devices=1), str(tmp_path / f"process_{index}")))
        single = runs.train_command(single_dir, STEPS, save_period=STEPS, data_of_hosts=PROCESSES)
        procs.append(runs.Run(single, runs.subprocess_env(devices=PROCESSES), str(tmp_path / "single")))
        runs.wait_all(procs, TIMEOUT_S)

    # One checkpoint, written jointly; it holds one copy of each replicated param, so each
    # process's own copy comes from its dump.
    multi = runs.load_checkpoint(multi_dir, STEPS)
    process_params = [runs.dumped_params(multi_dir, index, STEPS) for index in range(PROCESSES)]
    for index, params in enumerate(process_params):
        runs.assert_bitwise_equal(runs.params_of(multi), params, f"process {index}'s params vs the checkpoint")
    runs.assert_bitwise_equal(process_params[0], process_params[1], "params of process 0 vs process 1")

    single_state = runs.load_checkpoint(single_dir, STEPS)
    runs.assert_bitwise_equal(runs.params_of(single_state), runs.params_of(multi), "single- vs multi-process params")
    runs.assert_bitwise_equal(single_state, multi, "single- vs multi-process train state (with optimizer state)")
