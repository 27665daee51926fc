"""`python -m distill.convert`: Hugging Face T5 / FlanT5 <-> T5X checkpoints, one tensor at a time.

    python -m distill.convert hf-to-t5x --src flan-t5-xl --dst /ckpts/flan_t5_xl [--step 0]
    python -m distill.convert t5x-to-hf --src /runs/student/checkpoint_1200 --dst student-hf

`hf-to-t5x` reads safetensors (single, or sharded with an index) or pytorch_model.bin, takes
the sizes from config.json, and writes `DST/checkpoint_<step>` (params only, our orbax
layout: see `orbax_params`) for INITIAL_CHECKPOINT_PATH, plus `DST/model.gin` with the sizes.
`t5x-to-hf` reads any checkpoint INITIAL_CHECKPOINT_PATH reads (ours, T5X orbax, T5X legacy;
local or gs://), infers the sizes from the params, and writes safetensors (sharded above
`--max_shard_size`), config.json and generation_config.json for transformers'
T5ForConditionalGeneration. Both hold one tensor (and its transpose) in memory at a time and
show progress as tensors and bytes done. Neither needs torch, except to read a .bin.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Iterator, Sequence

import numpy as np

from distill.contracts.progress import StatusLine
from distill.convert import hf_files, names, orbax_params
from distill.engine import checkpoints, storage

UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


class Progress:
    """`[ 12/558]  1.23 GB / 11.40 GB  encoder/layers_3/mlp/wi_0/kernel` on stderr.

    On a terminal the line is rewritten for every tensor; in a log, one line per 5% of the bytes.
    """

    def __init__(self, count: int, nbytes: int) -> None:
        self.count, self.nbytes, self.done, self.done_bytes = count, nbytes, 0, 0
        self.status = StatusLine(every_s=math.inf, tty_every_s=0.0)  # in a log: every 5%, not by time
        self._next_percent = 0

    def advance(self, name: str, nbytes: int) -> None:
        self.done += 1
        self.done_bytes += nbytes
        percent = 100 * self.done_bytes // max(self.nbytes, 1)
        last = self.done == self.count
        if not (self.status.due() or last or percent >= self._next_percent):
            return
        self._next_percent = percent + 5
        count = f"{self.done:>{len(str(self.count))}}/{self.count}"
        self.status.show(f"[{count}] {_size(self.done_bytes)} / {_size(self.nbytes)}  {name}", final=last)


def _size(nbytes: int) -> str:
    return f"{nbytes / 1e9:.2f} GB" if nbytes >= 1e8 else f"{nbytes / 1e6:.2f} MB"


def _oriented(array: np.ndarray, transpose: bool, block: int = 64) -> np.ndarray:
    """`array`, or its transpose made contiguous block by block (2-3x faster than one strided copy)."""
    if not transpose:
        return array
    out = np.empty(array.shape[::-1], array.dtype)
    for start in range(0, array.shape[0], block):
        out[:, start : start + block] = array[start : start + block].T
    return out


def hf_to_t5x(src: str, dst: str, step: int = 0) -> str:
    """Converts a Hugging Face T5 directory; returns the written `checkpoint_<step>` directory."""
    hf = hf_files.HFCheckpoint(src)
    config = names.config_from_hf(hf.config, os.path.join(src, "config.json"))
    table = names.param_map(config)
    known = {p.hf for p in table} | set(names.EMBEDDING_COPIES) | {"lm_head.weight"}
    missing = [p.hf for p in table if p.hf not in hf.tensors]
    unknown = sorted(set(hf.tensors) - known)
    if missing or unknown:
        raise ValueError(
            f"{src} does not hold the T5 model its config.json describes: "
            f"missing tensors {missing[:8]}, tensors the converter does not know {unknown[:8]}"
        )
    shapes = {p.t5x: hf.tensors[p.hf].shape[:: -1 if p.transpose else 1] for p in table}
    checkpoints.check_params(shapes, names.param_shapes(config), src)
    progress = Progress(len(table), sum(hf.tensors[p.hf].nbytes for p in table))

    def params() -> Iterator[tuple[str, np.ndarray]]:
        for p in table:
            yield p.t5x, _oriented(hf.read(p.hf), p.transpose)
            progress.advance(p.t5x, hf.tensors[p.hf].nbytes)

    checkpoint_dir = orbax_params.write(dst, step, params())
    gin_path = storage.join(dst, "model.gin")
    storage.write_bytes(gin_path, f"# The sizes of {src}, from its config.json.\n{names.gin_lines(config)}".encode())
    print(
        f"Wrote {checkpoint_dir} and {gin_path}. Start a run from it with\n  --gin_file=gin/models/t5_1_1/base.gin "
        f'--gin_file={gin_path} --gin.INITIAL_CHECKPOINT_PATH=\\"{checkpoint_dir}\\"'
    )
    return checkpoint_dir


def t5x_to_hf(src: str, dst: str, max_shard_bytes: int = 5 * 10**9) -> list[str]:
    """Converts a T5X-named checkpoint to a Hugging Face directory; returns the safetensors files."""
    params = checkpoints.open_params(src)
    found = {name: param.shape for name, param in params.items()}
    config = names.config_from_params(found, src)
    checkpoints.check_params(found, names.param_shapes(config), src)
    table = {p.hf: p for p in names.param_map(config)}
    tensors = [
        (p.hf, hf_files.TensorInfo(params[p.t5x].shape[:: -1 if p.transpose else 1], params[p.t5x].dtype))
        for p in table.values()
    ]
    progress = Progress(len(tensors), sum(info.nbytes for _, info in tensors))

    def read(hf_name: str) -> np.ndarray:
        p = table[hf_name]
        array = _oriented(params[p.t5x].read(), p.transpose)
        progress.advance(hf_name, array.nbytes)
        return array

    files = hf_files.write_safetensors(dst, tensors, read, max_shard_bytes)
    generation = {"decoder_start_token_id": 0, "eos_token_id": 1, "pad_token_id": 0}
    for filename, content in (("config.json", names.hf_config(config)), ("generation_config.json", generation)):
        with open(os.path.join(dst, filename), "w") as f:
            json.dump(content, f, indent=2)
    print(f"Wrote {len(files)} safetensors file(s), config.json and generation_config.json to {dst}")
    return files


def parse_size(text: str) -> int:
    """`5GB`, `500MB`, `2GiB` or a plain number of bytes."""
    upper = text.strip().upper()
    for unit, factor in sorted(UNITS.items(), key=lambda item: -len(item[0])):
        if upper.endswith(unit):
            return int(float(upper[: -len(unit)]) * factor)
    return int(upper)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m distill.convert", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    to_t5x = commands.add_parser("hf-to-t5x", help="a Hugging Face T5 directory -> DST/checkpoint_<step>")
    to_t5x.add_argument("--src", required=True, help="Hugging Face model directory (config.json + weights)")
    to_t5x.add_argument("--dst", required=True, help="output directory (local or gs://)")
    to_t5x.add_argument("--step", type=int, default=0, help="the checkpoint's step (default 0)")
    to_hf = commands.add_parser("t5x-to-hf", help="a T5X or engine checkpoint -> a Hugging Face directory")
    to_hf.add_argument("--src", required=True, help="checkpoint_<step>, its model directory, or a T5X checkpoint")
    to_hf.add_argument("--dst", required=True, help="output directory")
    to_hf.add_argument("--max_shard_size", type=parse_size, default="5GB", help="shard above this (default 5GB)")
    args = parser.parse_args(argv)
    if args.command == "hf-to-t5x":
        hf_to_t5x(args.src, args.dst, args.step)
    else:
        t5x_to_hf(args.src, args.dst, args.max_shard_size)
