"""Checkpoint paths on local disk or in cloud storage (`gs://...`), through tensorstore key-value stores.

Why tensorstore: it already reads and writes every checkpoint array and speaks `gs://` (and
`s3://`) natively, so finding and reading a checkpoint needs neither tensorflow's `tf.io.gfile`
(the engine must run without tensorflow) nor gcsfs. Local paths become `file://` URLs, so the
same code serves both and the local tests exercise the cloud code path.
"""

from __future__ import annotations

import os
import posixpath

import tensorstore as ts


def normalize(path: str) -> str:
    """An absolute local path, or the URL as given (without trailing slashes)."""
    return path.rstrip("/") if "://" in path else os.path.abspath(path)


def join(path: str, *names: str) -> str:
    return posixpath.join(normalize(path), *names)


def kvstore_url(path: str) -> str:
    """The tensorstore kvstore URL of a directory (with its trailing slash) or file."""
    path = normalize(path)
    return path if "://" in path else "file://" + path


def _directory(path: str) -> ts.KvStore:
    return ts.KvStore.open(kvstore_url(path) + "/").result()


def list_keys(path: str) -> list[str]:
    """Every file below directory `path`, recursively, relative to it (empty if there is none)."""
    return [key.decode() for key in _directory(path).list().result()]


def is_file(path: str) -> bool:
    parent, name = posixpath.split(normalize(path))
    found = _directory(parent).list(ts.KvStore.KeyRange(name, name + "\0")).result()
    return bool(found)


def read_bytes(path: str) -> bytes:
    parent, name = posixpath.split(normalize(path))
    result = _directory(parent).read(name).result()
    if result.state != "value":
        raise FileNotFoundError(f"No file at {path}")
    return bytes(result.value)


def write_bytes(path: str, data: bytes) -> None:
    parent, name = posixpath.split(normalize(path))
    _directory(parent).write(name, data).result()
