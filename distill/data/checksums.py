"""sha256, public source and download URL of every file in the data directory (`known_files.tsv`).

Kept apart from `data_dir` because it is data about data: one row per file the shared data folder
ships, in a tab-separated table beside this module (path, sha256, source: repository @ commit,
path, and the URL at that pinned commit). A file listed there is verified on first use, so a
truncated download or a locally edited copy fails loudly (naming the file and where to get it)
instead of silently changing every number computed from it; `python -m distill.data download`
fetches it from its URL (or rebuilds it, for the few files marked `derived`).
"""

from __future__ import annotations

import os
from typing import NamedTuple

TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "known_files.tsv")
COLUMNS = ["path", "sha256", "source", "url"]
DERIVED = "derived"  # the url of a file rebuilt from another one (distill/data/derived.py)


class KnownFile(NamedTuple):
    sha256: str
    source: str  # for people: repository @ commit, path
    url: str  # for `download`: an https URL at a pinned commit, or DERIVED


def _read(path: str) -> dict[str, KnownFile]:
    known: dict[str, KnownFile] = {}
    with open(path, encoding="utf-8") as f:
        rows = [(n, line.rstrip("\n")) for n, line in enumerate(f, 1) if line.strip() and not line.startswith("#")]
    if not rows or rows[0][1].split("\t") != COLUMNS:
        raise ValueError(f"{path}: expected the header {COLUMNS} (tab-separated)")
    for number, line in rows[1:]:
        fields = line.split("\t")
        if len(fields) != len(COLUMNS) or len(fields[1]) != 64:
            raise ValueError(f"{path}:{number}: expected path, 64-hex sha256, source and url, tab-separated")
        if not (fields[3].startswith("https://") or fields[3] == DERIVED):
            raise ValueError(f"{path}:{number}: field 'url': expected an https:// URL or {DERIVED!r}")
        known[fields[0]] = KnownFile(*fields[1:])
    return known


# relative path -> (sha256, public source, url)
KNOWN_FILES: dict[str, KnownFile] = _read(TABLE)
