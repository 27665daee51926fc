"""OpenAI response bodies (completions and chat) into choices with per-token bytes and top-K alternatives.

Both APIs describe the same thing in different shapes, and records must not depend on which was
used:

* completions: `logprobs.tokens`, `.token_logprobs`, `.top_logprobs` (one dict per token: the K
  most likely token strings plus, when it is not among them, the sampled one) and `.text_offset`;
  a token that is only part of a UTF-8 character is written `bytes:\\xe2\\x80`;
* chat: `logprobs.content[*]` = `{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}`.

Both become `{"token", "bytes", "logprob", "top": [{"token", "bytes", "logprob"}]}` (the teacher
record's token), `top` being the K most likely alternatives, most likely first. Log-probabilities
are clamped into [-9999, 0] (OpenAI's floor; servers round to tiny positive values). Anything
else unexpected raises `MalformedResponseError`, which the client records and retries.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass, field
from typing import Any

from distill.contracts.teacher_records import MIN_LOGPROB
from distill.contracts.token_bytes import string_bytes

_VALUE = operator.itemgetter(1)


class MalformedResponseError(ValueError):
    """A response body that is not the expected OpenAI shape."""


@dataclass
class Choice:
    text: str
    finish_reason: str
    tokens: list[dict[str, Any]] | None  # teacher-record tokens, or None without logprobs


@dataclass
class Completion:
    choices: list[Choice]
    usage: dict[str, int] = field(default_factory=dict)


def _checked_bytes(token: str) -> bytes:
    """The bytes a completions token string stands for (`token_bytes.string_bytes`), after a type check."""
    if token.__class__ is not str:
        raise ValueError(f"token is {type(token).__name__}, expected a string")
    return string_bytes(token)


@functools.lru_cache(maxsize=1 << 17)
def _string_bytes(token: str) -> list[int]:
    """`token_bytes` as a list of ints, cached: a run sees the same token strings over and over.

    The lists are shared between records (nothing mutates a record's tokens).
    """
    return list(_checked_bytes(token))


def _logprob(value: Any) -> float:
    """A log-probability clamped into [-9999, 0]; callers test the common case inline first (hot path)."""
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        raise ValueError(f"logprob is {value!r}, expected a number")
    return min(0.0, max(MIN_LOGPROB, float(value)))


def _named(token: Any, lp: Any) -> dict[str, Any]:
    """A completions token: bytes from its string."""
    lp = lp if lp.__class__ is float and MIN_LOGPROB <= lp <= 0.0 else _logprob(lp)
    return {"token": token, "bytes": _string_bytes(token), "logprob": lp}


def _with_bytes(item: Any) -> dict[str, Any]:
    """A chat token: its `bytes` list, or none for `bytes: null` (EOS, a sentinel: no text)."""
    token, raw, lp = item.get("token"), item.get("bytes", _FROM_STRING), item.get("logprob")
    if raw is _FROM_STRING:
        return _named(token, lp)
    if token.__class__ is not str:
        raise ValueError(f"token is {type(token).__name__}, expected a string")
    if raw is None:
        raw = []
    elif raw.__class__ is not list:
        raise ValueError("bytes must be a list of integers 0..255")
    bytes(raw)  # raises unless every entry is an integer in 0..255
    lp = lp if lp.__class__ is float and MIN_LOGPROB <= lp <= 0.0 else _logprob(lp)
    return {"token": token, "bytes": raw, "logprob": lp}


_FROM_STRING = object()
_MALFORMED = (ValueError, TypeError, AttributeError)


def _completion_tokens(logprobs: Any, k: int, where: str) -> list[dict[str, Any]]:
    if not isinstance(logprobs, dict):
        raise MalformedResponseError(f"{where}: no logprobs (does the server support them? else use --no-logprobs)")
    tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list) or len(tokens) != len(values):
        raise MalformedResponseError(f"{where}: logprobs.tokens and .token_logprobs must be lists of one length")
    tops = logprobs.get("top_logprobs") or [None] * len(tokens)
    if not isinstance(tops, list) or len(tops) != len(tokens):
        raise MalformedResponseError(f"{where}: logprobs.top_logprobs must be a list with one entry per token")
    out: list[dict[str, Any]] = []
    try:
        for token, value, top in zip(tokens, values, tops, strict=True):
            entry = _named(token, value)
            # Sorting is stable, so equal log-probs keep the server's order. `_named`, inlined (hot loop).
            ranked = sorted(top.items(), key=_VALUE, reverse=True)[:k] if top else ()
            entry["top"] = [
                {
                    "token": t,
                    "bytes": _string_bytes(t),
                    "logprob": lp if lp.__class__ is float and MIN_LOGPROB <= lp <= 0.0 else _logprob(lp),
                }
                for t, lp in ranked
            ]
            out.append(entry)
    except _MALFORMED as error:
        raise MalformedResponseError(f"{where}.tokens[{len(out)}]: {error}") from None
    return out


def _chat_tokens(logprobs: Any, k: int, where: str) -> list[dict[str, Any]]:
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        raise MalformedResponseError(
            f"{where}: no logprobs.content (does the server support logprobs? else --no-logprobs)"
        )
    out: list[dict[str, Any]] = []
    try:
        for item in content:
            entry = _with_bytes(item)
            entry["top"] = [_with_bytes(a) for a in (item.get("top_logprobs") or ())[:k]]
            out.append(entry)
    except _MALFORMED as error:
        raise MalformedResponseError(f"{where}.content[{len(out)}]: {error}") from None
    return out


def _text(choice: dict[str, Any], chat: bool, where: str) -> str:
    if chat:
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else None
    else:
        text = choice.get("text")
    if not isinstance(text, str):
        raise MalformedResponseError(f"{where}: no {'message.content' if chat else 'text'} string")
    return text


def _usage(body: dict[str, Any]) -> dict[str, int]:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return {}
    return {k: v for k in ("prompt_tokens", "completion_tokens") if isinstance(v := usage.get(k), int)}


def parse(body: Any, chat: bool, n: int, top_logprobs: int | None) -> Completion:
    """The choices of one response, in index order; `top_logprobs` None means none were requested.

    A server may return fewer than `n` choices (one that ignores `n`), never more.
    """
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list) or not body["choices"]:
        raise MalformedResponseError("response has no 'choices' list")
    raw = body["choices"]
    if len(raw) > n:
        raise MalformedResponseError(f"response has {len(raw)} choices; {n} were requested")
    if not all(isinstance(c, dict) for c in raw):
        raise MalformedResponseError("every choice must be an object")
    indices = [c.get("index", i) for i, c in enumerate(raw)]
    if sorted(indices) != list(range(len(raw))):
        raise MalformedResponseError(f"choice indices are {indices}, expected 0..{len(raw) - 1}")
    choices = []
    for index, choice in sorted(zip(indices, raw, strict=True), key=lambda pair: pair[0]):
        where = f"choices[{index}]"
        tokens = None
        if top_logprobs is not None:
            parse_tokens = _chat_tokens if chat else _completion_tokens
            tokens = parse_tokens(choice.get("logprobs"), top_logprobs, f"{where}.logprobs")
        reason = choice.get("finish_reason")
        choices.append(Choice(_text(choice, chat, where), reason if isinstance(reason, str) else "unknown", tokens))
    return Completion(choices, _usage(body))
