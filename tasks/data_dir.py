"""Where the project's data files live: `COT_DATA_DIR`, laid out like the shared data folder.

Nothing is downloaded at run time; every file has a known public source (see README) and a
sha256 checked on first use, so a missing or altered file fails with its name and origin.
"""

from __future__ import annotations

import functools
import hashlib
import os

import gin

ENV_VAR = "COT_DATA_DIR"

# relative path -> (sha256, public source)
KNOWN_FILES = {
    "tokenizers/t5/spiece.model": (
        "d60acb128cf7b7f2536e8f38a5b18a05535c9e14c7a355904270e15b0945ea86",
        "the T5 / FlanT5 SentencePiece model (spiece.model of google/flan-t5-base on Hugging Face, "
        "= gs://t5-data/vocabs/cc_all.32000/sentencepiece.model)",
    ),
}


class DataFileError(FileNotFoundError):
    """A data file is missing or differs from the published one."""


@gin.configurable
def data_dir(path: str | None = None) -> str:
    """The data directory: the gin binding if given, else $COT_DATA_DIR."""
    path = path or os.environ.get(ENV_VAR)
    if not path:
        raise DataFileError(f"No data directory: set {ENV_VAR}=/path/to/data (see README, 'Data').")
    return os.path.abspath(path)


@functools.cache
def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_file(relative: str) -> str:
    """Absolute path of a data file, verified against its known sha256 when it has one."""
    path = os.path.join(data_dir(), relative)
    known = KNOWN_FILES.get(relative)
    source = f" Get it from {known[1]}." if known else ""
    if not os.path.isfile(path):
        raise DataFileError(f"Missing data file {path}.{source}")
    if known and _sha256(path) != known[0]:
        raise DataFileError(f"{path} does not match the published file (sha256 differs).{source}")
    return path


def t5_sentencepiece_model() -> str:
    return data_file("tokenizers/t5/spiece.model")
