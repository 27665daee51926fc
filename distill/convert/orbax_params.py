"""A params-only checkpoint in orbax's layout, written one array at a time with tensorstore.

Why not orbax's own save: it takes the whole tree in memory (and copies host arrays first),
while a conversion must hold one tensor at a time. What is written here is the layout that
`orbax.checkpoint.PyTreeCheckpointHandler(use_ocdbt=False)` writes and reads, and that
`checkpoints.load_params` (INITIAL_CHECKPOINT_PATH) restores like any of our checkpoints:

    DST/checkpoint_<step>/state/target.encoder.layers_0.attention.query.kernel/  (zarr v2 array)
    DST/checkpoint_<step>/state/state.step/                                      (int32 scalar)
    DST/checkpoint_<step>/state/_METADATA                                        (JSON: the leaves)

Each array is named by its '.'-joined key path, chunked along its first axis in pieces of at
most 64 MiB (as T5X's writer does) and stored uncompressed (weights compress by ~10%; speed
matters more here). Local files are not fsync'ed chunk by chunk (tensorstore's default), which
made writing ten times slower. `_METADATA` is written last: an interrupted conversion leaves no
loadable checkpoint, since `checkpoints.locate` looks for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import tensorstore as ts

from distill.engine import checkpoints, storage

CHUNK_BYTES = 64 * 2**20
_CONTEXT = ts.Context({"file_io_sync": False})


def _chunks(array: np.ndarray) -> list[int]:
    if array.ndim == 0:
        return []
    row_bytes = max(array.nbytes // max(array.shape[0], 1), 1)
    return [max(1, min(array.shape[0], CHUNK_BYTES // row_bytes)), *array.shape[1:]]


def _write_array(state_dir: str, keys: tuple[str, ...], array: np.ndarray) -> None:
    spec = {
        "driver": "zarr",
        "kvstore": storage.kvstore_url(storage.join(state_dir, ".".join(keys))) + "/",
        "dtype": array.dtype.name,
        "metadata": {"shape": list(array.shape), "chunks": _chunks(array), "compressor": None},
    }
    store = ts.open(spec, create=True, context=_CONTEXT).result()
    store.write(array, can_reference_source_data_indefinitely=True).result()


def _metadata(leaves: list[tuple[str, ...]]) -> bytes:
    """orbax's `_METADATA` for a tree of numpy leaves under nested dict keys."""
    tree = {
        str(keys): {
            "key_metadata": [{"key": key, "key_type": 2} for key in keys],  # 2: a dict key.
            "value_metadata": {"value_type": "np.ndarray", "skip_deserialize": False},
        }
        for keys in leaves
    }
    return json.dumps(
        {
            "tree_metadata": tree,
            "use_ocdbt": False,
            "use_zarr3": False,
            "store_array_data_equal_to_fill_value": True,
            "custom_metadata": None,
        }
    ).encode()


def write(directory: str, step: int, params: Iterable[tuple[str, np.ndarray]]) -> str:
    """Writes `params` (`/`-joined T5X names and arrays, consumed one at a time) as `checkpoint_<step>`.

    Returns the checkpoint directory, which must not exist yet.
    """
    checkpoint_dir = storage.join(directory, f"{checkpoints.STEP_PREFIX}_{step}")
    if storage.list_keys(checkpoint_dir):
        raise FileExistsError(f"{checkpoint_dir} already exists; remove it or choose another destination")
    state_dir = storage.join(checkpoint_dir, checkpoints.ITEM)
    leaves = [("state", "step")]
    _write_array(state_dir, leaves[0], np.asarray(step, np.int32))
    for name, array in params:
        keys = ("target", *name.split("/"))
        _write_array(state_dir, keys, array)
        leaves.append(keys)
    storage.write_bytes(storage.join(state_dir, "_METADATA"), _metadata(leaves))
    return checkpoint_dir
