"""OpenAI response bodies for `/v1/completions` and `/v1/chat/completions`: choices, stop strings, logprobs.

Built from the batcher's generations of a parsed `openai_requests.Request`; the completion text is
always the output vocabulary's own decode, so it equals what evaluation and inference produce.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Sequence
from typing import Any

from distill.contracts.teacher_records import MIN_LOGPROB
from distill.serve.batcher import Generation
from distill.serve.openai_requests import Request
from distill.serve.tokens import TokenTable


@dataclasses.dataclass
class Finished:
    """One choice after stop strings: its text, kept tokens and why it ended."""

    text: str
    generation: Generation
    kept: int
    finish_reason: str


def finish(generation: Generation, request: Request, table: TokenTable) -> Finished:
    text, kept, stopped = table.truncate_at_stop(generation.ids, request.stop)
    reason = "stop" if stopped or generation.ended else "length"
    return Finished(text, generation, kept, reason)


def _logprob(value: float) -> float:
    return max(float(value), MIN_LOGPROB)


def _alternatives(finished: Finished, request: Request, i: int) -> list[tuple[int, float]]:
    g, k = finished.generation, request.logprobs or 0
    return [(int(t), float(lp)) for t, lp in zip(g.top_ids[i, :k], g.top_log_probs[i, :k], strict=True)]


def completion_logprobs(finished: Finished, request: Request, table: TokenTable) -> dict[str, Any]:
    """Legacy completions logprobs: tokens, token_logprobs, top_logprobs dicts and text_offset.

    As in the OpenAI API, each `top_logprobs` dict holds the `logprobs` most likely tokens
    plus the chosen one when it is not among them; entries are in descending order.
    """
    g = finished.generation
    ids = g.ids[: finished.kept]
    tops = []
    for i, token_id in enumerate(ids):
        pairs = dict(_alternatives(finished, request, i))
        pairs.setdefault(token_id, g.log_probs[i])
        ranked: dict[str, float] = {}
        for alt, lp in sorted(pairs.items(), key=lambda item: -item[1]):
            ranked.setdefault(table.token(alt)[0], _logprob(lp))
        tops.append(ranked)
    return {
        "tokens": [table.token(t)[0] for t in ids],
        "token_logprobs": [_logprob(lp) for lp in g.log_probs[: finished.kept]],
        "top_logprobs": tops,
        "text_offset": table.offsets(ids),
    }


def _token_entry(table: TokenTable, token_id: int, logprob: float) -> dict[str, Any]:
    text, raw = table.token(token_id)
    return {"token": text, "logprob": _logprob(logprob), "bytes": list(raw) if raw is not None else None}


def chat_logprobs(finished: Finished, request: Request, table: TokenTable) -> dict[str, Any]:
    """Chat logprobs: `content` is one entry per token with exactly `top_logprobs` alternatives."""
    g = finished.generation
    content = []
    for i in range(finished.kept):
        entry = _token_entry(table, g.ids[i], g.log_probs[i])
        entry["top_logprobs"] = [_token_entry(table, t, lp) for t, lp in _alternatives(finished, request, i)]
        content.append(entry)
    return {"content": content, "refusal": None}


def _choice(generation: Generation, request: Request, table: TokenTable) -> tuple[dict[str, Any], int]:
    """One choice's body (without its index) and its completion tokens."""
    done = finish(generation, request, table)
    if request.chat:
        logprobs = chat_logprobs(done, request, table) if request.logprobs is not None else None
        message = {"role": "assistant", "content": done.text, "refusal": None}
        return {"message": message, "logprobs": logprobs, "finish_reason": done.finish_reason}, done.kept
    logprobs = completion_logprobs(done, request, table) if request.logprobs is not None else None
    return {"text": done.text, "logprobs": logprobs, "finish_reason": done.finish_reason}, done.kept


def response(request: Request, generations: Sequence[Generation], table: TokenTable) -> dict[str, Any]:
    """The `text_completion` or `chat.completion` body for a request's decoded choices.

    Each decoded generation's text and log-probs are built once: the n choices of a greedy
    prompt (decoded once) share them, so n copies cost n small dicts, not n log-prob tables.
    """
    choices = []
    completion_tokens = 0
    built: dict[int, tuple[dict[str, Any], int]] = {}
    for index, generation in enumerate(request.choices(generations)):
        if id(generation) not in built:
            built[id(generation)] = _choice(generation, request, table)
        body, kept = built[id(generation)]
        completion_tokens += kept
        choices.append({"index": index, **body})
    prompt_tokens = sum(len(p) for p in request.prompts)
    return {
        "id": ("chatcmpl-" if request.chat else "cmpl-") + uuid.uuid4().hex,
        "object": "chat.completion" if request.chat else "text_completion",
        "created": int(time.time()),
        "model": request.model,
        "system_fingerprint": None,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
