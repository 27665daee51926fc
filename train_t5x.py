"""Entry point with T5X's flags: `python train_t5x.py [--run_mode=train|infer|eval] --gin_file=... --gin.MACRO=value`.

Run gins bind `train_script.train`, `infer_script.infer` and `eval_script.evaluate` via
`import __main__ as ...`, exactly as T5X's run gins do, so this module exposes `train`, `infer`
and `evaluate` at top level; `--run_mode` picks one, like T5X's `main.py`.
"""

from __future__ import annotations

import logging
import os
import sys

from absl import app, flags
from absl import logging as absl_logging

from distill.engine import gin_utils
from distill.engine.inference import evaluate, infer
from distill.engine.train import train

FLAGS = flags.FLAGS
flags.DEFINE_enum("run_mode", "train", ["train", "infer", "eval"], "train, infer (also scoring) or eval.")
flags.DEFINE_multi_string("gin_file", [], "Gin files, parsed in order (later files override earlier ones).")
flags.DEFINE_multi_string("gin_bindings", [], "Individual gin bindings, applied after the files.")
flags.DEFINE_list("gin_search_paths", ["."], "Prefixes for relative gin file and include paths.")
flags.DEFINE_string("tfds_data_dir", None, "Overrides the TFDS data dir of every seqio task.")
flags.DEFINE_list("seqio_additional_cache_dirs", [], "Directories searched for offline-cached seqio tasks.")
flags.DEFINE_bool("multiprocess_gpu", False, "Initialise jax.distributed for multi-process GPU (or CPU) runs.")
flags.DEFINE_string("coordinator_address", None, "IP:port of process 0, with --multiprocess_gpu.")
flags.DEFINE_integer("process_count", None, "Number of processes, with --multiprocess_gpu.")
flags.DEFINE_integer("process_index", None, "This process's index, with --multiprocess_gpu.")
flags.DEFINE_integer("initialization_timeout", None, "Seconds to wait for the other processes.")

__all__ = ["evaluate", "infer", "train"]
RUNS = {"train": train, "infer": infer, "eval": evaluate}


def main(argv: list[str]) -> None:
    del argv
    absl_logging.set_verbosity(absl_logging.WARNING)  # orbax and seqio are chatty at INFO.
    logging.getLogger("distill").setLevel(logging.INFO)
    if FLAGS.multiprocess_gpu:
        import jax

        kwargs = {}
        if FLAGS.initialization_timeout is not None:
            kwargs["initialization_timeout"] = FLAGS.initialization_timeout
        jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.process_count, FLAGS.process_index, **kwargs)
    if FLAGS.tfds_data_dir or FLAGS.seqio_additional_cache_dirs:
        import seqio

        if FLAGS.tfds_data_dir:
            seqio.set_tfds_data_dir_override(FLAGS.tfds_data_dir)
        if FLAGS.seqio_additional_cache_dirs:
            seqio.add_global_cache_dirs(FLAGS.seqio_additional_cache_dirs)

    import gin

    run_using_gin = gin.configurable(RUNS[FLAGS.run_mode])
    try:
        gin_utils.parse_gin_flags(FLAGS.gin_search_paths, FLAGS.gin_file, FLAGS.gin_bindings)
    except gin_utils.GinConfigError as err:
        sys.exit(f"gin configuration error: {err}")
    run_using_gin()


if __name__ == "__main__":
    sys.argv = gin_utils.rewrite_gin_args(sys.argv)
    # As under `python -m t5x.train`, a task module in the working directory imports by name
    # (MIXTURE_OR_TASK_MODULE, or `import my_tasks` in a gin file), wherever this script lives.
    sys.path.append(os.getcwd())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app.run(main)
