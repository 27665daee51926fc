"""Parses gin files and `--gin.X=...` flags exactly as `train_t5x.py` does (search path: the repository root)."""

from distill.engine import gin_utils


def parse(files: list[str], flags: list[str]) -> None:
    bindings = [arg.split("=", 1)[1] for arg in gin_utils.rewrite_gin_args(flags)]
    gin_utils.parse_gin_flags(["."], files, bindings)
