"""Data access: verified files, loaders, record counts, stable ids, splits, and clear errors."""

from __future__ import annotations

import json
import os
import re
import shutil

import gin
import pytest

from distill.data import data_dir, loaders, sources, splits
from distill.data.data_dir import DataFileError, DataFormatError

SHARED = os.environ["COT_DATA_DIR"]


@pytest.fixture(autouse=True)
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def test_known_files_are_the_manifests_and_verify() -> None:
    with open(os.path.join(SHARED, "MANIFEST.md"), encoding="utf-8") as f:
        rows = [line for line in f if line.startswith("| `")]
    manifest = {}
    for row in rows:
        path = row.split("`")[1]
        manifest[path] = re.search(r"`([0-9a-f]{64})`", row).group(1)
    assert {path: known[0] for path, known in data_dir.KNOWN_FILES.items()} == manifest
    for relative in sorted(data_dir.KNOWN_FILES):
        assert data_dir.data_file(relative) == os.path.join(os.path.abspath(SHARED), relative)


def test_record_counts() -> None:
    assert len(sources.gsm8k("train")) == 7_473
    assert len(sources.gsm8k("test")) == 1_319
    counts = {name: len(sources.ood(name)) for name in sources.OOD_DATASETS}
    assert counts == {"multiarith": 600, "asdiv": 2_096, "svamp": 1_000, "addsub": 395, "singleeq": 508}
    bbh = {task: len(sources.bbh_examples(task)) for task in sources.BBH_TASKS}
    assert len(bbh) == 27 and sum(bbh.values()) == 6_511
    assert {task: n for task, n in bbh.items() if n != 250} == {
        "causal_judgement": 187,
        "penguins_in_a_table": 146,
        "snarks": 178,
    }


def test_ids_are_unique_and_stable() -> None:
    train = sources.gsm8k("train")
    assert train[0].id == "gsm8k-train-0000" and train[0].question.startswith("Natalia sold clips")
    assert sources.gsm8k("test")[1318].id == "gsm8k-test-1318"
    expected_first = {
        "multiarith": "multiarith-0",
        "asdiv": "asdiv-0000",
        "svamp": "svamp-chal-1",
        "addsub": "addsub-1",
        "singleeq": "singleeq-0",
    }
    for name, first in expected_first.items():
        problems = sources.ood(name)
        assert problems[0].id == first
        assert len({p.id for p in problems}) == len(problems)
    for task in sources.BBH_TASKS:
        ids = [e.id for e in sources.bbh_examples(task)]
        assert ids[0] == f"bbh-{task}-000" and len(set(ids)) == len(ids)


def test_known_records() -> None:
    natalia = sources.gsm8k("train")[0]
    assert (natalia.answer, natalia.answer_text) == ("72", "72")
    assert natalia.rationale == (
        "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May."
    )
    with_comma = next(p for p in sources.gsm8k("train") if p.id == "gsm8k-train-0345")
    assert "," in with_comma.answer_text and with_comma.answer == with_comma.answer_text.replace(",", "")
    svamp = sources.ood("svamp")[0]
    assert svamp.question == (
        "Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars on each pack "
        "How much do you have to pay to buy each pack?"
    )
    assert svamp.answer == "51"
    assert sources.ood("addsub")[0].answer == "43"  # lSolutions holds strings in AddSub
    assert sources.ood("asdiv")[0].answer == "9"
    multiarith = sources.ood("multiarith")[0]
    assert multiarith.question == multiarith.question.strip() and multiarith.answer == "39"
    decimals = [p.answer for p in sources.ood("singleeq") if "." in p.answer]
    assert "11.5" in decimals and all(not a.endswith("0") for a in decimals)


def test_bbh_prompts_lose_their_canary() -> None:
    for task in sources.BBH_TASKS:
        prompt = sources.bbh_prompt(task)
        assert "canary" not in prompt.text.lower() and "-----" not in prompt.text
        assert len(prompt.exemplars) == 3
        assert prompt.text.startswith(prompt.description)
        assert all(e.answer and not e.answer.endswith(".") for e in prompt.exemplars)
    boolean = sources.bbh_prompt("boolean_expressions")
    assert boolean.description == "Evaluate the result of a random Boolean expression."
    assert [e.answer for e in boolean.exemplars] == ["False", "False", "True"]
    assert sources.bbh_prompt("dyck_languages").exemplars[2].answer == "} ] >"


def test_split_sizes_match_the_documented_numbers() -> None:
    for dataset, sizes in splits.SPLIT_SIZES.items():
        got = {split: len(splits.split_problems(dataset, split)) for split in splits.splits_of(dataset)}
        assert got == sizes, dataset
        if dataset != "gsm8k":
            total = len(sources.ood(dataset))
            assert sizes["validation"] == splits.ood_validation_size(total)
            assert sizes["validation"] + sizes["test"] == total


def test_splits_are_disjoint_and_cover_the_data() -> None:
    for dataset in splits.SPLIT_SIZES:
        parts = {split: {p.id for p in splits.split_problems(dataset, split)} for split in splits.splits_of(dataset)}
        names = list(parts)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                assert not parts[a] & parts[b], (dataset, a, b)
    train_ids = {p.id for p in sources.gsm8k("train")}
    gsm8k_train = {p.id for p in splits.split_problems("gsm8k", "train")}
    gsm8k_validation = {p.id for p in splits.split_problems("gsm8k", "validation")}
    assert gsm8k_train | gsm8k_validation == train_ids


def test_gsm8k_validation_questions_are_exposed_and_pinned() -> None:
    ids = splits.gsm8k_validation_ids()
    assert len(ids) == 500 and all(i.startswith("gsm8k-train-") for i in ids)
    assert ids == {p.id for p in splits.split_problems("gsm8k", "validation")}
    rows = splits.gsm8k_validation_rows()
    assert rows[:5] == [24, 27, 59, 73, 95]  # pinned: a change here changes every reported number
    train = sources.gsm8k("train")
    assert splits.gsm8k_validation_questions() == {train[r].question for r in rows}
    pinned = {
        "multiarith": ["multiarith-100", "multiarith-101", "multiarith-110"],
        "svamp": ["svamp-chal-102", "svamp-chal-106", "svamp-chal-109"],
        "asdiv": ["asdiv-0001", "asdiv-0002", "asdiv-0004"],
    }
    for dataset, first in pinned.items():
        assert sorted(p.id for p in splits.split_problems(dataset, "validation"))[:3] == first


def test_held_out_ids_do_not_depend_on_order() -> None:
    ids = [f"x-{i}" for i in range(100)]
    assert splits.held_out_ids(ids, 10) == splits.held_out_ids(ids[::-1], 10)
    assert splits.held_out_ids(ids, 10) != splits.held_out_ids(ids, 10, salt="other")
    with pytest.raises(ValueError):
        splits.held_out_ids(ids, 101)


# --- errors ---------------------------------------------------------------------------------------


def test_missing_data_dir_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv(data_dir.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no user cache directory either
    assert not data_dir.is_configured()
    with pytest.raises(DataFileError, match=r"COT_DATA_DIR.*python -m distill\.data download"):
        sources.gsm8k("test")


def test_the_user_cache_is_the_data_dir_once_it_exists(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv(data_dir.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = tmp_path / "cot-specialize" / "data"
    assert data_dir.download_dir() == str(cache)  # where `download` writes when nothing is named
    cache.mkdir(parents=True)
    assert data_dir.data_dir() == str(cache)
    monkeypatch.setenv(data_dir.ENV_VAR, str(tmp_path / "named"))
    assert data_dir.data_dir() == data_dir.download_dir() == str(tmp_path / "named")  # COT_DATA_DIR wins


def test_gin_binding_names_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv(data_dir.ENV_VAR)
    gin.bind_parameter("data_dir.path", str(tmp_path))
    assert data_dir.data_dir() == str(tmp_path)


def test_missing_file_names_file_and_source(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv(data_dir.ENV_VAR, str(tmp_path))
    with pytest.raises(DataFileError) as err:
        sources.ood("svamp")
    message = str(err.value)
    assert str(tmp_path / "svamp" / "SVAMP.json") in message and "github.com/arkilpatel/SVAMP" in message


def test_tampered_file_is_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / "gsm8k").mkdir()
    with open(os.path.join(SHARED, "gsm8k", "test.jsonl"), encoding="utf-8") as f:
        text = f.read()
    (tmp_path / "gsm8k" / "test.jsonl").write_text(text.replace("#### 18", "#### 19", 1), encoding="utf-8")
    monkeypatch.setenv(data_dir.ENV_VAR, str(tmp_path))
    with pytest.raises(DataFileError, match="sha256 differs") as err:
        sources.gsm8k("test")
    assert "test.jsonl" in str(err.value) and "github.com/openai/grade-school-math" in str(err.value)
    # An identical copy elsewhere is fine.
    shutil.copy(os.path.join(SHARED, "gsm8k", "test.jsonl"), tmp_path / "gsm8k" / "test.jsonl")
    assert len(sources.gsm8k("test")) == 1_319


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _format_error(fn, *args) -> DataFormatError:
    with pytest.raises(DataFormatError) as err:
        fn(*args)
    return err.value


def test_malformed_jsonl_names_file_line_and_field(tmp_path) -> None:
    good = json.dumps({"question": "q?", "answer": "step\n#### 3"})
    path = _write(tmp_path, "bad.jsonl", "\n".join([good, good, "{not json"]))
    err = _format_error(loaders.read_gsm8k, path, "train")
    assert (err.path, err.line, err.field) == (path, 3, None) and "invalid JSON" in str(err)
    path = _write(tmp_path, "missing.jsonl", "\n".join([good, json.dumps({"question": "q?"})]))
    err = _format_error(loaders.read_gsm8k, path, "train")
    assert (err.line, err.field) == (2, "answer") and f"{path}, line 2: field 'answer': missing" in str(err)
    path = _write(tmp_path, "nohash.jsonl", json.dumps({"question": "q?", "answer": "no final line"}))
    assert _format_error(loaders.read_gsm8k, path, "train").field == "answer"
    path = _write(tmp_path, "word.jsonl", json.dumps({"question": "q?", "answer": "x\n#### many"}))
    assert "expected a number" in str(_format_error(loaders.read_gsm8k, path, "train"))
    path = _write(tmp_path, "asdiv.jsonl", json.dumps({"input": "q?", "target": "9 (apples)"}))
    assert _format_error(loaders.read_asdiv, path).field == "target"


def test_malformed_json_array_reports_the_records_line(tmp_path) -> None:
    records = [
        {"iIndex": 1, "sQuestion": " q1 ", "lSolutions": [3.0]},
        {"iIndex": 2, "sQuestion": "q2"},
    ]
    path = _write(tmp_path, "MultiArith.json", json.dumps(records, indent=4))
    err = _format_error(loaders.read_mawps, path, "multiarith")
    assert (err.line, err.field) == (9, "lSolutions")  # the second object opens on line 9
    records[1]["lSolutions"] = [4.0]
    records[1]["iIndex"] = 1
    path = _write(tmp_path, "dup.json", json.dumps(records, indent=4))
    assert "duplicate id multiarith-1" in str(_format_error(loaders.read_mawps, path, "multiarith"))
    svamp = [{"ID": "a", "Body": "b", "Question": "q", "Answer": "5"}]
    err = _format_error(loaders.read_svamp, _write(tmp_path, "SVAMP.json", json.dumps(svamp)))
    assert (err.line, err.field) == (1, "Answer") and "expected int or float, got str" in str(err)
    err = _format_error(loaders.read_svamp, _write(tmp_path, "broken.json", '[\n{"ID": "a",\n'))
    assert err.line is not None and "invalid JSON" in str(err)


def test_malformed_bbh_files(tmp_path) -> None:
    path = _write(tmp_path, "task.json", json.dumps({"canary": "c"}))
    assert _format_error(loaders.read_bbh_task, path, "task").field == "examples"
    document = {"canary": "c", "examples": [{"input": "a", "target": "b"}, {"input": "c", "target": 3}]}
    path = _write(tmp_path, "task2.json", json.dumps(document, indent=2))
    err = _format_error(loaders.read_bbh_task, path, "task2")
    assert (err.line, err.field) == (8, "target")
    prompt = "canary GUID x\n-----\nDescribe.\n\nQ: one\nA: Let's think step by step. So the answer is (A).\n\nQ: two\n"
    err = _format_error(loaders.read_bbh_prompt, _write(tmp_path, "prompt.txt", prompt))
    assert (err.line, err.field) == (8, "A:")


def test_unknown_files_are_read_unverified(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv(data_dir.ENV_VAR, str(tmp_path))
    _write(tmp_path, "mine.jsonl", "{}")
    assert data_dir.data_file("mine.jsonl") == str(tmp_path / "mine.jsonl")
    with pytest.raises(DataFileError, match="Missing data file"):
        data_dir.data_file("other.jsonl")
