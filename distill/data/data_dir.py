"""Where the project's data files live: a directory laid out like the shared data folder.

Every file has a known public source and a sha256 (`distill/data/known_files.tsv`) checked on first
use, so a missing or altered file fails with its name and origin instead of silently changing
results; `python -m distill.data download` fetches them. Nothing else downloads, except that
`make demo` and `make quickstart` first fetch the few files they read if missing (`download.ensure`).

Which directory, first match wins: the gin binding `data_dir.path`; `$COT_DATA_DIR` (`make` sets it
to `../shared/data` when that folder exists, as on this project's machines); the user's cache,
`$XDG_CACHE_HOME/cot-specialize/data` (default `~/.cache/cot-specialize/data`), where `download`
puts the files when nothing else is named, once it exists. With none of them, asking for the
directory raises `DataFileError`; importing `tasks` never does.
"""

from __future__ import annotations

import functools
import hashlib
import os

import gin

from distill.data.checksums import KNOWN_FILES

ENV_VAR = "COT_DATA_DIR"

__all__ = [
    "ENV_VAR",
    "KNOWN_FILES",
    "DataFileError",
    "DataFormatError",
    "data_dir",
    "data_file",
    "download_dir",
    "is_configured",
    "user_data_dir",
]


class DataFileError(FileNotFoundError):
    """A data file is missing or differs from the published one."""


class DataFormatError(ValueError):
    """A data file's content is not what its loader expects; names the file, line and field."""

    def __init__(self, path: str, line: int | None, field: str | None, problem: str):
        self.path, self.line, self.field, self.problem = path, line, field, problem
        where = path if line is None else f"{path}, line {line}"
        what = f"field {field!r}: " if field else ""
        super().__init__(f"{where}: {what}{problem}")


def user_data_dir() -> str:
    """`$XDG_CACHE_HOME/cot-specialize/data` (default `~/.cache/...`): a user's data directory when none is named."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(cache), "cot-specialize", "data")


def download_dir() -> str:
    """Where `download` writes without `--out`: $COT_DATA_DIR, else the user's cache directory (created then)."""
    return os.path.abspath(os.environ.get(ENV_VAR) or user_data_dir())


@gin.configurable
def data_dir(path: str | None = None) -> str:
    """The data directory: the gin binding, else $COT_DATA_DIR, else the user's cache directory if it exists."""
    path = path or os.environ.get(ENV_VAR)
    if path:
        return os.path.abspath(path)
    if os.path.isdir(user_data_dir()):
        return user_data_dir()
    raise DataFileError(
        f"No data directory: set {ENV_VAR}=/path/to/data, or run `python -m distill.data download` "
        f"to fill {user_data_dir()} (see docs/data-and-tasks.md)."
    )


def is_configured() -> bool:
    """Whether a data directory is named or the user's cache directory exists (it may still lack files)."""
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


def file_sha256(path: str) -> str:
    """sha256 of a file, hashed once per (path, size, mtime)."""
    stat = os.stat(path)
    return _sha256(path, stat.st_size, stat.st_mtime_ns)


def status(relative: str, root: str | None = None) -> str:
    """`present` (and verified), `missing` or `altered` (sha256 differs): one file of KNOWN_FILES under `root`."""
    path = os.path.join(root or data_dir(), relative)
    if not os.path.isfile(path):
        return "missing"
    return "present" if file_sha256(path) == KNOWN_FILES[relative].sha256 else "altered"


def data_file(relative: str) -> str:
    """Absolute path of a data file, verified against its known sha256 when it has one."""
    path = os.path.join(data_dir(), relative)
    known = KNOWN_FILES.get(relative)
    folder = relative.split("/")[0]
    source = f" Get it with `python -m distill.data download --only {folder}` ({known.source})." if known else ""
    if not os.path.isfile(path):
        raise DataFileError(f"Missing data file {path}.{source}")
    if known and file_sha256(path) != known.sha256:
        raise DataFileError(f"{path} does not match the published file (sha256 differs).{source}")
    return path


def t5_sentencepiece_model() -> str:
    return data_file("tokenizers/t5/spiece.model")
