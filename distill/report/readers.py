"""Reads what training, `--run_mode=eval` and `--run_mode=infer` leave on disk (layout: `distill/report/cli.py`).

Readers return plain mappings. A file that is not what its writer produces raises
`ReportInputError` naming the file, line and field, because a report silently built from half a
file would select the wrong checkpoint; a file that is absent is the caller's business (the
report notes it and goes on).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# task -> step -> accuracy (%).
Accuracies = dict[str, dict[int, float]]

METRICS_SUFFIX = "-metrics.jsonl"  # seqio.JSONLogger: `{task}-metrics.jsonl`, one line per evaluation
_PREDICT_FILE = re.compile(r"^(?P<task>.+)-predict\.jsonl-\d{5}-of-\d{5}$")  # inference.infer's shards
_STEP_DIR = re.compile(r"^checkpoint_(\d+)$")
_TOTAL_PARAMS = "Total parameters:"  # the last line of train.py's model-info.txt


class ReportInputError(ValueError):
    """An evaluation output that does not have its writer's format (message: file, line, field)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_lines(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-empty line of a JSON-lines file."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as err:
                raise ReportInputError(f"{path}, line {number}: not UTF-8 ({err.reason})") from None
            except json.JSONDecodeError as err:
                raise ReportInputError(f"{path}, line {number}: not valid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise ReportInputError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
            yield number, record


def read_metrics_file(path: str) -> dict[int, dict[str, Any]]:
    """step -> metrics of one `{task}-metrics.jsonl`; a step evaluated twice (a resumed run) keeps the last line."""
    rows: dict[int, dict[str, Any]] = {}
    for number, record in _json_lines(path):
        step = record.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            raise ReportInputError(f"{path}, line {number}: field 'step': expected an integer, got {step!r}")
        if "accuracy" in record and not _is_number(record["accuracy"]):
            raise ReportInputError(
                f"{path}, line {number}: field 'accuracy': expected a number, got {record['accuracy']!r}"
            )
        rows[step] = record
    return rows


def read_accuracies(directory: str, recursive: bool = False) -> tuple[Accuracies, list[str]]:
    """Accuracy per task and step from the `{task}-metrics.jsonl` files in `directory`, plus notes.

    `recursive` reads every folder below (one per evaluated checkpoint, e.g. `eval/checkpoint_<step>`).
    A task whose metrics have no `accuracy` is noted and left out.
    """
    accuracies: Accuracies = {}
    notes = []
    for path in _files(directory, recursive, lambda name: name.endswith(METRICS_SUFFIX)):
        task = os.path.basename(path)[: -len(METRICS_SUFFIX)]
        rows = read_metrics_file(path)
        values = {step: float(row["accuracy"]) for step, row in rows.items() if "accuracy" in row}
        if rows and not values:
            notes.append(f"{path} has no 'accuracy' metric; left out.")
        accuracies.setdefault(task, {}).update(values)
    return {task: values for task, values in accuracies.items() if values}, notes


def _files(directory: str, recursive: bool, keep: Any) -> list[str]:
    if recursive:
        found = [os.path.join(root, name) for root, _, names in os.walk(directory) for name in names if keep(name)]
    else:
        found = [entry.path for entry in os.scandir(directory) if entry.is_file() and keep(entry.name)]
    return sorted(found)


def step_dirs(directory: str) -> dict[int, str]:
    """step -> path of each `checkpoint_<step>` folder in `directory` (checkpoints, or infer outputs per step)."""
    if not os.path.isdir(directory):
        return {}
    found = {}
    for entry in os.scandir(directory):
        match = _STEP_DIR.match(entry.name)
        if match and entry.is_dir():
            found[int(match.group(1))] = entry.path
    return found


@dataclass(frozen=True)
class RunInfo:
    """What train.py records about a run: its first step, its size, and the checkpoints kept."""

    initial_step: int | None
    params: int | None
    checkpoint_steps: frozenset[int]


def read_run_info(model_dir: str) -> RunInfo:
    """`run.json` (initial_step), `model-info.txt` (total parameters) and `checkpoint_<step>` folders; each optional."""
    return RunInfo(
        initial_step=_initial_step(os.path.join(model_dir, "run.json")),
        params=_total_params(os.path.join(model_dir, "model-info.txt")),
        checkpoint_steps=frozenset(step_dirs(model_dir)),
    )


def _initial_step(path: str) -> int | None:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        try:
            meta = json.load(f)
        except json.JSONDecodeError as err:
            raise ReportInputError(f"{path}, line {err.lineno}: not valid JSON ({err.msg})") from None
    step = meta.get("initial_step") if isinstance(meta, dict) else None
    if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
        raise ReportInputError(f"{path}: field 'initial_step': expected an integer, got {step!r}")
    return step


def _total_params(path: str) -> int | None:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.startswith(_TOTAL_PARAMS):
                value = line[len(_TOTAL_PARAMS) :].strip().replace(",", "")
                if not value.isdigit():
                    raise ReportInputError(f"{path}, line {number}: expected '{_TOTAL_PARAMS} <integer>', got {line!r}")
                return int(value)
    raise ReportInputError(f"{path}: no '{_TOTAL_PARAMS} N' line (train.py writes it last)")


def read_predictions(directory: str) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Records of every `{task}-predict.jsonl-*` shard in `directory`, by task and in example order, plus notes.

    Each record must have `index`, `inputs.targets_pretokenized` (the reference) and a non-empty
    `outputs` list of decodes with `text`. A shard without its `.COMPLETED` marker is read and noted.
    """
    records: dict[str, list[dict[str, Any]]] = {}
    notes = []
    for path in _files(directory, False, _PREDICT_FILE.match):
        task = _PREDICT_FILE.match(os.path.basename(path)).group("task")
        if not os.path.exists(path + ".COMPLETED"):
            notes.append(f"{path} is incomplete (no .COMPLETED marker): the infer run has not finished.")
        for number, record in _json_lines(path):
            _check_prediction(record, path, number)
            records.setdefault(task, []).append(record)
    return {task: sorted(rows, key=lambda r: r["index"]) for task, rows in records.items()}, notes


def _check_prediction(record: dict[str, Any], path: str, number: int) -> None:
    where = f"{path}, line {number}"
    if not isinstance(record.get("index"), int):
        raise ReportInputError(f"{where}: field 'index': expected an integer, got {record.get('index')!r}")
    inputs = record.get("inputs")
    if not isinstance(inputs, dict) or not isinstance(inputs.get("targets_pretokenized"), str):
        raise ReportInputError(f"{where}: field 'inputs.targets_pretokenized': expected a string")
    outputs = record.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        raise ReportInputError(f"{where}: field 'outputs': expected a non-empty list of decodes")
    for i, output in enumerate(outputs):
        if not isinstance(output, dict) or not isinstance(output.get("text"), str):
            raise ReportInputError(f"{where}: field 'outputs[{i}].text': expected a string")
