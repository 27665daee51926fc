"""OpenAI request validation for `/v1/completions` and `/v1/chat/completions` (bodies: `openai_responses`).

Every way a request can be wrong raises `RequestError`, which the server turns into an
OpenAI-style error body (`{"error": {"message", "type", "param", "code"}}`) naming the field;
nothing a client sends reaches the decoder unchecked. Parameters the engine cannot honour
(streaming, echo, penalties, logit bias, tools, best_of > n) are refused rather than ignored,
so a client never gets a silently different sampling than it asked for.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from distill.serve.batcher import Generation, Row
from distill.serve.tokens import TokenTable

MAX_N = 128
MAX_STOP = 4
# Response size as JSON, for `Request.size_bound`: per choice; per token its text; with log-probs, per
# token its token string, log-prob and offset, and per entry (the chosen token and each alternative)
# its token string and log-prob (and for chat its bytes).
CHOICE_BYTES, TOKEN_TEXT_BYTES, LOGPROB_TOKEN_BYTES = 200, 8, 48
COMPLETION_LOGPROB_BYTES, CHAT_LOGPROB_BYTES = 40, 96


class RequestError(Exception):
    """A client error, reported as `{"error": {...}}` with this HTTP status."""

    def __init__(
        self,
        message: str,
        param: str | None = None,
        status: int = 400,
        code: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message, self.param, self.status, self.code = message, param, status, code
        self.kind = kind or ("invalid_request_error" if status < 500 else "server_error")

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


@dataclasses.dataclass(frozen=True)
class Limits:
    """What the server accepts: the largest buckets, the input vocabulary's size and the per-request caps."""

    max_input_tokens: int
    max_decode_tokens: int
    max_top_logprobs: int
    vocab_size: int  # the input vocabulary's own size (the model's embedding table is padded beyond it)
    max_request_choices: int = 256  # prompts x n
    max_response_bytes: int = 16 * 2**20  # bounds `Request.size_bound`


@dataclasses.dataclass(frozen=True)
class Request:
    """A validated request: one or more tokenized prompts and how to sample their choices."""

    chat: bool
    model: str
    prompts: list[list[int]]  # encoder tokens, each ending in EOS
    n: int
    temperature: float
    top_p: float
    max_tokens: int
    stop: tuple[str, ...]
    seed: int | None
    logprobs: int | None  # None: no logprobs; else the number of alternatives per token

    def rows(self, fresh_seed: Any) -> list[Row]:
        """Decode rows, prompt-major (choice index = prompt * n + j). Greedy choices are decoded once."""
        rows = []
        for p, tokens in enumerate(self.prompts):
            for j in range(1 if self.temperature == 0 else self.n):
                seed = self.seed if self.seed is not None else fresh_seed()
                rows.append(
                    Row(
                        encoder_tokens=tuple(tokens),
                        temperature=self.temperature,
                        top_p=self.top_p,
                        max_tokens=self.max_tokens,
                        seed=(seed % 2**31, p * self.n + j),
                        top_logprobs=self.logprobs or 0,
                    )
                )
        return rows

    def size_bound(self) -> int:
        """About the most bytes the response body can take (JSON of every choice's tokens and log-probs)."""
        per_token = TOKEN_TEXT_BYTES
        if self.logprobs is not None:
            per_token += LOGPROB_TOKEN_BYTES + (self.logprobs + 1) * (
                CHAT_LOGPROB_BYTES if self.chat else COMPLETION_LOGPROB_BYTES
            )
        return len(self.prompts) * self.n * (CHOICE_BYTES + self.max_tokens * per_token)

    def choices(self, generations: Sequence[Generation]) -> list[Generation]:
        """One generation per choice, prompt-major, copying greedy decodes n times."""
        if self.temperature != 0:
            return list(generations)
        return [g for g in generations for _ in range(self.n)]


_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string")):
        if isinstance(value, kind):
            return name
    return "an array" if isinstance(value, list) else "an object"


def _is(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _field(body: dict, name: str, kind: type, default: Any) -> Any:
    """body[name] checked against `kind` (null or missing gives `default`)."""
    value = body.get(name)
    if value is None:
        return default
    if not _is(value, kind):
        raise RequestError(
            f"Invalid type for '{name}': expected {_TYPE_NAMES[kind]}, but got {_json_type(value)} instead.", name
        )
    return float(value) if kind is float else value


def _in_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise RequestError(f"Invalid value for '{name}': {value} is not between {low} and {high}.", name)


def parse_body(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:  # ValueError: also a number over 4,300 digits
        raise RequestError(f"The request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise RequestError(f"The request body must be a JSON object, but got {_json_type(body)}.")
    return body


def _unsupported(body: dict, chat: bool) -> None:
    """Refuses what the engine cannot do, naming the field."""
    checks = [
        ("stream", lambda v: v is True, "streaming is not supported; set 'stream' to false"),
        ("presence_penalty", lambda v: v not in (None, 0, 0.0), "'presence_penalty' is not supported; use 0"),
        ("frequency_penalty", lambda v: v not in (None, 0, 0.0), "'frequency_penalty' is not supported; use 0"),
        ("logit_bias", lambda v: v not in (None, {}), "'logit_bias' is not supported"),
    ]
    if chat:
        checks += [
            ("tools", lambda v: v not in (None, []), "'tools' are not supported"),
            ("functions", lambda v: v not in (None, []), "'functions' are not supported"),
            (
                "response_format",
                lambda v: v is not None and not (isinstance(v, dict) and v.get("type") == "text"),
                "only response_format {'type': 'text'} is supported",
            ),
        ]
    else:
        checks += [
            ("echo", lambda v: v is True, "'echo' is not supported for encoder-decoder models; set it to false"),
            ("suffix", lambda v: v not in (None, ""), "'suffix' is not supported"),
        ]
    for name, bad, message in checks:
        if name in body and bad(body[name]):
            raise RequestError(message, name)
    for name in ("presence_penalty", "frequency_penalty"):
        _field(body, name, float, 0.0)


def _stop(body: dict) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise RequestError("Invalid type for 'stop': expected a string or an array of strings.", "stop")
    if len(stop) > MAX_STOP:
        raise RequestError(f"Invalid value for 'stop': at most {MAX_STOP} stop sequences are allowed.", "stop")
    return tuple(s for s in stop if s)


def _common(body: dict, served_model: str, limits: Limits, chat: bool) -> dict[str, Any]:
    model = _field(body, "model", str, served_model)
    if model != served_model:
        raise RequestError(
            f"The model '{model}' does not exist; this server serves '{served_model}'.", "model", 404, "model_not_found"
        )
    _unsupported(body, chat)
    n = _field(body, "n", int, 1)
    _in_range("n", n, 1, MAX_N)
    temperature = _field(body, "temperature", float, 1.0)
    _in_range("temperature", temperature, 0.0, 2.0)
    top_p = _field(body, "top_p", float, 1.0)
    _in_range("top_p", top_p, 0.0, 1.0)
    best_of = _field(body, "best_of", int, None)
    if best_of is not None and best_of != n:
        raise RequestError("'best_of' is only supported when it equals 'n'.", "best_of")
    seed = _field(body, "seed", int, None)
    _field(body, "user", str, None)
    default_max = limits.max_decode_tokens if chat else 16
    max_tokens = _field(body, "max_tokens", int, default_max)
    if chat:
        max_tokens = _field(body, "max_completion_tokens", int, max_tokens)
    name = "max_completion_tokens" if chat and body.get("max_completion_tokens") is not None else "max_tokens"
    _in_range(name, max_tokens, 1, limits.max_decode_tokens)
    return {
        "model": model,
        "n": n,
        "temperature": temperature,
        "top_p": top_p,
        "seed": seed,
        "max_tokens": max_tokens,
        "stop": _stop(body),
    }


def _encoder_tokens(ids: list[int], field: str, table: TokenTable, limits: Limits) -> list[int]:
    if not ids or ids[-1] != table.eos_id:
        ids = [*ids, table.eos_id]
    if len(ids) > limits.max_input_tokens:
        raise RequestError(
            f"'{field}' is {len(ids)} tokens (with EOS); this server accepts at most {limits.max_input_tokens}.",
            field,
            code="context_length_exceeded",
        )
    return ids


def parse_completion(body: dict, served_model: str, limits: Limits, table: TokenTable) -> Request:
    """`/v1/completions`: prompt is a string, strings, token ids, or lists of token ids."""
    common = _common(body, served_model, limits, chat=False)
    if body.get("prompt") is None:
        raise RequestError("Missing required parameter: 'prompt'.", "prompt")
    prompt = body["prompt"]
    if isinstance(prompt, str):
        texts_or_ids: list[Any] = [prompt]
    elif isinstance(prompt, list) and prompt and all(_is(t, int) for t in prompt):
        texts_or_ids = [prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, (str, list)) for p in prompt):
        texts_or_ids = prompt
    else:
        raise RequestError(
            "Invalid type for 'prompt': expected a string, an array of strings, an array of token ids "
            "or an array of arrays of token ids (non-empty).",
            "prompt",
        )
    prompts = []
    for item in texts_or_ids:
        if isinstance(item, str):
            ids = table.encode(item)
        elif item and all(_is(t, int) and 0 <= t < limits.vocab_size for t in item):
            ids = list(item)
        else:
            raise RequestError(f"'prompt' token ids must be integers in [0, {limits.vocab_size}).", "prompt")
        prompts.append(_encoder_tokens(ids, "prompt", table, limits))
    logprobs = _field(body, "logprobs", int, None)
    if logprobs is not None:
        _in_range("logprobs", logprobs, 0, limits.max_top_logprobs)
    return _within_caps(Request(chat=False, prompts=prompts, logprobs=logprobs, **common), limits)


def render_chat(messages: Sequence[dict[str, str]]) -> str:
    """The encoder input for a conversation (T5 has no chat template, so we define one).

    A conversation of one user message is its content unchanged, so a student fine-tuned on
    raw questions sees exactly its training inputs. Otherwise each message becomes a
    `role: content` line, in order, joined by newlines.
    """
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def _messages(body: dict) -> list[dict[str, str]]:
    messages = body.get("messages")
    if messages is None:
        raise RequestError("Missing required parameter: 'messages'.", "messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("Invalid value for 'messages': expected a non-empty array of messages.", "messages")
    out = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise RequestError(f"Invalid type for '{where}': expected an object.", where)
        role = message.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise RequestError(
                f"Invalid value for '{where}.role': expected one of system, developer, user, assistant, tool.",
                f"{where}.role",
            )
        content = message.get("content")
        if isinstance(content, list):  # content parts: only text
            if not all(
                isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content
            ):
                raise RequestError(
                    f"'{where}.content' parts must be {{'type': 'text', 'text': ...}}.", f"{where}.content"
                )
            content = "".join(p["text"] for p in content)
        elif content is None and role == "assistant":
            content = ""
        elif not isinstance(content, str):
            raise RequestError(
                f"Invalid type for '{where}.content': expected a string or an array of text parts.", f"{where}.content"
            )
        out.append({"role": role, "content": content})
    return out


def parse_chat(body: dict, served_model: str, limits: Limits, table: TokenTable) -> Request:
    """`/v1/chat/completions`: messages rendered by `render_chat`; logprobs is a boolean."""
    common = _common(body, served_model, limits, chat=True)
    text = render_chat(_messages(body))
    want = _field(body, "logprobs", bool, False)
    top = _field(body, "top_logprobs", int, None)
    if top is not None:
        _in_range("top_logprobs", top, 0, limits.max_top_logprobs)
        if not want:
            raise RequestError("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs")
    prompts = [_encoder_tokens(table.encode(text), "messages", table, limits)]
    return _within_caps(Request(chat=True, prompts=prompts, logprobs=(top or 0) if want else None, **common), limits)


def _within_caps(request: Request, limits: Limits) -> Request:
    """Refuses (400, naming the field) a request with too many choices or too large a response."""
    choices = len(request.prompts) * request.n
    if choices > limits.max_request_choices:
        raise RequestError(
            f"A request may ask for at most {limits.max_request_choices} choices (prompts x n); "
            f"this one asks for {len(request.prompts)} x {request.n}.",
            "n",
        )
    size = request.size_bound()
    if size > limits.max_response_bytes:
        field = "max_completion_tokens" if request.chat else "max_tokens"
        raise RequestError(
            f"The response could reach {size / 2**20:.1f} MiB ({choices} choices x {request.max_tokens} tokens"
            f"{f' x {request.logprobs + 1} log-probs' if request.logprobs is not None else ''}); this server "
            f"sends at most {limits.max_response_bytes / 2**20:.1f} MiB: lower '{field}', 'n' or the log-probs asked.",
            field,
        )
    return request
