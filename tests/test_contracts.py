"""The contracts' durable writes: complete files under their final name, never a torn or half-written one."""

from __future__ import annotations

import json
import os

import pytest

from distill.contracts import durable


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
