"""Teacher tokens for alignment: from a record's bytes or strings, or re-tokenized with a named tokenizer file.

Why three sources: the aligner needs each teacher token's text and its top-k distribution. A
teacher record (`distill.contracts.teacher_records`) carries both, with token bytes that spell the
completion exactly (`bytes`, the default). Some tools only keep the API's token *strings*
(`strings`: a string `bytes:\\xe2\\x80` stands for bytes that are not UTF-8 on their own, as
the OpenAI API writes them), which need not spell the completion; the fast aligner then falls
back to a character DP where the texts disagree. And a completion can be re-tokenized with the
teacher's own tokenizer (`retokenize`: a tiktoken `.tiktoken` file such as
`tokenizers/gpt2/p50k_base.tiktoken`, or a Hugging Face `tokenizer.json`), e.g. for records
without per-token data or to check a record against its tokenizer; a re-tokenized token keeps
the record's distribution where it spans exactly the bytes of a record token, else it has none.

A token without a distribution (NaN log-probs) transfers nothing: its student positions get
no teacher mass.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from typing import Any
from unittest import mock

import numpy as np

from distill.contracts.distill_examples import NO_MASS
from distill.contracts.token_bytes import string_bytes

SOURCES = ("bytes", "strings")


@dataclasses.dataclass(frozen=True)
class TeacherSequence:
    """Per generated token: its bytes, and its candidates (the token, then its top alternatives) with log-probs.

    `candidates[i]` is Fu et al.'s list for token i (the sampled token first), padded with `b""`
    to one width; `logprobs[i]` their log-probs (`-inf` for padding), all NaN when token i has
    no known distribution. Arrays, because the aligners read them for many tokens at once.
    """

    texts: list[bytes]
    candidates: list[tuple[bytes, ...]]
    logprobs: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def known(self) -> np.ndarray:
        """Per token: whether its distribution is known."""
        return ~np.isnan(self.logprobs[:, 0])

    def strings(self) -> list[str]:
        """The tokens as text (bytes that are not UTF-8 on their own become U+FFFD)."""
        return [t.decode("utf-8", errors="replace") for t in self.texts]

    def text(self) -> str:
        return b"".join(self.texts).decode("utf-8", errors="replace")


def sequence(candidates: list[tuple[bytes, ...]], logprobs: list[list[float]]) -> TeacherSequence:
    """A `TeacherSequence` from per-token candidate lists (sampled token first) and their log-probs."""
    width = max(map(len, candidates), default=1)
    if any(len(c) != width for c in candidates):
        candidates = [c + (b"",) * (width - len(c)) for c in candidates]
        logprobs = [row + [NO_MASS] * (width - len(row)) for row in logprobs]
    array = np.array(logprobs, np.float64).reshape(len(candidates), width)
    return TeacherSequence([c[0] for c in candidates], candidates, array)


def from_record(record: dict[str, Any], source: str = "bytes") -> TeacherSequence:
    """The tokens of a validated teacher record (empty when the record has none)."""
    if source not in SOURCES:
        raise ValueError(f"Unknown teacher token source {source!r}; expected one of {SOURCES}")
    tokens = record["tokens"] or []
    if source == "bytes":
        candidates = [(bytes(t["bytes"]), *(bytes(a["bytes"]) for a in t["top"])) for t in tokens]
    else:
        candidates = [(string_bytes(t["token"]), *(string_bytes(a["token"]) for a in t["top"])) for t in tokens]
    return sequence(candidates, [[t["logprob"], *(a["logprob"] for a in t["top"])] for t in tokens])


# --- re-tokenization -----------------------------------------------------------------------------

Tokenize = Callable[[str], list[bytes]]


def load_tokenizer(path: str) -> Tokenize:
    """A function text -> token bytes (spelling the text) for a `.tiktoken` file or a `tokenizer.json`.

    A `.tiktoken` file is named like its tiktoken encoding (`p50k_base.tiktoken`): the pattern and
    special tokens are tiktoken's own for that name, and the file must have tiktoken's pinned sha256.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: tokenizer file not found")
    if path.endswith(".tiktoken"):
        return _tiktoken(path)
    if path.endswith(".json"):
        return _hf_tokenizer(path)
    raise ValueError(f"{path}: expected a tiktoken '<encoding>.tiktoken' file or a Hugging Face 'tokenizer.json'")


def tiktoken_encoding(path: str) -> Any:
    """The `tiktoken.Encoding` of a local `<name>.tiktoken` file (tiktoken's pattern, specials and sha256 for name)."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    from tiktoken_ext import openai_public

    name = os.path.basename(path).removesuffix(".tiktoken")
    constructor = openai_public.ENCODING_CONSTRUCTORS.get(name)
    if constructor is None:
        known = sorted(openai_public.ENCODING_CONSTRUCTORS)
        raise ValueError(f"{path}: no tiktoken encoding named {name!r}; name the file after one of {known}")

    # The constructors hard-code a download URL; pointed at the local file they give tiktoken's own
    # pattern, special tokens and sha256 check without copying them here.
    def local(_url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        return load_tiktoken_bpe(path, expected_hash)

    with mock.patch.object(openai_public, "load_tiktoken_bpe", local):
        spec = constructor()
    return tiktoken.Encoding(**spec)


def _tiktoken(path: str) -> Tokenize:
    encoding = tiktoken_encoding(path)

    def tokenize(text: str) -> list[bytes]:
        return encoding.decode_tokens_bytes(encoding.encode_ordinary(text))

    return tokenize


def _hf_tokenizer(path: str) -> Tokenize:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)

    def tokenize(text: str) -> list[bytes]:
        # Offsets are character spans; tokens of one split character share a span. Each token
        # gets the text from the end of the previous one to its own end, so the bytes spell `text`.
        data = text.encode("utf-8")
        char_to_byte = _char_byte_offsets(text)
        pieces, cursor = [], 0
        offsets = tokenizer.encode(text, add_special_tokens=False).offsets
        for index, (_, end) in enumerate(offsets):
            stop = len(data) if index == len(offsets) - 1 else max(cursor, char_to_byte[end])
            pieces.append(data[cursor:stop])
            cursor = stop
        return pieces or [data]

    return tokenize


def _char_byte_offsets(text: str) -> list[int]:
    offsets, position = [0], 0
    for char in text:
        position += len(char.encode("utf-8"))
        offsets.append(position)
    return offsets


def retokenize(text: str, tokenize: Tokenize, record_tokens: TeacherSequence | None = None) -> TeacherSequence:
    """`text` in the tokenizer's tokens; distributions copied from `record_tokens` spanning the same bytes."""
    texts = [t for t in tokenize(text) if t]
    by_span: dict[tuple[int, int], int] = {}
    if record_tokens is not None:
        by_span = {span: i for i, span in enumerate(_spans(record_tokens.texts))}
    candidates, logprobs = [], []
    for text, span in zip(texts, _spans(texts), strict=True):
        source = by_span.get(span)
        candidates.append((text,) if source is None else record_tokens.candidates[source])
        logprobs.append([math.nan] if source is None else record_tokens.logprobs[source].tolist())
    return sequence(candidates, logprobs)


def _spans(texts: Sequence[bytes]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for t in texts:
        spans.append((start, start + len(t)))
        start += len(t)
    return spans
