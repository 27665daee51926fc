"""OpenAI token strings and the bytes they stand for: the one codec of every stage.

The API names each generated token by its text. A token whose bytes are not UTF-8 on their own
(one byte of a multi-byte character, as BPE vocabularies produce) is written `bytes:\\xe2\\x80`;
a special token (tiktoken's `<|endoftext|>`, SentencePiece's `</s>`, `<pad>`, `<unk>`,
`<extra_id_N>`, or `<id_N>` for an id without a name) stands for no bytes, as the chat API's
`bytes: null` says. `distill.serve` writes token strings with `token_string`; `distill.generate`
and `distill.build` read them back with `string_bytes`.
"""

from __future__ import annotations

import re

PREFIX = "bytes:"
_BYTE_ESCAPES = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
SPECIAL = re.compile(r"<\|[^|<>]+\|>|</?s>|<pad>|<unk>|<extra_id_\d+>|<id_\d+>")


def token_string(raw: bytes) -> str:
    """A token's bytes as the API names them: their text, or `bytes:\\xe2...` when not UTF-8 on their own."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return PREFIX + "".join(f"\\x{b:02x}" for b in raw)


def string_bytes(token: str) -> bytes:
    """The bytes a token string stands for: `bytes:\\xe2\\x80` -> b'\\xe2\\x80', a special token -> b''."""
    if token.startswith(PREFIX) and _BYTE_ESCAPES.fullmatch(token, len(PREFIX)):
        return bytes.fromhex(token[len(PREFIX) :].replace("\\x", ""))
    if SPECIAL.fullmatch(token):
        return b""
    return token.encode("utf-8")
