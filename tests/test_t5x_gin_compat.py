"""T5X users' own gin files run unchanged: `t5x.*` module names, includes through a T5X checkout on
--gin_search_paths, and a task module named by MIXTURE_OR_TASK_MODULE that defines gin configurables.

The gin files here are written in T5X's form (not copied from T5X): `from t5x import utils`,
`from t5x.examples.t5 import network`, `import __main__ as train_script`, an include of
`t5x/examples/...` that only the search path finds.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
import textwrap
from typing import Any

import gin
import pytest

from distill.engine import accepted_bindings, gin_utils, inference, models, t5x_modules
from tests.support import REPO_ROOT
from tests.support.runs import subprocess_env

pytestmark = pytest.mark.usefixtures("fresh_gin")

# A model gin as a T5X checkout holds it: t5x/examples/t5/<family>/<size>.gin.
MODEL_GIN = """
from __gin__ import dynamic_registration

import seqio
from t5x import adafactor
from t5x import models
from t5x.examples.t5 import network

DROPOUT_RATE = %gin.REQUIRED
VOCABULARY = @seqio.ByteVocabulary()
OPTIMIZER = @adafactor.Adafactor()
adafactor.Adafactor:
  decay_rate = 0.8
  step_offset = 0
  logical_factor_rules = @adafactor.standard_logical_factor_rules()

MODEL = @models.EncoderDecoderModel()
models.EncoderDecoderModel:
  module = @network.Transformer()
  input_vocabulary = %VOCABULARY
  output_vocabulary = %VOCABULARY
  optimizer_def = %OPTIMIZER
  z_loss = 0.0001

network.Transformer.config = @network.T5Config()
network.T5Config:
  vocab_size = 384
  dtype = 'float32'
  emb_dim = 8
  num_heads = 2
  num_encoder_layers = 1
  num_decoder_layers = 1
  head_dim = 4
  mlp_dim = 16
  mlp_activations = ('gelu', 'linear')
  dropout_rate = %DROPOUT_RATE
  logits_via_embedding = False
"""

# The user's experiment gins: run settings bound through T5X's module names.
TRAIN_GIN = """
from __gin__ import dynamic_registration

import __main__ as train_script
import t5x.models
from t5x import gin_utils
from t5x import partitioning
from t5x import trainer
from t5x import utils

include 't5x/examples/t5/byte/micro.gin'

MIXTURE_OR_TASK_MODULE = None
DROPOUT_RATE = 0.0

train_script.train:
  model = %MODEL
  model_dir = %MODEL_DIR
  train_dataset_cfg = @train/utils.DatasetConfig()
  train_eval_dataset_cfg = None
  infer_eval_dataset_cfg = None
  checkpoint_cfg = @utils.CheckpointConfig()
  partitioner = @partitioning.PjitPartitioner()
  trainer_cls = @trainer.Trainer
  total_steps = %TRAIN_STEPS
  random_seed = 0
  use_hardware_rng = True
  summarize_config_fn = @gin_utils.summarize_gin_config

t5x.models.EncoderDecoderModel.label_smoothing = 0.0
partitioning.PjitPartitioner.num_partitions = 1

train/utils.DatasetConfig:
  mixture_or_task_name = %MIXTURE_OR_TASK_NAME
  task_feature_lengths = %TASK_FEATURE_LENGTHS
  split = 'train'
  batch_size = 4
  shuffle = True
  pack = True
  module = %MIXTURE_OR_TASK_MODULE

utils.CheckpointConfig:
  restore = @utils.RestoreCheckpointConfig()
  save = @utils.SaveCheckpointConfig()
utils.RestoreCheckpointConfig.path = []
utils.SaveCheckpointConfig:
  period = 1000
  dtype = 'float32'
  save_dataset = False

trainer.Trainer:
  num_microbatches = None
  learning_rate_fn = @utils.create_learning_rate_scheduler()
utils.create_learning_rate_scheduler.factors = 'constant'
"""

EVAL_GIN = """
from __gin__ import dynamic_registration

import __main__ as eval_script
import seqio
from t5x import partitioning
from t5x import utils

include 't5x/examples/t5/byte/micro.gin'

MIXTURE_OR_TASK_MODULE = None

eval_script.evaluate:
  model = %MODEL
  dataset_cfg = @utils.DatasetConfig()
  partitioner = @partitioning.PjitPartitioner()
  restore_checkpoint_cfg = @utils.RestoreCheckpointConfig()
  output_dir = %EVAL_OUTPUT_DIR
  inference_evaluator_cls = @seqio.Evaluator

partitioning.PjitPartitioner.num_partitions = 1
seqio.Evaluator.logger_cls = [@seqio.JSONLogger]

utils.DatasetConfig:
  mixture_or_task_name = %MIXTURE_OR_TASK_NAME
  task_feature_lengths = None
  split = 'test'
  batch_size = 4
  shuffle = False
  seed = 42
  module = %MIXTURE_OR_TASK_MODULE

utils.RestoreCheckpointConfig:
  path = %CHECKPOINT_PATH
  mode = 'specific'
"""

INFER_GIN = """
from __gin__ import dynamic_registration

import __main__ as infer_script
from t5x import partitioning
from t5x import utils

include 't5x/examples/t5/byte/micro.gin'

MIXTURE_OR_TASK_MODULE = None

infer_script.infer:
  mode = 'predict'
  model = %MODEL
  output_dir = %INFER_OUTPUT_DIR
  dataset_cfg = @utils.DatasetConfig()
  partitioner = @partitioning.PjitPartitioner()
  restore_checkpoint_cfg = @utils.RestoreCheckpointConfig()
  checkpoint_period = 100

partitioning.PjitPartitioner.num_partitions = 1

utils.DatasetConfig:
  mixture_or_task_name = %MIXTURE_OR_TASK_NAME
  module = %MIXTURE_OR_TASK_MODULE
  task_feature_lengths = %TASK_FEATURE_LENGTHS
  split = 'test'
  batch_size = 4
  shuffle = False
  seed = 0

utils.RestoreCheckpointConfig:
  path = %CHECKPOINT_PATH
  mode = 'specific'
  dtype = 'bfloat16'
"""

# The user's task module: registers its task and, like many T5X task modules, defines a gin
# configurable at import (which gin refuses once the config is locked).
TASK_MODULE = """
import gin
import seqio

@gin.configurable
def word_count(count=6):
    return count

def _dataset(split, shuffle_files, seed=None):
    import tensorflow as tf
    words = ["ab", "cd", "ef", "gh", "ij", "kl"][: word_count()]
    return tf.data.Dataset.from_tensor_slices({"inputs": words, "targets": [w[::-1] for w in words]})

def exact_match(targets, predictions):
    return {"exact_match": 100.0 * sum(t == p for t, p in zip(targets, predictions)) / len(targets)}

FEATURES = {k: seqio.Feature(seqio.ByteVocabulary(), add_eos=True) for k in ("inputs", "targets")}
seqio.TaskRegistry.add(
    "user_reverse_words",
    source=seqio.FunctionDataSource(_dataset, splits=("train", "test")),
    preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos_after_trim],
    output_features=FEATURES,
    metric_fns=[exact_match],
)
"""


def write(path: str, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(textwrap.dedent(text))
    return path


@pytest.fixture
def user_files(tmp_path):
    """A T5X checkout (only the model gin) and a user's directory: experiment gins and task module."""
    checkout, work = tmp_path / "t5x_checkout", tmp_path / "work"
    write(str(checkout / "t5x/examples/t5/byte/micro.gin"), MODEL_GIN)
    for name, text in [("train.gin", TRAIN_GIN), ("eval.gin", EVAL_GIN), ("infer.gin", INFER_GIN)]:
        write(str(work / name), text)
    write(str(work / "user_tasks.py"), TASK_MODULE)
    return str(checkout), str(work)


def test_t5x_module_names_are_the_engine_modules() -> None:
    t5x_modules.install()
    import t5x.models
    from t5x.examples.t5 import network

    from distill.engine import models
    from distill.engine import network as engine_network

    assert t5x.models is models and network is engine_network
    assert models.__spec__.name == "distill.engine.models", "the engine module keeps its own identity"
    with pytest.raises(ImportError, match=r"t5x\.export_lib.*t5x\.adafactor"):
        import t5x.export_lib


def test_t5x_and_engine_names_bind_the_same_configurable(user_files, monkeypatch) -> None:
    checkout, work = user_files
    monkeypatch.chdir(work)
    gin_utils.parse_gin_flags(
        [checkout],
        ["t5x/examples/t5/byte/micro.gin", os.path.join(REPO_ROOT, "gin/runs/finetune.gin")],
        [
            'MODEL_DIR = "/tmp/unused"',
            'MIXTURE_OR_TASK_NAME = "user_reverse_words"',
            "TASK_FEATURE_LENGTHS = {'inputs': 8, 'targets': 8}",
            "TRAIN_STEPS = 1",
            "INITIAL_CHECKPOINT_PATH = None",
            "DROPOUT_RATE = 0.0",
            "models.EncoderDecoderModel.z_loss = 0.5",  # our finetune.gin's `distill.engine.models` alias
        ],
    )
    # Looked up by the class, not by a selector string: gin keys a configurable by the first module
    # name it was registered under, and other tests in this process may have parsed our gin files first.
    model = gin.get_configurable(models.EncoderDecoderModel)()
    assert model.target_loss.z_loss == 0.5 and model.module.config.emb_dim == 8  # T5X's file and ours, one binding


def test_task_module_defining_configurables_is_imported_before_the_config_locks(user_files, monkeypatch) -> None:
    checkout, work = user_files
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(work)  # train_t5x.py puts the working directory on sys.path
    monkeypatch.delitem(sys.modules, "user_tasks", raising=False)
    bindings = ['MODEL_DIR = "/tmp/unused"', "TASK_FEATURE_LENGTHS = {'inputs': 8, 'targets': 8}", "TRAIN_STEPS = 1"]
    bindings += ['MIXTURE_OR_TASK_NAME = "user_reverse_words"', 'MIXTURE_OR_TASK_MODULE = "user_tasks"']
    gin_utils.parse_gin_flags([checkout], ["train.gin"], bindings)  # finalizes: the config is locked after
    assert gin.config_is_locked()
    assert "user_tasks" in sys.modules and gin.get_configurable("user_tasks.word_count")() == 6


def test_task_module_import_error_names_the_module(user_files, monkeypatch) -> None:
    checkout, work = user_files
    monkeypatch.chdir(work)
    bindings = ['MODEL_DIR = "/tmp/unused"', "TASK_FEATURE_LENGTHS = {'inputs': 8, 'targets': 8}", "TRAIN_STEPS = 1"]
    bindings += ['MIXTURE_OR_TASK_NAME = "x"', 'MIXTURE_OR_TASK_MODULE = "no_such_user_tasks"']
    with pytest.raises(gin_utils.GinConfigError, match="'no_such_user_tasks' failed to import: ModuleNotFoundError"):
        gin_utils.parse_gin_flags([checkout], ["train.gin"], bindings)


def test_accepted_but_unimplemented_bindings_are_logged_once(user_files, monkeypatch, caplog) -> None:
    checkout, work = user_files
    monkeypatch.chdir(work)
    monkeypatch.setattr(accepted_bindings, "_LOGGED", set())
    monkeypatch.setattr(sys.modules["__main__"], "infer", inference.infer, raising=False)
    bindings = ['INFER_OUTPUT_DIR = "/tmp/unused"', 'CHECKPOINT_PATH = "/tmp/unused"', "DROPOUT_RATE = 0.0"]
    bindings += ['MIXTURE_OR_TASK_NAME = "x"', "TASK_FEATURE_LENGTHS = {'inputs': 8, 'targets': 8}"]
    bindings += [f"{scope}/utils.DatasetConfig.use_memory_cache = True" for scope in ("train", "eval")]
    with caplog.at_level(logging.INFO, logger=accepted_bindings.__name__):
        gin_utils.parse_gin_flags([checkout], ["infer.gin"], bindings)
        gin.clear_config(clear_constants=True)
        gin_utils.parse_gin_flags([checkout], ["infer.gin"], bindings)  # a second parse logs nothing new
    lines = [r.getMessage() for r in caplog.records if r.name == accepted_bindings.__name__]
    assert len(lines) == 3, lines
    assert any(".checkpoint_period = 100 is accepted but not implemented" in line for line in lines)
    assert any("RestoreCheckpointConfig.dtype = 'bfloat16' is accepted but not implemented" in line for line in lines)
    assert any("DatasetConfig.use_memory_cache = True" in line for line in lines), "two scopes, one line"
    assert not any("logical_factor_rules" in line for line in lines), "the standard rules are what the engine does"


def model_config(model_gin: str) -> Any:
    gin.clear_config(clear_constants=True)
    gin_utils.parse_gin_flags(["."], [model_gin], ["DROPOUT_RATE = 0.0"])
    return copy.deepcopy(gin.query_parameter("%MODEL")).module.config  # deepcopy builds the referenced MODEL


def test_size_names_mean_t5x_sizes() -> None:
    """tiny is T5X's tiny (width 8, 4 heads of 3, 2+2 layers, mlp 16); the CPU demo size is mini."""
    tiny = dict(emb_dim=8, num_heads=4, head_dim=3, num_encoder_layers=2, num_decoder_layers=2, mlp_dim=16)
    for family in ("t5_1_1", "byt5"):
        config = model_config(f"gin/models/{family}/tiny.gin")
        assert {k: getattr(config, k) for k in tiny} == tiny, family
        assert model_config(f"gin/models/{family}/mini.gin").emb_dim == 128, family


def test_an_installed_t5x_checkout_is_searched_and_shadowed(tmp_path) -> None:
    """With a real `t5x` importable, its root is a gin search path (as in T5X), and t5x.* is still the engine."""
    write(str(tmp_path / "site/t5x/__init__.py"), "REAL = True\n")
    write(str(tmp_path / "site/t5x/configs/model.gin"), MODEL_GIN)
    script = textwrap.dedent(
        """
        import sys, gin
        from distill.engine import gin_utils
        gin_utils.parse_gin_flags([], ["t5x/configs/model.gin"], ["DROPOUT_RATE = 0.0"])
        import t5x, t5x.models
        from distill.engine import models
        print("shadowed" if t5x.models is models and not hasattr(t5x, "REAL") else "real")
        """
    )
    env = {**subprocess_env(1), "PYTHONPATH": os.pathsep.join([REPO_ROOT, str(tmp_path / "site")])}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "shadowed"


def run_train_t5x(mode: str, user_files: tuple[str, str], flags: list[str], log_dir: str) -> str:
    """`python <repo>/train_t5x.py --run_mode=<mode> --gin_file=<mode>.gin` from the user's directory
    (so their task module imports from it), the checkout on --gin_search_paths; returns stderr."""
    checkout, work = user_files
    command = [sys.executable, os.path.join(REPO_ROOT, "train_t5x.py"), f"--gin_search_paths={checkout}"]
    command += [f"--run_mode={mode}", f"--gin_file={mode}.gin", *flags]
    result = subprocess.run(command, cwd=work, env=subprocess_env(1), capture_output=True, text=True, timeout=900)
    with open(os.path.join(log_dir, f"{mode}.log"), "w", encoding="utf-8") as f:
        f.write(result.stdout + result.stderr)
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result.stderr


@pytest.mark.e2e
def test_t5x_form_gins_train_evaluate_and_infer(user_files, tmp_path) -> None:
    model_dir, steps, logs = str(tmp_path / "model"), 2, str(tmp_path)
    task = ['--gin.MIXTURE_OR_TASK_NAME="user_reverse_words"', '--gin.MIXTURE_OR_TASK_MODULE="user_tasks"']
    lengths = "--gin.TASK_FEATURE_LENGTHS={'inputs': 8, 'targets': 8}"
    train = [f'--gin.MODEL_DIR="{model_dir}"', f"--gin.TRAIN_STEPS={steps}", *task, lengths]
    run_train_t5x("train", user_files, train, logs)
    assert os.path.isdir(os.path.join(model_dir, f"checkpoint_{steps}"))
    with open(os.path.join(model_dir, "config.gin"), encoding="utf-8") as f:
        assert "from t5x import utils" in f.read(), "the written config keeps the user's module names"

    checkpoint = f'--gin.CHECKPOINT_PATH="{model_dir}/checkpoint_{steps}"'
    task.append("--gin.DROPOUT_RATE=0.0")  # The model gin leaves it %gin.REQUIRED, as T5X's do.
    eval_dir, infer_dir = str(tmp_path / "eval"), str(tmp_path / "infer")
    run_train_t5x("eval", user_files, [checkpoint, f'--gin.EVAL_OUTPUT_DIR="{eval_dir}"', *task], logs)
    with open(os.path.join(eval_dir, f"metrics-{steps}.json"), encoding="utf-8") as f:
        assert "exact_match" in json.dumps(json.load(f))

    infer = [checkpoint, f'--gin.INFER_OUTPUT_DIR="{infer_dir}"', *task, lengths]
    stderr = run_train_t5x("infer", user_files, infer, logs)
    with open(os.path.join(infer_dir, "user_reverse_words-predict.jsonl-00000-of-00001"), encoding="utf-8") as f:
        assert len([json.loads(line)["prediction"] for line in f]) == 6
    assert stderr.count("checkpoint_period = 100 is accepted but not implemented") == 1
