"""JSON / JSONL reading that remembers the line each record starts on.

Why: a bad record should be reported as "file, line, field", and plain `json.load` forgets where
an array element came from. These readers walk the document with `json.JSONDecoder.raw_decode`,
so every record comes back with its 1-based line number, and `field()` checks one field of one
record, raising `DataFormatError` with all three.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from distill.data.data_dir import DataFormatError

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


@dataclass(frozen=True)
class JsonAtLine:
    """A parsed JSON value and the line of the file it starts on."""

    value: Any
    line: int


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as err:
        raise DataFormatError(path, None, None, f"not UTF-8 text ({err.reason} at byte {err.start})") from err


def read_jsonl(path: str) -> list[JsonAtLine]:
    """One JSON object per non-blank line."""
    records = []
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFormatError(path, number, None, f"invalid JSON ({err.msg}, column {err.colno})") from err
        if not isinstance(value, dict):
            raise DataFormatError(path, number, None, f"expected a JSON object, got {type(value).__name__}")
        records.append(JsonAtLine(value, number))
    return records


def read_json_array(path: str, key: str | None = None) -> list[JsonAtLine]:
    """The elements of a JSON array: the whole document, or the value of `key` in a top-level object."""
    text = _read_text(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFormatError(path, err.lineno, None, f"invalid JSON ({err.msg}, column {err.colno})") from err
    newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line_of(offset: int) -> int:
        return bisect.bisect_left(newlines, offset) + 1

    if key is None:
        if not isinstance(document, list):
            raise DataFormatError(path, 1, None, f"expected a JSON array, got {type(document).__name__}")
        start = _skip(text, 0)
    else:
        if not isinstance(document, dict):
            raise DataFormatError(path, 1, None, f"expected a JSON object, got {type(document).__name__}")
        if not isinstance(document.get(key), list):
            problem = "missing" if key not in document else f"expected an array, got {type(document[key]).__name__}"
            raise DataFormatError(path, 1, key, problem)
        start = _value_start(text, key)
    return [JsonAtLine(value, line_of(offset)) for value, offset in _array_items(text, start)]


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _array_items(text: str, start: int) -> Iterator[tuple[Any, int]]:
    """(element, offset) for the array opening at `start` (the document is known to be valid)."""
    pos = _skip(text, start + 1)
    while text[pos] != "]":
        value, end = _DECODER.raw_decode(text, pos)
        yield value, pos
        pos = _skip(text, end)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)


def _value_start(text: str, key: str) -> int:
    """Offset of the value of `key` in the top-level object of a valid document (last one wins, as in json)."""
    pos, found = _skip(text, _skip(text, 0) + 1), -1
    while text[pos] != "}":
        name, end = _DECODER.raw_decode(text, pos)
        pos = _skip(text, _skip(text, end) + 1)  # past ':'
        if name == key:
            found = pos
        _, end = _DECODER.raw_decode(text, pos)
        pos = _skip(text, end)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
    return found


def field(record: JsonAtLine, name: str, kind: type | tuple[type, ...], path: str) -> Any:
    """`record.value[name]`, which must be of `kind`; else `DataFormatError` naming file, line and field."""
    if not isinstance(record.value, dict):
        raise DataFormatError(path, record.line, None, f"expected a JSON object, got {type(record.value).__name__}")
    if name not in record.value:
        raise DataFormatError(path, record.line, name, "missing")
    value = record.value[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise DataFormatError(path, record.line, name, f"expected {expected}, got {type(value).__name__} {value!r:.60}")
    return value
