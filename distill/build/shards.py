"""Sharded TFRecord output whose shard count is known only at the end.

Why: `distill.contracts.distill_examples` names shards `{format}.tfrecord-{i:05d}-of-{n:05d}` (the seqio / TFDS
convention), but a streaming build learns n only after the last record. Shards are written under
a temporary name in `.partial/` inside the output directory, rotated every `shard_size`
examples, and renamed into place by `close`, so a directory never shows a shard set that is
incomplete (and the manifest, written after, marks the whole build as finished). Each shard is
fsynced before its rename and the directory after the renames, so the manifest's promise holds
after a power loss too.
"""

from __future__ import annotations

import os
import shutil

from distill.contracts import distill_examples, durable

PARTIAL = ".partial"


def start(out_dir: str) -> None:
    """Creates `out_dir`, dropping what an interrupted build left in its `.partial/`."""
    shutil.rmtree(os.path.join(out_dir, PARTIAL), ignore_errors=True)
    os.makedirs(os.path.join(out_dir, PARTIAL))


def finish(out_dir: str) -> None:
    shutil.rmtree(os.path.join(out_dir, PARTIAL), ignore_errors=True)


class ShardWriter:
    """Writes serialized examples of one format into shards of at most `shard_size` examples."""

    def __init__(self, out_dir: str, fmt: str, shard_size: int) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.out_dir, self.fmt, self.shard_size = out_dir, fmt, shard_size
        self.count = 0
        self._paths: list[str] = []
        self._writer = None

    def write(self, serialized: bytes) -> None:
        import tensorflow as tf

        if self.count % self.shard_size == 0:
            self._close_current()
            self._paths.append(os.path.join(self.out_dir, PARTIAL, f"{self.fmt}-{len(self._paths):05d}"))
            self._writer = tf.io.TFRecordWriter(self._paths[-1])
        self._writer.write(serialized)
        self.count += 1

    def _close_current(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> list[str]:
        """Moves the shards into place; returns their file names (none when nothing was written)."""
        self._close_current()
        names = [distill_examples.shard_name(self.fmt, i, len(self._paths)) for i in range(len(self._paths))]
        for path, name in zip(self._paths, names, strict=True):
            durable.fsync_file(path)
            os.replace(path, os.path.join(self.out_dir, name))
        durable.fsync_dir(self.out_dir)
        return names
