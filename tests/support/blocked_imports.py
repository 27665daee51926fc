"""Runs a module as `python -m` would, with tensorflow and seqio made unimportable, and reports every attempt.

    python -m tests.support.blocked_imports REPORT.json distill.generate --help

Why: the engine and `distill.generate` must run on machines without tensorflow/seqio (a bare GPU
node, a teacher-generation box). A meta-path finder refuses those packages and records who asked,
so even an import guarded by `try/except ImportError` shows up in the report, written at exit as
{"attempts": [[module, importing file], ...], "loaded": [...]}.
"""

from __future__ import annotations

import atexit
import importlib.abc
import json
import pathlib
import runpy
import sys

BLOCKED = ("tensorflow", "seqio", "tensorflow_datasets", "tensorflow_text")
attempts: list[list[str]] = []


def _importer() -> str:
    """The first frame outside the import machinery: the module doing the import."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.startswith("<frozen") or "importlib" in name or name == __file__):
            return name
        frame = frame.f_back
    return "?"


class BlockTensorflowAndSeqio(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in BLOCKED:
            attempts.append([fullname, _importer()])
            raise ModuleNotFoundError(f"{fullname} is blocked by tests.support.blocked_imports", name=fullname)
        return None


def install() -> None:
    assert not [m for m in sys.modules if m.split(".")[0] in BLOCKED], "a blocked package is already loaded"
    sys.meta_path.insert(0, BlockTensorflowAndSeqio())


def report() -> dict:
    return {"attempts": attempts, "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)}


if __name__ == "__main__":
    report_path, module, *args = sys.argv[1:]
    install()
    atexit.register(lambda: pathlib.Path(report_path).write_text(json.dumps(report())))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
