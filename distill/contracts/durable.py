"""Durable file writes: a file that exists under its final name is complete, even after a power loss.

Every stage marks its output complete by a file (a records directory's `manifest.json`, a
teacher run's summary, a training run's `config.json`). Writing to a temporary name, flushing and
fsyncing it, renaming it over the final name and then fsyncing the directory makes that mark
trustworthy: a crash leaves the old file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import os
from typing import Any


def fsync_dir(path: str) -> None:
    """Makes renames and creations inside `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str) -> None:
    """Makes the content of a file another writer closed durable (e.g. a TFRecord shard), before its rename."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: str, path: str) -> None:
    """Puts the complete, closed file `tmp` (e.g. a finished download) under its final name `path`, durably."""
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))


def append(path: str, data: bytes) -> None:
    """Appends `data` and makes it durable before returning (flush + fsync; the directory too for a new file).

    The one home for durable appends (teacher records, the teacher client's errors file): a line
    a caller was told is written survives a power loss, and a file that did not exist before is
    still named by its directory after one.
    """
    created = not os.path.exists(path)
    with open(path, "ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if created:
        fsync_dir(os.path.dirname(path))


def write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path` atomically and durably (temporary file, fsync, rename, directory fsync)."""
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    publish(tmp, path)


def write_text(path: str, text: str) -> None:
    """`text` as UTF-8, written as `write_bytes` does."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str, content: Any, *, indent: int = 2, sort_keys: bool = False) -> None:
    """`content` as JSON (UTF-8 kept, newline-terminated), written as `write_text` does."""
    write_text(path, json.dumps(content, indent=indent, sort_keys=sort_keys, ensure_ascii=False) + "\n")
