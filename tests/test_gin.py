"""T5X-style gin flags: file order, --gin.X overrides, and clear errors naming the gin file."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import gin
import pytest

from distill.engine import gin_utils
from tests.support import REPO_ROOT
from tests.support.gin_flags import parse

DEMO = "gin/experiments/demo_micro.gin"
FINETUNE = "gin/runs/finetune.gin"
pytestmark = pytest.mark.usefixtures("fresh_gin")


def test_rewrite_gin_args() -> None:
    args = ["train_t5x.py", '--gin.MODEL_DIR="/tmp/x"', "--gin.train/utils.DatasetConfig.batch_size=4", "--other=1"]
    assert gin_utils.rewrite_gin_args(args) == [
        "train_t5x.py",
        '--gin_bindings=MODEL_DIR = "/tmp/x"',
        "--gin_bindings=train/utils.DatasetConfig.batch_size = 4",
        "--other=1",
    ]
    with pytest.raises(ValueError, match=re.escape("--gin.<param>=<value>")):
        gin_utils.rewrite_gin_args(["--gin.MODEL_DIR"])


def test_macro_and_scoped_overrides_win() -> None:
    parse(
        [DEMO],
        [
            '--gin.MODEL_DIR="/tmp/run"',
            "--gin.TRAIN_STEPS=7",
            "--gin.TASK_FEATURE_LENGTHS={'inputs': 16, 'targets': 8}",
            "--gin.train/utils.DatasetConfig.batch_size=4",
            "--gin.network.T5Config.num_heads=4",
        ],
    )
    assert gin.query_parameter("%TRAIN_STEPS") == 7
    assert gin.query_parameter("%MODEL_DIR") == "/tmp/run"
    assert gin.query_parameter("%TASK_FEATURE_LENGTHS") == {"inputs": 16, "targets": 8}
    assert gin.query_parameter("train/utils.DatasetConfig.batch_size") == 4
    assert gin.query_parameter("network.T5Config.num_heads") == 4
    assert gin.query_parameter("network.T5Config.emb_dim") == 32  # from byt5/micro.gin via the include


def test_later_gin_files_override_earlier_ones(tmp_path) -> None:
    override = tmp_path / "override.gin"
    override.write_text("TRAIN_STEPS = 11\nBATCH_SIZE = 2\n")
    parse([DEMO, str(override)], ['--gin.MODEL_DIR="/tmp/run"'])
    assert gin.query_parameter("%TRAIN_STEPS") == 11
    assert gin.query_parameter("%BATCH_SIZE") == 2


def test_misspelled_macro_is_rejected_with_a_suggestion() -> None:
    with pytest.raises(gin_utils.GinConfigError) as err:
        parse([DEMO], ['--gin.MODEL_DIR="/tmp/run"', "--gin.TRAIN_STPES=5"])
    message = str(err.value)
    assert "TRAIN_STPES" in message and "Did you mean TRAIN_STEPS?" in message
    assert FINETUNE in message


def test_missing_required_macro_names_the_gin_file() -> None:
    with pytest.raises(gin_utils.GinConfigError) as err:
        parse(["gin/models/byt5/micro.gin", FINETUNE], [])
    message = str(err.value)
    for macro in (
        "MODEL_DIR",
        "MIXTURE_OR_TASK_NAME",
        "TASK_FEATURE_LENGTHS",
        "TRAIN_STEPS",
        "INITIAL_CHECKPOINT_PATH",
    ):
        assert macro in message
    assert FINETUNE in message and "%gin.REQUIRED" in message


def test_undefined_macro_names_the_gin_file(tmp_path) -> None:
    broken = tmp_path / "broken.gin"
    broken.write_text(
        "from __gin__ import dynamic_registration\nfrom distill.engine import utils\n"
        "utils.SaveCheckpointConfig.period = %SAVE_EVERY\n"
    )
    with pytest.raises(gin_utils.GinConfigError, match=r"SAVE_EVERY.*broken\.gin"):
        parse([DEMO, str(broken)], ['--gin.MODEL_DIR="/tmp/run"'])


def test_misspelled_parameter_is_rejected() -> None:
    with pytest.raises(ValueError, match="batchsize"):
        parse([DEMO], ['--gin.MODEL_DIR="/tmp/run"', "--gin.train/utils.DatasetConfig.batchsize=4"])


def test_missing_gin_file_is_reported() -> None:
    with pytest.raises(gin_utils.GinConfigError, match=r"no_such\.gin"):
        parse(["gin/models/no_such.gin"], [])


@pytest.mark.e2e
def test_cli_reports_a_bad_macro_and_exits_nonzero(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "train_t5x.py", f"--gin_file={DEMO}", f'--gin.MODEL_DIR="{tmp_path}"', "--gin.BATCH_SIZ=4"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode != 0
    assert "BATCH_SIZ" in result.stderr and "Did you mean BATCH_SIZE?" in result.stderr
    assert not os.listdir(tmp_path), "nothing is written before the config is valid"
