"""The engine modules import with tensorflow and seqio absent.

Why: the engine must train (and be benchmarked) on machines without tensorflow/seqio, e.g. a
bare GPU machine. A subprocess blocks those packages with a `sys.meta_path` finder, imports every
module of `distill.engine`, and runs one train step of the micro model. Any import of a blocked
package from an engine file fails the test, even one guarded by `try/except ImportError`.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest

from tests.support import REPO_ROOT

pytestmark = pytest.mark.e2e  # runs the project's commands as subprocesses


CHILD = textwrap.dedent(
    """
    import importlib
    import json
    import pkgutil
    import sys

    from tests.support import blocked_imports

    blocked_imports.install()

    import distill.engine

    modules = sorted(m.name for m in pkgutil.walk_packages(distill.engine.__path__, "distill.engine."))
    for module in modules:
        importlib.import_module(module)

    import jax

    from distill.engine import partitioning, trainer, utils
    from tests.support import micro

    batch = micro.random_batch()
    partitioner = partitioning.PjitPartitioner(num_partitions=1, devices=jax.devices()[:1])
    schedule = utils.create_learning_rate_scheduler("constant", base_learning_rate=1e-3)
    t = trainer.Trainer(micro.micro_model(), partitioner, schedule, micro.input_shapes(batch))
    state = t.init_state(jax.random.PRNGKey(0))
    state, metrics = t.train_step(state, batch, jax.random.PRNGKey(1))
    loss = float(metrics["loss"])

    print(json.dumps({
        "modules": modules,
        "loss": loss,
        "step": int(state.step),
        **blocked_imports.report(),
    }))
    """
)


def test_engine_imports_and_trains_without_tensorflow_and_seqio() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")]))},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"child failed:\n{proc.stderr[-5000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    engine_dir = os.path.join(REPO_ROOT, "distill", "engine")
    from_engine = [(name, path) for name, path in report["attempts"] if path.startswith(engine_dir)]
    assert not from_engine, f"engine modules import tensorflow/seqio: {from_engine}"
    assert not report["loaded"], report["loaded"]
    assert {"distill.engine.network", "distill.engine.trainer", "distill.engine.train"} <= set(report["modules"])
    assert report["step"] == 1
    assert math.isfinite(report["loss"]), report["loss"]
