"""Where the project's data files live: `COT_DATA_DIR`, laid out like the shared data folder.

Nothing is downloaded at run time; every file has a known public source (see docs/data-and-tasks.md and the data
directory's MANIFEST.md) and a sha256 (`distill/data/known_files.tsv`) checked on first use, so a missing or
altered file fails with its name and origin instead of silently changing results.

The directory comes from the gin binding `data_dir.path` if given, else `$COT_DATA_DIR`. Asking
for it when neither is set raises `DataFileError`; importing `tasks` never does.
"""

from __future__ import annotations

import functools
import hashlib
import os

import gin

from distill.data.checksums import KNOWN_FILES

ENV_VAR = "COT_DATA_DIR"

__all__ = ["ENV_VAR", "KNOWN_FILES", "DataFileError", "DataFormatError", "data_dir", "data_file", "is_configured"]


class DataFileError(FileNotFoundError):
    """A data file is missing or differs from the published one."""


class DataFormatError(ValueError):
    """A data file's content is not what its loader expects; names the file, line and field."""

    def __init__(self, path: str, line: int | None, field: str | None, problem: str):
        self.path, self.line, self.field, self.problem = path, line, field, problem
        where = path if line is None else f"{path}, line {line}"
        what = f"field {field!r}: " if field else ""
        super().__init__(f"{where}: {what}{problem}")


@gin.configurable
def data_dir(path: str | None = None) -> str:
    """The data directory: the gin binding if given, else $COT_DATA_DIR."""
    path = path or os.environ.get(ENV_VAR)
    if not path:
        raise DataFileError(f"No data directory: set {ENV_VAR}=/path/to/data (see docs/data-and-tasks.md).")
    return os.path.abspath(path)


def is_configured() -> bool:
    """Whether a data directory is named (it may still lack files)."""
    try:
        data_dir()
    except DataFileError:
        return False
    return True


@functools.cache
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    del size, mtime_ns  # Cache keys: a file rewritten in place is hashed again.
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def status(relative: str, root: str | None = None) -> str:
    """`present` (and verified), `missing` or `altered` (sha256 differs): one file of KNOWN_FILES under `root`."""
    path = os.path.join(root or data_dir(), relative)
    if not os.path.isfile(path):
        return "missing"
    stat = os.stat(path)
    return "present" if _sha256(path, stat.st_size, stat.st_mtime_ns) == KNOWN_FILES[relative][0] else "altered"


def data_file(relative: str) -> str:
    """Absolute path of a data file, verified against its known sha256 when it has one."""
    path = os.path.join(data_dir(), relative)
    known = KNOWN_FILES.get(relative)
    source = f" Get it from {known[1]} (see MANIFEST.md of the shared data)." if known else ""
    if not os.path.isfile(path):
        raise DataFileError(f"Missing data file {path}.{source}")
    if known:
        stat = os.stat(path)
        if _sha256(path, stat.st_size, stat.st_mtime_ns) != known[0]:
            raise DataFileError(f"{path} does not match the published file (sha256 differs).{source}")
    return path


def t5_sentencepiece_model() -> str:
    return data_file("tokenizers/t5/spiece.model")
