"""The contracts' durable writes: complete files under their final name, never a torn or half-written one."""

from __future__ import annotations

import json
import os

import pytest

from distill.contracts import durable, teacher_records


def test_write_json_replaces_atomically_and_leaves_no_temporary(tmp_path) -> None:
    path = str(tmp_path / "manifest.json")
    durable.write_json(path, {"a": 1, "é": "ü"})
    durable.write_json(path, {"b": 2}, sort_keys=True)
    with open(path, encoding="utf-8") as f:
        assert json.load(f) == {"b": 2}
    assert os.listdir(tmp_path) == ["manifest.json"]


def test_a_failed_write_keeps_the_previous_file(tmp_path) -> None:
    path = str(tmp_path / "summary.json")
    durable.write_json(path, {"done": 3})
    with pytest.raises(TypeError):
        durable.write_json(path, {"done": object()})  # not serializable: fails before anything is written
    with open(path, encoding="utf-8") as f:
        assert json.load(f) == {"done": 3}
    assert sorted(os.listdir(tmp_path)) == ["summary.json"]


def test_appended_teacher_records_and_a_new_files_name_are_fsynced(tmp_path, monkeypatch) -> None:
    # A power loss cannot be staged; what survives one can be watched: what is fsynced.
    synced, real_fsync = [], os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd)))
    path = str(tmp_path / "teacher.jsonl")
    record = {"schema": teacher_records.SCHEMA, "question_id": "q", "tokens": None}
    teacher_records.append(path, [record])
    assert synced == [path, str(tmp_path)], "the records, then the directory that now names the new file"
    teacher_records.append(path, [record])
    assert synced[2:] == [path], "appending to an existing file syncs only the file"
