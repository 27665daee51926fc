"""The student side of alignment: SentencePiece ids with character spans, and teacher strings as student ids.

Why a wrapper over `SentencePieceProcessor`: the aligner needs each student token's span in the
normalized target text, and SentencePiece's offset protos are slow to read from Python (~40 us
per chain). For text that SentencePiece's own normalizer leaves unchanged (all normalized targets
but those with `<unk>`), a piece's surface is the piece with `▁` read as a space, so spans are
cumulative piece lengths; anything else falls back to the proto's byte offsets.

Teacher strings become student ids in two ways, both cached per string:

* `fu_id`: Fu et al.'s rule (docs/method.md 3.2): `' '` -> `'▁'`, kept only if that string
  is a piece of the vocabulary (control, unknown and byte pieces excluded);
* `normalized_id`: the same after `normalize_text` (`×` -> `*`, accents folded, ...), with a
  leading `▁` when the token follows whitespace (or starts the text), the form extra
  alignment rules use (see `distill.build.align.fast`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sentencepiece

from distill.contracts.distill_examples import BYTE_VOCABULARY
from distill.data.normalize import normalize_text

SPACE = "\u2581"


class StudentVocab:
    """A SentencePiece model (the student's vocabulary, e.g. T5's spiece.model) read for alignment."""

    def __init__(self, model_file: str) -> None:
        self.model_file = model_file
        self.sp = sentencepiece.SentencePieceProcessor(model_file=model_file)
        size = self.sp.get_piece_size()
        self.pieces = [self.sp.id_to_piece(i) for i in range(size)]
        self._lengths = np.array([len(p) for p in self.pieces], np.int64)
        special = [self.sp.is_control(i) or self.sp.is_unknown(i) or self.sp.is_byte(i) for i in range(size)]
        self._ids = {p: i for i, p in enumerate(self.pieces) if not special[i]}
        self._fu: dict[bytes, int] = {}
        self._normalized: dict[tuple[bytes, bool], int] = {}

    def __getstate__(self) -> dict:
        return {"model_file": self.model_file}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model_file"])

    def piece_id(self, piece: str) -> int:
        """The id of a (non-special) piece, or -1."""
        return self._ids.get(piece, -1)

    def encode(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, starts, ends): the pieces of `text` and their character spans in it.

        A piece's span includes the space its `▁` stands for; the first piece's `▁` is
        SentencePiece's dummy prefix, outside the text.
        """
        ids = self.sp.encode(text)
        if not ids:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        pieces = self.pieces
        if "".join([pieces[i] for i in ids]) == SPACE + text.replace(" ", SPACE):
            array = np.fromiter(ids, np.int64, len(ids))
            lengths = self._lengths[array]
            ends = np.cumsum(lengths) - 1
            starts = ends - lengths
            starts[0] = max(starts[0], 0)
            return array, starts, ends
        return self._encode_proto(text)

    def _encode_proto(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        proto = self.sp.encode(text, out_type="proto")
        byte_to_char = np.zeros(len(text.encode("utf-8")) + 1, np.int64)
        position = 0
        for index, char in enumerate(text):
            width = len(char.encode("utf-8"))
            byte_to_char[position : position + width] = index
            position += width
        byte_to_char[position] = len(text)
        ids = np.array([p.id for p in proto.pieces], np.int64)
        starts = byte_to_char[[p.begin for p in proto.pieces]]
        ends = byte_to_char[[p.end for p in proto.pieces]]
        return ids, starts, ends

    def fu_id(self, token: bytes) -> int:
        """Fu et al.'s mapping of a teacher token to a student id (`' '` -> `'▁'`, must be a piece), or -1."""
        try:
            return self._fu[token]
        except KeyError:
            pass
        try:
            found = self.piece_id(token.decode("utf-8").replace(" ", SPACE))
        except UnicodeDecodeError:
            found = -1
        self._fu[token] = found
        return found

    def fu_ids(self, tokens: Sequence[bytes]) -> list[int]:
        """`fu_id` of each token (one dictionary read per token once the strings have been seen)."""
        get = self._fu.get
        found = [get(token, -2) for token in tokens]
        if -2 in found:  # strings not seen before
            found = [self.fu_id(token) if i == -2 else i for i, token in zip(found, tokens, strict=True)]
        return found

    def normalized_id(self, token: bytes, after_space: bool) -> int:
        """The student piece a teacher token becomes after normalization, or -1 if it is not one piece.

        Whitespace-only tokens have none (they fold into the next word's `▁`); a token gets a
        leading `▁` when it starts with whitespace or follows whitespace (`after_space`).
        """
        key = (token, after_space)
        found = self._normalized.get(key)
        if found is None:
            found = self._normalized_id(token, after_space)
            self._normalized[key] = found
        return found

    def _normalized_id(self, token: bytes, after_space: bool) -> int:
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            return -1
        core = normalize_text(text)
        if not core:
            return -1
        prefix = SPACE if after_space or text[0].isspace() else ""
        return self.piece_id(prefix + core.replace(" ", SPACE))


class ByteStudentVocab:
    """A byte-level student (seqio's `ByteVocabulary`, as ByT5) read for alignment: one id per UTF-8 byte.

    Ids are the byte plus 3 (pad, EOS and unk come first). Every byte of a character spans that
    character. A teacher token becomes a student id only when it is one byte (Fu et al.'s rule: the
    string must be a student piece), so distributions transfer at single-character teacher
    tokens (digits, operators, punctuation), and everywhere else the target is the byte's NLL.
    """

    OFFSET = 3
    model_file = BYTE_VOCABULARY

    def __init__(self) -> None:
        names = ["<pad>", "</s>", "<unk>"]
        self.pieces = names + [SPACE if b == 32 else chr(b) if b < 128 else f"<0x{b:02X}>" for b in range(256)]

    def piece_id(self, piece: str) -> int:
        data = piece.replace(SPACE, " ").encode("utf-8")
        return data[0] + self.OFFSET if len(data) == 1 else -1

    def encode(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, starts, ends): the UTF-8 bytes of `text` and, per byte, its character's span."""
        data = text.encode("utf-8")
        ids = np.frombuffer(data, np.uint8).astype(np.int64) + self.OFFSET
        widths = [len(char.encode("utf-8")) for char in text]
        starts = np.repeat(np.arange(len(text), dtype=np.int64), widths)
        return ids, starts, starts + 1

    def fu_id(self, token: bytes) -> int:
        return token[0] + self.OFFSET if len(token) == 1 else -1

    def fu_ids(self, tokens: Sequence[bytes]) -> list[int]:
        return [self.fu_id(token) for token in tokens]

    def normalized_id(self, token: bytes, after_space: bool) -> int:
        """The byte a teacher token becomes after normalization, or -1 if it is not one byte.

        Spaces are bytes of their own here, so a leading space (or `after_space`) does not matter.
        """
        del after_space
        try:
            core = normalize_text(token.decode("utf-8"))
        except UnicodeDecodeError:
            return -1
        data = core.encode("utf-8")
        return data[0] + self.OFFSET if len(data) == 1 else -1


def student_vocab(vocab: str) -> StudentVocab | ByteStudentVocab:
    """The student side of alignment for `--vocab`: `byte`, or a SentencePiece model file."""
    return ByteStudentVocab() if vocab == BYTE_VOCABULARY else StudentVocab(vocab)
