"""T5X's module names, resolved to the engine, so T5X users' own gin files parse unchanged.

T5X gin files begin with `from t5x import models`, `from t5x.examples.t5 import network`, and
bind `models.EncoderDecoderModel`, `utils.DatasetConfig`, ... through those aliases. The engine
keeps T5X's names and arguments for all of these, so mapping each `t5x.X` module name to its
`distill.engine.X` module is all a T5X file needs. `install()` adds an import hook that does
that mapping; `gin_utils.parse_gin_flags` calls it before parsing, so every path that reads a
gin file (`train_t5x.py`, `distill.serve`, the quickstart's runs) accepts T5X's files.

When a real `t5x` is installed, the hook still wins in the processes that parse gin through
`parse_gin_flags`: those run the engine's train/eval/infer loops, which can only drive the
engine's model, trainer and partitioner, never real T5X objects. Plain `import distill` installs
nothing, so a program that uses the real T5X beside this package is unaffected; if `t5x` was
imported before the hook is installed, it is left alone (and a warning says so). A real T5X
checkout's root is still offered as a gin search path, as T5X's own entry points do, so
`include 't5x/examples/...'` finds its files without `--gin_search_paths`.

A `t5x.*` name outside the table fails with an ImportError that lists the supported ones.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import logging
import os
import sys
from types import ModuleType

log = logging.getLogger(__name__)

# T5X module name -> engine module. These are every `t5x.*` module that T5X's run gins
# (configs/runs/*.gin) and example model gins (examples/t5/*/*.gin) import, except export_lib
# (SavedModel export, which the engine does not do).
MODULES = {
    "t5x.adafactor": "distill.engine.adafactor",
    "t5x.checkpoints": "distill.engine.checkpoints",
    "t5x.decoding": "distill.engine.decoding",
    "t5x.gin_utils": "distill.engine.gin_utils",
    "t5x.models": "distill.engine.models",
    "t5x.optimizers": "distill.engine.optimizers",
    "t5x.partitioning": "distill.engine.partitioning",
    "t5x.trainer": "distill.engine.trainer",
    "t5x.utils": "distill.engine.utils",
    "t5x.examples.t5.network": "distill.engine.network",
}
PACKAGES = ("t5x", "t5x.examples", "t5x.examples.t5")
_MARK = "__distill_t5x_alias__"


class _PackageLoader(importlib.abc.Loader):
    """An empty package (`t5x`, `t5x.examples`, ...) whose submodules come from the finder."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # The default module object.

    def exec_module(self, module: ModuleType) -> None:
        module.__doc__ = f"T5X's package name {module.__name__!r}, mapped to distill's engine (t5x_modules)."
        setattr(module, _MARK, True)


class _AliasLoader(importlib.abc.Loader):
    """Loads `t5x.X` as the already-importable engine module itself (one module object, two names)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system set __spec__ to the alias's spec; the module's own identity stays its own.
        module.__spec__ = self._spec


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name in PACKAGES:
            return importlib.machinery.ModuleSpec(name, _PackageLoader(), is_package=True)
        if name in MODULES:
            return importlib.machinery.ModuleSpec(name, _AliasLoader(MODULES[name]))
        if name.startswith("t5x."):
            raise ModuleNotFoundError(
                f"No module named {name!r}: distill maps only these T5X modules to its engine: "
                f"{', '.join(sorted(MODULES))} (docs/coming_from_t5x.md).",
                name=name,
            )
        return None


_FINDER = _Finder()


def real_t5x_root() -> str | None:
    """The directory holding a real `t5x` package on sys.path (T5X's default gin search path), if any.

    Asks the path finder directly, so the answer is the same before and after `install()`.
    """
    spec = importlib.machinery.PathFinder.find_spec("t5x")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return os.path.dirname(locations[0]) if locations else None


def install() -> None:
    """Maps T5X's module names to the engine for this process (idempotent)."""
    if _FINDER in sys.meta_path:
        return
    loaded = sys.modules.get("t5x")
    if loaded is not None and not getattr(loaded, _MARK, False):
        log.warning("t5x (%s) was imported before distill's T5X names; t5x.* stays the real T5X.", loaded.__file__)
        return
    root = real_t5x_root()
    if root:
        log.info("t5x is installed at %s; this process resolves t5x.* to distill's engine instead.", root)
    sys.meta_path.insert(0, _FINDER)
