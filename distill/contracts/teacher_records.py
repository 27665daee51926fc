"""Teacher records: one JSON line per (question, sample), written by `distill.generate`, read by `distill.build`.

Why a versioned schema of its own: a teacher run costs hours and real money, and its output is read
months later by a different program (and by users' own tools). Every record carries `schema`
(`SCHEMA`); readers reject other versions with a clear error instead of guessing.

Fields (JSON types):

| field | type | meaning |
| --- | --- | --- |
| `schema` | str | `"cot-specialize/teacher-record/1"` |
| `question_id` | str | stable id of the question within its dataset (the tasks' ids, e.g. `gsm8k-train-0017`) |
| `dataset`, `split` | str | where the question came from (`questions` for a user's JSONL file) |
| `question` | str | the question text as put into the prompt |
| `gold_answer` | str | the reference answer (a number for math) |
| `sample_index` | int | 0..N-1 within the question |
| `prompt_name`, `prompt_sha256` | str | the few-shot prompt's name and the sha256 of its exact text |
| `model`, `api` | str | the teacher's model name; `completions`, `chat` or `gold` |
| `sampling` | object | temperature, top_p, max_tokens, stop, top_logprobs, n, seed (as sent) |
| `completion` | str | the generated text, cut as Fu et al. do (at the first blank line / next "Question:") |
| `answer` | str or null | the answer extracted from `completion` |
| `correct` | bool | `answer` equals `gold_answer` numerically |
| `finish_reason` | str | from the API, or `cut` when the text was cut |
| `usage` | object | prompt_tokens, completion_tokens (whole request, shared by its `n` samples) |
| `tokens` | list or null | per generated token of `completion` (null when the source has no log-probs) |

A token is `{"token": str, "bytes": [int], "logprob": float, "top": [alternative, ...]}` and an
alternative `{"token": str, "bytes": [int], "logprob": float}`, the top-K most likely tokens at that
position, most likely first (the sampled token may or may not be among them).

Invariant when `tokens` is not null: the tokens' bytes concatenated are exactly `completion`
encoded as UTF-8 (the cut is moved back to a token boundary), so an aligner can map every
byte of the text to the teacher token that produced it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import orjson

from distill.contracts import durable

log = logging.getLogger(__name__)

SCHEMA = "cot-specialize/teacher-record/1"
MIN_LOGPROB = -9999.0  # OpenAI's floor for a log-prob (JSON has no -Infinity); the lowest a record holds

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema": str,
    "question_id": str,
    "dataset": str,
    "split": str,
    "question": str,
    "gold_answer": str,
    "sample_index": int,
    "prompt_name": str,
    "prompt_sha256": str,
    "model": str,
    "api": str,
    "sampling": dict,
    "completion": str,
    "answer": (str, type(None)),
    "correct": bool,
    "finish_reason": str,
    "usage": dict,
    "tokens": (list, type(None)),
}


# What makes records samples of one distribution: the teacher, its prompt and its sampling settings.
ORIGIN_FIELDS = ("model", "api", "prompt_sha256")
SAMPLING_FIELDS = ("temperature", "top_p", "max_tokens", "stop", "top_logprobs")


def origin(record: dict[str, Any]) -> dict[str, Any]:
    """The fields that make `record` a sample of one distribution (`sampling.*` named with their prefix)."""
    sampling = record["sampling"]
    return {**{k: record[k] for k in ORIGIN_FIELDS}, **{f"sampling.{k}": sampling.get(k) for k in SAMPLING_FIELDS}}


def sample_key(record: dict[str, Any]) -> tuple:
    """Which sample a record is: (question_id, sample_index) of one origin. A second record with the
    same key is a duplicate (two writers on one file, or one file read twice)."""
    values = [tuple(v) if isinstance(v, list) else v for v in origin(record).values()]
    return (record["question_id"], record["sample_index"], *values)


class RecordError(ValueError):
    """A teacher record that breaks the schema; the message names the file, line and field."""


class TornLineError(RecordError):
    """An undecodable last line without its newline: what a writer killed mid-append leaves."""


def validate(record: Any, where: str) -> dict[str, Any]:
    """Checks one decoded record; `where` is `path:line` for the error message."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if record.get("schema") != SCHEMA:
        raise RecordError(f"{where}: field 'schema' is {record.get('schema')!r}; this reader understands {SCHEMA!r}")
    for field, kind in _REQUIRED.items():
        if field not in record:
            raise RecordError(f"{where}: missing field {field!r}")
        value = record[field]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RecordError(f"{where}: field {field!r} has type {type(value).__name__}")
    if record["tokens"] is not None:
        _validate_tokens(record, where)
    return record


def _entry_problem(entry: Any) -> str | None:
    """What is wrong with one token or alternative (` needs ...` / `.logprob is ...`), None when nothing."""
    if not isinstance(entry, dict):
        return f" is a {type(entry).__name__}, expected an object"
    data, logprob = entry.get("bytes"), entry.get("logprob")
    if not isinstance(entry.get("token"), str) or not isinstance(data, list):
        return " needs 'token' (str) and 'bytes' (list of int)"
    try:
        bytes(data)
    except (TypeError, ValueError):
        return " needs 'bytes' as a list of integers 0..255"
    if not isinstance(logprob, int | float) or isinstance(logprob, bool) or not logprob <= 0:  # NaN is not <= 0
        return f".logprob is {logprob!r}; expected a log-probability <= 0"
    return None


def _validate_tokens(record: dict[str, Any], where: str) -> None:
    """Every token and alternative well-formed, and the tokens spelling `completion` (what alignment needs)."""
    for i, token in enumerate(record["tokens"]):
        problem, name = _entry_problem(token), f"tokens[{i}]"
        if problem is None:
            top = token.get("top", [])
            if not isinstance(top, list):
                problem = " needs 'top' (list of alternatives)"
            for j, alternative in enumerate(top if problem is None else ()):
                if (problem := _entry_problem(alternative)) is not None:
                    name = f"tokens[{i}].top[{j}]"
                    break
        if problem is not None:
            raise RecordError(f"{where}: field {name}{problem}")
    joined = b"".join([bytes(t["bytes"]) for t in record["tokens"]])
    if joined != record["completion"].encode("utf-8"):
        raise RecordError(f"{where}: field 'tokens' does not spell field 'completion' byte for byte")


def parse_line(raw: bytes, where: str) -> dict[str, Any]:
    """One JSONL line as a validated record: the one check both resuming and `distill.build` apply.

    Raises RecordError naming `where` (`path:line`), TornLineError when the line is undecodable and
    lacks its newline (only a file's last line can).
    """
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as e:  # also invalid UTF-8
        error = TornLineError if not raw.endswith(b"\n") else RecordError
        raise error(f"{where}: not a JSON line ({e})") from None
    return validate(record, where)


def read(path: str, tolerate_torn_tail: bool = False) -> Iterator[dict[str, Any]]:
    """Yields validated records of a JSONL file, streaming (a full run's file is gigabytes).

    With `tolerate_torn_tail`, an unparsable last line without a newline (a write cut by a kill) is
    skipped with a warning; anywhere else a bad line is an error naming the file and line.
    """
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield parse_line(raw, f"{path}:{number}")
            except TornLineError as e:
                if not tolerate_torn_tail:
                    raise
                log.warning("dropping a torn last line (%d bytes): %s", len(raw), e)


def append(path: str, records: list[dict[str, Any]]) -> None:
    """Appends records and makes them durable (flush + fsync; the directory too for a new file) before returning."""
    if not records:
        return
    durable.append(path, "".join(encode_line(r) + "\n" for r in records).encode("utf-8"))


TAIL_CHUNK = 1 << 16


def drop_torn_tail(path: str) -> int:
    """Cuts a last line left without its newline by a killed writer; returns the bytes dropped.

    Called before appending to a resumed file, so new records never glue onto a torn one. Reads
    backwards from the end in `TAIL_CHUNK` pieces: the file may be gigabytes, the tail is short.
    """
    if not os.path.exists(path):
        return 0
    with open(path, "rb+") as f:
        size = end = f.seek(0, os.SEEK_END)
        keep = 0
        while end > 0:
            start = max(0, end - TAIL_CHUNK)
            f.seek(start)
            newline = f.read(end - start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
        if keep == size:
            return 0
        log.warning("%s: dropping a torn last line (%d bytes) left by an interrupted run", path, size - keep)
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return size - keep


# JSONL encoding: what `json.dumps(record, ensure_ascii=False, separators=(",", ":"))` gives, about twice
# as fast. At top-5 a 120-token completion is a ~40 KB line of ~700 small token objects; a token
# object's text up to its log-probability depends only on the token, and a run sees the same few
# thousand tokens over and over, so that part is encoded once per distinct token and cached.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@functools.lru_cache(maxsize=1 << 17)
def _prefix(token: str, data: tuple[int, ...]) -> str:
    return f'{{"token":{_encode(token)},"bytes":[{",".join(map(str, data))}],"logprob":'


def _token(entry: dict[str, Any]) -> str:
    """One token object without its closing brace (the caller adds `top` or closes it)."""
    return _prefix(entry["token"], tuple(entry["bytes"])) + repr(entry["logprob"])


def encode_line(record: dict[str, Any]) -> str:
    """`json.dumps(record, ensure_ascii=False, separators=(",", ":"))` for a record whose last key is `tokens`."""
    tokens = record["tokens"]
    if not tokens or next(reversed(record)) != "tokens":
        return _encode(record)
    head = _encode({k: v for k, v in record.items() if k != "tokens"})
    body = ",".join(_token(t) + ',"top":[' + ",".join([_token(a) + "}" for a in t["top"]]) + "]}" for t in tokens)
    return f'{head[:-1]},"tokens":[{body}]}}'
