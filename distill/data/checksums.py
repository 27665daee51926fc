"""sha256 and public source of every file in the data directory (`known_files.tsv`, from its MANIFEST.md).

Kept apart from `data_dir` because it is data about data: one row per file the shared data folder
ships, in a tab-separated table beside this module (path, sha256, source: repository @ commit,
path). A file listed there is verified on first use, so a truncated download or a locally edited
copy fails loudly (naming the file and where to get it) instead of silently changing every number
computed from it.
"""

from __future__ import annotations

import os

TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "known_files.tsv")
COLUMNS = ["path", "sha256", "source"]


def _read(path: str) -> dict[str, tuple[str, str]]:
    known: dict[str, tuple[str, str]] = {}
    with open(path, encoding="utf-8") as f:
        rows = [(n, line.rstrip("\n")) for n, line in enumerate(f, 1) if line.strip() and not line.startswith("#")]
    if not rows or rows[0][1].split("\t") != COLUMNS:
        raise ValueError(f"{path}: expected the header {COLUMNS} (tab-separated)")
    for number, line in rows[1:]:
        fields = line.split("\t")
        if len(fields) != 3 or len(fields[1]) != 64:
            raise ValueError(f"{path}:{number}: expected path, 64-hex sha256 and source, tab-separated")
        known[fields[0]] = (fields[1], fields[2])
    return known


# relative path -> (sha256, public source)
KNOWN_FILES: dict[str, tuple[str, str]] = _read(TABLE)
