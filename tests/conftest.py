"""Test setup: 8 simulated CPU devices (for sharding tests) and the shared data directory."""

import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("COT_DATA_DIR", os.path.join(os.path.dirname(REPO_ROOT), "shared", "data"))
sys.path.insert(0, REPO_ROOT)
