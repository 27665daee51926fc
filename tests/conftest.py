"""Test setup: 8 simulated CPU devices (for sharding tests), the shared data directory, shared fixtures.

Helper modules live in `tests/support/`; fixtures used by several test files live here.
"""

import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gin
import pytest

from tests.support import REPO_ROOT

# The data directory as `make` picks it: ../shared/data where it exists (this project's machines), else the
# user's cache that `python -m distill.data download` fills.
_SHARED_DATA = os.path.join(os.path.dirname(REPO_ROOT), "shared", "data")
if "COT_DATA_DIR" not in os.environ:
    from distill.data.data_dir import user_data_dir

    os.environ["COT_DATA_DIR"] = _SHARED_DATA if os.path.isdir(_SHARED_DATA) else user_data_dir()


@pytest.fixture
def fresh_gin(monkeypatch: pytest.MonkeyPatch):
    """A clean gin config per test, run from the repository root (gin includes are relative to it).

    Run gins bind `__main__.train` as T5X's do; ours is exposed on pytest's `__main__`.
    """
    from distill.engine.train import train

    monkeypatch.setattr(sys.modules["__main__"], "train", train, raising=False)
    monkeypatch.chdir(REPO_ROOT)
    gin.clear_config(clear_constants=True)
    yield
    gin.clear_config(clear_constants=True)
