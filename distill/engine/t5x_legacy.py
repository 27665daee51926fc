"""Reads T5X's legacy (pre-orbax) checkpoints without t5x: a flax msgpack plus one zarr array per param.

Layout (`t5x/checkpoints.py`, VERSION 3): `checkpoint_<step>/checkpoint` is a msgpack of
`{'version', 'optimizer': {'target': params, 'state': {'step', 'param_states'}}}` whose leaves
are either tensorstore specs (`{'driver': 'zarr', 'kvstore': {'path': 'target.encoder...'}, ...}`,
paths relative to the checkpoint directory, in T5X's dummy bucket on GCS) or inline arrays (flax
msgpack ext types; arrays over flax's chunk size are split into `__msgpack_chunked_array__`
dicts). Old single-file checkpoints hold every leaf inline.

Only the params and the step are decoded: the optimizer state (as large as the params, or
three times as large inline) is skipped in the msgpack stream, and each param is read on
demand (`Leaf.read`, optionally one slice), so restoring a sharded model reads each host's
shards only and converting a model holds one tensor at a time.
"""

from __future__ import annotations

import dataclasses
import io
import posixpath
from collections.abc import Mapping
from typing import Any

import ml_dtypes
import msgpack
import numpy as np
import tensorstore as ts

from distill.engine import storage

# What to decode from the msgpack; everything else is skipped unread.
_WANTED = {"version": True, "optimizer": {"target": True, "state": {"step": True}}}
_MAX_OBJECT_BYTES = 2**32 - 1  # msgpack's own limit for one bin object; flax chunks arrays below it.


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One param: an inline array or an opened tensorstore (also orbax's arrays), read whole or by slice."""

    source: np.ndarray | ts.TensorStore

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.source.shape)

    @property
    def dtype(self) -> np.dtype:
        dtype = self.source.dtype
        return np.dtype(dtype.numpy_dtype if isinstance(dtype, ts.dtype) else dtype)

    def read(self, index: tuple = ()) -> np.ndarray:
        part = self.source[index]
        return np.asarray(part if isinstance(self.source, np.ndarray) else part.read().result())


@dataclasses.dataclass(frozen=True)
class LegacyCheckpoint:
    params: dict[str, Leaf]  # '/'-joined T5X names: 'encoder/layers_0/attention/query/kernel'
    step: int


def _dtype(name: bytes) -> np.dtype:
    return np.dtype(ml_dtypes.bfloat16) if name == b"bfloat16" else np.dtype(name.decode())


def _ndarray(data: bytes) -> np.ndarray:
    shape, dtype, buffer = msgpack.unpackb(data, raw=True)
    return np.frombuffer(buffer, dtype=_dtype(dtype)).reshape(shape)


def _ext_hook(code: int, data: bytes) -> Any:
    """flax.serialization's ext types: 1 = ndarray, 2 = complex, 3 = numpy scalar."""
    if code == 1:
        return _ndarray(data)
    if code == 2:
        real, imag = msgpack.unpackb(data)
        return complex(real, imag)
    if code == 3:
        return _ndarray(data)[()]
    return msgpack.ExtType(code, data)


def _unpack_wanted(unpacker: msgpack.Unpacker, wanted: Mapping[str, Any]) -> dict:
    """Decodes the next map, keeping the keys in `wanted` (True: whole value; dict: recurse)."""
    out = {}
    for _ in range(unpacker.read_map_header()):
        key = unpacker.unpack()
        want = wanted.get(key)
        if want is True:
            out[key] = unpacker.unpack()
        elif want:
            out[key] = _unpack_wanted(unpacker, want)
        else:
            unpacker.skip()
    return out


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and "__msgpack_chunked_array__" not in value and not _is_spec(value):
            out.update(_flatten(value, name + "/"))
        else:
            out[name] = value
    return out


def _is_spec(value: Mapping) -> bool:
    return "driver" in value and ("kvstore" in value or "path" in value or "base" in value)


def _unchunk(value: Mapping) -> np.ndarray:
    chunks = value["chunks"]
    flat = np.concatenate([chunks[str(i)] for i in range(len(chunks))])
    shape = value["shape"]
    return flat.reshape([shape[str(i)] for i in range(len(shape))])


def _absolute_spec(spec: Mapping, directory: str) -> dict:
    """The spec with its checkpoint-relative kvstore path resolved against `directory`.

    T5X stores `kvstore: {'driver': 'file'|'gfile'|'gcs', 'path': 'target.x', ['bucket': dummy]}`
    (very old checkpoints: a top-level `path`); cast drivers nest the zarr spec under `base`.
    """
    spec = dict(spec)
    if "base" in spec:
        spec["base"] = _absolute_spec(spec["base"], directory)
        return spec
    kvstore = spec.pop("kvstore", None)
    relative = kvstore["path"] if isinstance(kvstore, Mapping) else spec.pop("path")
    spec["kvstore"] = storage.kvstore_url(storage.join(directory, relative)) + "/"
    return spec


def read(path: str) -> LegacyCheckpoint:
    """Opens a legacy checkpoint: a `checkpoint_<step>` directory or a single msgpack file."""
    if storage.is_file(path):
        msgpack_path = storage.normalize(path)
        directory = posixpath.dirname(msgpack_path)
    else:
        msgpack_path, directory = storage.join(path, "checkpoint"), storage.normalize(path)
    unpacker = msgpack.Unpacker(
        io.BytesIO(storage.read_bytes(msgpack_path)),
        ext_hook=_ext_hook,
        raw=False,
        strict_map_key=False,
        max_bin_len=_MAX_OBJECT_BYTES,
        max_ext_len=_MAX_OBJECT_BYTES,
        max_buffer_size=_MAX_OBJECT_BYTES,
    )
    try:
        tree = _unpack_wanted(unpacker, _WANTED)
        target = tree["optimizer"]["target"]
    except (ValueError, KeyError, msgpack.UnpackException) as error:
        raise ValueError(
            f"{msgpack_path} is not a T5X checkpoint (expected a msgpack map with optimizer/target): {error!r}"
        ) from error

    leaves = {}
    opening = {}
    for name, value in _flatten(target).items():
        if isinstance(value, np.ndarray):
            leaves[name] = Leaf(value)
        elif isinstance(value, Mapping) and "__msgpack_chunked_array__" in value:
            leaves[name] = Leaf(_unchunk(value))
        elif isinstance(value, Mapping):
            opening[name] = ts.open(_absolute_spec(value, directory), open=True, read=True)
        else:
            raise ValueError(f"{msgpack_path}: param {name} is a {type(value).__name__}, not an array or array spec")
    for name, future in opening.items():  # Opened concurrently: one metadata round trip each.
        try:
            leaves[name] = Leaf(future.result())
        except ValueError as error:
            raise ValueError(f"{msgpack_path}: cannot open the array of param {name}: {error}") from error
    step = int(np.asarray(tree["optimizer"].get("state", {}).get("step", 0)))
    return LegacyCheckpoint(params=dict(sorted(leaves.items())), step=step)
