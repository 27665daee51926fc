"""Hugging Face checkpoint files, read and written one tensor at a time.

Reads a model directory holding `model.safetensors`, sharded safetensors with
`model.safetensors.index.json`, or `pytorch_model.bin` (sharded with its index too; that needs
torch, from the `[hf]` extra). Safetensors are parsed here (an 8-byte little-endian header
length, a JSON header of dtypes, shapes and byte offsets, then raw little-endian data) instead
of with `safetensors.safe_open`: its numpy backend has no bfloat16, and a plain read into a
fresh buffer keeps the process at one tensor's memory, where a memory map would grow the
resident set to the whole file.

Writes safetensors shards whose headers are computed before any data is read (the shapes and
dtypes are known up front), so each tensor is read, written and dropped in turn.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence

import ml_dtypes
import numpy as np

SAFETENSORS_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_CODES = {dtype: code for code, dtype in SAFETENSORS_DTYPES.items()}
INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


class HFCheckpoint:
    """The tensors of a Hugging Face model directory by name (`tensors`), each read on demand."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        config_path = os.path.join(directory, "config.json")
        if not os.path.isfile(config_path):
            raise FileNotFoundError(f"No config.json in {directory}; expected a Hugging Face model directory")
        with open(config_path) as f:
            self.config = json.load(f)
        self.tensors: dict[str, TensorInfo] = {}
        self._readers: dict[str, Callable[[], np.ndarray]] = {}
        for path in self._weight_files():
            opener = _open_safetensors if path.endswith(".safetensors") else _open_torch
            for name, (info, reader) in opener(path).items():
                self.tensors[name], self._readers[name] = info, reader

    def _weight_files(self) -> list[str]:
        for index in INDEXES:
            path = os.path.join(self.directory, index)
            if os.path.isfile(path):
                with open(path) as f:
                    weight_map = json.load(f)["weight_map"]
                return [os.path.join(self.directory, name) for name in sorted(set(weight_map.values()))]
        for name in SINGLE_FILES:
            if os.path.isfile(os.path.join(self.directory, name)):
                return [os.path.join(self.directory, name)]
        raise FileNotFoundError(f"No weights in {self.directory}: expected one of {', '.join(INDEXES + SINGLE_FILES)}")

    def read(self, name: str) -> np.ndarray:
        return self._readers[name]()


def _open_safetensors(path: str) -> dict[str, tuple[TensorInfo, Callable[[], np.ndarray]]]:
    with open(path, "rb") as f:
        header_bytes = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_bytes))
    start = 8 + header_bytes
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in SAFETENSORS_DTYPES:
            raise ValueError(f"{path}: tensor {name} has dtype {entry['dtype']}, not one of {list(SAFETENSORS_DTYPES)}")
        info = TensorInfo(tuple(entry["shape"]), SAFETENSORS_DTYPES[entry["dtype"]])
        begin, end = entry["data_offsets"]
        if end - begin != info.nbytes:
            raise ValueError(f"{path}: tensor {name} has {end - begin} bytes for shape {info.shape} {entry['dtype']}")

        def read(offset: int = start + begin, info: TensorInfo = info) -> np.ndarray:
            array = np.empty(info.shape, info.dtype)
            with open(path, "rb") as f:
                f.seek(offset)
                if f.readinto(array.reshape(-1).view(np.uint8)) != info.nbytes:
                    raise ValueError(f"{path} is truncated")
            return array

        out[name] = (info, read)
    return out


def _open_torch(path: str) -> dict[str, tuple[TensorInfo, Callable[[], np.ndarray]]]:
    try:
        import torch
    except ImportError as error:
        raise ImportError(f"Reading {path} needs torch: pip install -e '.[hf]'") from error
    state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)

    def to_numpy(tensor: torch.Tensor) -> np.ndarray:
        tensor = tensor.detach().contiguous()
        if tensor.dtype == torch.bfloat16:
            return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        return tensor.numpy()

    return {
        name: (
            TensorInfo(tuple(tensor.shape), to_numpy(torch.empty(0, dtype=tensor.dtype)).dtype),
            lambda t=tensor: to_numpy(t),
        )
        for name, tensor in state.items()
    }


def shard_plan(tensors: Sequence[tuple[str, TensorInfo]], max_shard_bytes: int) -> list[list[tuple[str, TensorInfo]]]:
    """Consecutive groups of tensors of at most `max_shard_bytes` each (a larger tensor gets its own)."""
    shards: list[list[tuple[str, TensorInfo]]] = [[]]
    size = 0
    for name, info in tensors:
        if shards[-1] and size + info.nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append((name, info))
        size += info.nbytes
    return shards


def write_safetensors(
    directory: str,
    tensors: Sequence[tuple[str, TensorInfo]],
    read: Callable[[str], np.ndarray],
    max_shard_bytes: int,
) -> list[str]:
    """Writes `model.safetensors`, or shards plus `model.safetensors.index.json`; returns the files.

    `read(name)` gives each tensor in turn; it must have the shape and dtype `tensors` declares.
    """
    os.makedirs(directory, exist_ok=True)
    shards = shard_plan(tensors, max_shard_bytes)
    names = (
        ["model.safetensors"]
        if len(shards) == 1
        else [f"model-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)]
    )
    for filename, shard in zip(names, shards, strict=True):
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name, info in shard:
            header[name] = {
                "dtype": _CODES[info.dtype],
                "shape": list(info.shape),
                "data_offsets": [offset, offset + info.nbytes],
            }
            offset += info.nbytes
        header_bytes = json.dumps(header, separators=(",", ":")).encode()
        header_bytes += b" " * (-len(header_bytes) % 8)  # Data starts 8-byte aligned, as safetensors writes it.
        with open(os.path.join(directory, filename), "wb") as f:
            f.write(len(header_bytes).to_bytes(8, "little"))
            f.write(header_bytes)
            for name, info in shard:
                array = np.ascontiguousarray(read(name))
                if array.shape != info.shape or array.dtype != info.dtype:
                    raise ValueError(f"{name} is {array.shape} {array.dtype}, declared {info.shape} {info.dtype}")
                f.write(array.reshape(-1).view(np.uint8).data)
    if len(shards) > 1:
        index = {
            "metadata": {"total_size": sum(info.nbytes for _, info in tensors)},
            "weight_map": {name: filename for filename, shard in zip(names, shards, strict=True) for name, _ in shard},
        }
        with open(os.path.join(directory, INDEXES[0]), "w") as f:
            json.dump(index, f, indent=2)
    return names
