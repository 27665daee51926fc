"""`python -m distill.data list`: present, missing and altered files of a data directory (recorded sha256)."""

from __future__ import annotations

import os
import shutil

import pytest

from distill.data import cli, data_dir


def test_list_names_missing_and_altered_files(tmp_path, capsys: pytest.MonkeyPatch) -> None:
    shared = data_dir.data_dir()
    os.makedirs(tmp_path / "gsm8k")
    shutil.copy(os.path.join(shared, "gsm8k", "test.jsonl"), tmp_path / "gsm8k" / "test.jsonl")
    with open(os.path.join(shared, "gsm8k", "LICENSE.source"), "rb") as f:
        (tmp_path / "gsm8k" / "LICENSE.source").write_bytes(f.read() + b" ")
    status = cli.main(["list", "--dir", str(tmp_path), "--only", "gsm8k", "--all"])
    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert [line.split()[:2] for line in out[:-1]] == [
        ["altered", "gsm8k/LICENSE.source"],
        ["present", "gsm8k/test.jsonl"],
        ["missing", "gsm8k/train.jsonl"],
    ]
    assert "github.com/openai/grade-school-math" in out[2]  # where to get it
    assert out[-1].endswith("1 present, 1 missing, 1 altered")


def test_list_of_the_shared_directory_is_complete(capsys: pytest.MonkeyPatch) -> None:
    assert cli.main(["list", "--only", "tokenizers,prompts"]) == 0
    assert " 0 missing, 0 altered" in capsys.readouterr().out


def test_unknown_folder_is_an_error() -> None:
    with pytest.raises(SystemExit, match="no known files under"):
        cli.main(["list", "--only", "nope"])
