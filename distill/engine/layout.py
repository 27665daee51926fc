"""Conversion between scanned (`layers/` with a leading layer axis) and T5X per-layer trees.

Checkpoints always hold T5X's `layers_0 ... layers_{n-1}` names, so a run can switch
`scan_layers` on or off and T5X/Hugging Face weights load either way. Both functions walk
nested dicts (params, or optimizer states turned into state dicts), converting every `layers`
node found below an `encoder` or `decoder` key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

STACKS = ("encoder", "decoder")


def _slice_leaf(leaf: Any, index: int, num_layers: int) -> Any:
    """Layer `index` of a stacked leaf; leaves without a layer axis (optimizer placeholders) are shared."""
    shape = np.shape(leaf) if not isinstance(leaf, jax.ShapeDtypeStruct) else leaf.shape
    if len(shape) == 0 or shape[0] != num_layers:
        return leaf
    if isinstance(leaf, jax.ShapeDtypeStruct):
        sharding = leaf.sharding
        if isinstance(sharding, jax.sharding.NamedSharding):
            spec = tuple(sharding.spec)[1:]
            sharding = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec(*spec))
        return jax.ShapeDtypeStruct(shape[1:], leaf.dtype, sharding=sharding)
    return leaf[index]


def scanned_to_layers(tree: Any, counts: Mapping[str, int], stack: str | None = None) -> Any:
    """`{'layers': stacked}` -> `{'layers_0': ..., ...}`; trees without `layers` pass through."""
    if not isinstance(tree, Mapping):
        return tree
    out = {}
    for key, value in tree.items():
        if stack is not None and key == "layers":
            n = counts[stack]
            for i in range(n):
                out[f"layers_{i}"] = jax.tree_util.tree_map(lambda x, i=i, n=n: _slice_leaf(x, i, n), value)
        else:
            out[key] = scanned_to_layers(value, counts, key if key in STACKS else stack)
    return out


def layers_to_scanned(tree: Any, target: Any, counts: Mapping[str, int], stack: str | None = None) -> Any:
    """Inverse of `scanned_to_layers`, shaped like `target` (a scanned or per-layer tree).

    Leaf by leaf, `target` decides whether the per-layer values are stacked (the target leaf has
    a leading layer axis) or shared (it has the per-layer shape, as optimizer placeholders do).
    """
    if not isinstance(target, Mapping):
        return tree
    out = {}
    for key, sub_target in target.items():
        if stack is not None and key == "layers":
            per_layer = [tree[f"layers_{i}"] for i in range(counts[stack])]
            out[key] = jax.tree_util.tree_map(
                lambda t, *xs: xs[0] if np.shape(xs[0]) == tuple(t.shape) else jnp.stack(xs), sub_target, *per_layer
            )
        else:
            out[key] = layers_to_scanned(tree[key], sub_target, counts, key if key in STACKS else stack)
    return out
