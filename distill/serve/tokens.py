"""Token strings, bytes and text offsets for the OpenAI logprobs fields, from a seqio vocabulary.

OpenAI reports each token as its text (`" the"`), its UTF-8 bytes, and, for completions, its
character offset in the returned text. T5 vocabularies do not expose that directly:
SentencePiece pieces write spaces as `▁` and may be byte pieces (`<0xE2>`), ByteVocabulary
ids 3..258 are single bytes, and special ids (pad, EOS, unk, sentinels) have no bytes. A
token whose bytes are not valid UTF-8 on their own (one byte of a multi-byte character) is
named `bytes:\\xe2` as the OpenAI API does. The completion text itself is always the
vocabulary's own `decode` of the ids, so it equals what evaluation and inference produce.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from distill.contracts.token_bytes import token_string

_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


class TokenTable:
    """Maps token ids of one vocabulary to OpenAI token strings and bytes (cached per id)."""

    def __init__(self, vocabulary: Any) -> None:
        self.vocabulary = vocabulary
        self.eos_id = int(vocabulary.eos_id)
        self._is_bytes = type(vocabulary).__name__ == "ByteVocabulary"

    def encode(self, text: str) -> list[int]:
        return [int(i) for i in self.vocabulary.encode(text)]

    def decode(self, ids: Sequence[int]) -> str:
        return self.vocabulary.decode([int(i) for i in ids])

    @functools.cache  # noqa: B019 - one table per served model, kept for the server's life.
    def token(self, token_id: int) -> tuple[str, bytes | None]:
        """(token string, its bytes or None for special tokens without a text form)."""
        raw = self._bytes(token_id)
        if raw is None:
            return self._special_name(token_id), None
        return token_string(raw), raw

    def _bytes(self, token_id: int) -> bytes | None:
        vocab = self.vocabulary
        sentinels_from = vocab.vocab_size - (getattr(vocab, "extra_ids", 0) or 0)
        if token_id in (vocab.pad_id, vocab.eos_id, vocab.unk_id) or token_id >= sentinels_from:
            return None  # special ids and T5's sentinels (<extra_id_N>)
        if self._is_bytes:
            offset = getattr(vocab, "_num_special_tokens", 3)
            return bytes([token_id - offset]) if offset <= token_id < offset + 256 else None
        tokenizer = getattr(vocab, "tokenizer", None)
        if hasattr(tokenizer, "id_to_piece"):  # seqio.SentencePieceVocabulary
            if tokenizer.is_control(token_id) or tokenizer.is_unknown(token_id):
                return None
            piece = tokenizer.id_to_piece(token_id)
            match = _BYTE_PIECE.match(piece)
            if match and tokenizer.is_byte(token_id):
                return bytes([int(match.group(1), 16)])
            return piece.replace("\u2581", " ").encode("utf-8")
        return vocab.decode([token_id]).encode("utf-8")

    def _special_name(self, token_id: int) -> str:
        vocab = self.vocabulary
        names = {vocab.pad_id: "<pad>", vocab.eos_id: "</s>", vocab.unk_id: "<unk>"}
        if token_id in names:
            return names[token_id]
        if token_id < vocab.vocab_size:
            text = vocab.decode([token_id]).strip()
            if text.startswith("<") and text.endswith(">"):
                return text
        return f"<id_{token_id}>"

    def offsets(self, ids: Sequence[int]) -> list[int]:
        """Character offset of each token in `decode(ids)`: the length of the text before it."""
        return [len(self.decode(ids[:i])) for i in range(len(ids))]

    def truncate_at_stop(self, ids: Sequence[int], stops: Sequence[str]) -> tuple[str, int, bool]:
        """(text up to the first stop string, tokens kept, whether a stop string was found).

        Kept tokens are those that start before the stop string, so they cover the returned
        text (the last one may run into the stop string when it straddles it).
        """
        text = self.decode(ids)
        cuts = [pos for pos in (text.find(stop) for stop in stops if stop) if pos >= 0]
        if not cuts:
            return text, len(ids), False
        cut = min(cuts)
        kept = sum(1 for offset in self.offsets(ids) if offset < cut)
        return text[:cut], kept, True
