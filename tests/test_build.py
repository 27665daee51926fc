"""`python -m distill.build`: teacher records in, sharded distillation TFRecords + manifest + stats out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import sentencepiece

from distill.build import cli as build
from distill.contracts import distill_examples, teacher_records
from distill.data import lab_problems, sources, splits
from distill.generate import stand_in
from tests.support import REPO_ROOT

SHARED = os.environ["COT_DATA_DIR"]
P50K = os.path.join(SHARED, "tokenizers/gpt2/p50k_base.tiktoken")
K = 4


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory) -> tuple[str, dict]:
    """18 train questions (2 of them validation questions) x 2 samples, one sample wrong, one gold record."""
    train = sources.gsm8k("train")
    validation = splits.gsm8k_validation_ids()
    held_out = [p for p in train if p.id in validation][:2]
    kept = [p for p in train[:40] if p.id not in validation][:16]
    rows = list(stand_in.records(kept + held_out, P50K, k=K, samples=2))
    rows[3] = {**rows[3], "correct": False, "answer": "-1"}
    gold = {**rows[0], "api": "gold", "tokens": None, "sample_index": 0, "question_id": kept[-1].id}
    gold |= {
        "question": kept[-1].question,
        "completion": kept[-1].rationale,
        "gold_answer": kept[-1].answer,
        "answer": None,
    }
    rows.append(gold)
    path = str(tmp_path_factory.mktemp("teacher") / "teacher.jsonl")
    teacher_records.append(path, rows)
    facts = {
        "lines": len(rows),
        "validation_ids": {p.id for p in held_out},
        "wrong": (rows[3]["question_id"], rows[3]["sample_index"]),
        "questions": {p.id for p in kept},
        "gold": kept[-1].id,
    }
    return path, facts


def read_examples(out_dir: str, fmt: str) -> list[dict]:
    import tensorflow as tf

    manifest = distill_examples.read_manifest(out_dir)
    paths = [os.path.join(out_dir, name) for name in manifest["formats"][fmt]["files"]]
    spec = distill_examples.feature_description()
    examples = []
    for serialized in tf.data.TFRecordDataset(paths):
        parsed = tf.io.parse_single_example(serialized, spec)
        example = {}
        for name, value in parsed.items():
            value = tf.sparse.to_dense(value).numpy() if isinstance(value, tf.SparseTensor) else value.numpy()
            example[name] = value.decode() if isinstance(value, bytes) else value
        examples.append(example)
    return examples


@pytest.fixture(scope="module")
def built(teacher_file, tmp_path_factory) -> str:
    """The CLI on two worker processes, shards of at most 10 examples."""
    out = str(tmp_path_factory.mktemp("records") / "out")
    command = [sys.executable, "-m", "distill.build", "--teacher", teacher_file[0], "--out", out]
    command += ["--top-k", str(K), "--workers", "2", "--shard-size", "10"]
    proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "samples in" in proc.stdout and "teacher mass at" in proc.stdout
    return out


@pytest.mark.e2e
def test_manifest_stats_and_shards(built, teacher_file) -> None:
    _, facts = teacher_file
    manifest = distill_examples.read_manifest(built)
    assert manifest["top_k"] == K and manifest["method"] == "fast"
    assert manifest["vocabulary"] == os.path.abspath(os.path.join(SHARED, "tokenizers/t5/spiece.model"))
    with open(os.path.join(built, manifest["stats"])) as f:
        stats = json.load(f)
    assert stats["samples_in"] == facts["lines"]
    assert stats["dropped"] == {"incorrect": 1, "validation_question": 4, "empty_completion": 0}
    assert stats["samples_out"] == facts["lines"] - 5
    assert stats["samples_without_teacher_tokens"] == 1
    assert stats["examples"] == {"zs_ao": 16, "zs_cot": 32, "ic_ao": 16, "ic_cot": 32}  # 16 x 2 - 1 wrong + 1 gold
    assert 0.5 < stats["transferred_fraction"] < 1
    assert stats["rules"]["identical"] + stats["rules"]["merged"] == stats["transferred_positions"]
    for fmt, entry in manifest["formats"].items():
        assert entry["examples"] == stats["examples"][fmt]
        count = -(-entry["examples"] // 10)
        assert entry["files"] == [distill_examples.shard_name(fmt, i, count) for i in range(count)]
        assert all(os.path.exists(os.path.join(built, name)) for name in entry["files"])
    assert not os.path.exists(os.path.join(built, ".partial"))


@pytest.mark.e2e
def test_examples_are_readable_and_consistent(built, teacher_file) -> None:
    _, facts = teacher_file
    spm = sentencepiece.SentencePieceProcessor(model_file=os.path.join(SHARED, "tokenizers/t5/spiece.model"))
    for fmt in ("zs_ao", "zs_cot", "ic_ao", "ic_cot"):
        examples = read_examples(built, fmt)
        assert {e["format"] for e in examples} == {fmt}
        assert not {e["question_id"] for e in examples} & facts["validation_ids"]
        assert {e["question_id"] for e in examples} == facts["questions"]
        for e in examples:
            assert spm.decode(e["targets"].tolist()) == e["targets_pretokenized"]
            assert e["teacher_topk_ids"].shape == e["teacher_topk_logprobs"].shape == (len(e["targets"]) * K,)
            assert e["inputs_pretokenized"].count("Q: ") == (5 if fmt.startswith("ic_") else 1)
        if fmt.endswith("_ao"):
            assert len(examples) == len({e["question_id"] for e in examples})  # one per question
            assert all(e["targets_pretokenized"] == f"The answer is {e['answer']}" for e in examples)
            assert all(np.isneginf(e["teacher_topk_logprobs"]).all() for e in examples)
        else:
            assert (facts["wrong"][0], facts["wrong"][1]) not in {(e["question_id"], e["sample_id"]) for e in examples}
            gold = [e for e in examples if e["sample_id"] == -1]
            assert [e["question_id"] for e in gold] == [facts["gold"]]
            assert np.isneginf(gold[0]["teacher_topk_logprobs"]).all()
            teacher_samples = [e for e in examples if e["sample_id"] >= 0]
            assert all(np.isfinite(e["teacher_topk_logprobs"]).any() for e in teacher_samples)
            assert all(e["targets_pretokenized"].endswith(f"The answer is {e['answer']}") for e in examples)


@pytest.mark.e2e
def test_the_number_of_workers_does_not_change_the_records(built, teacher_file, tmp_path) -> None:
    out = str(tmp_path / "one")
    argv = ["--teacher", teacher_file[0], "--out", out, "--top-k", str(K), "--shard-size", "10"]
    assert build.main([*argv, "--workers", "1", "--no-progress"]) == 0
    for name in os.listdir(built):
        if ".tfrecord-" in name:
            with open(os.path.join(built, name), "rb") as a, open(os.path.join(out, name), "rb") as b:
                assert a.read() == b.read(), name


def test_dtw_method_and_kept_incorrect_samples(teacher_file, tmp_path) -> None:
    out = str(tmp_path / "dtw")
    argv = ["--teacher", teacher_file[0], "--out", out, "--formats", "zs_cot", "--method", "dtw", "--keep-incorrect"]
    assert build.main([*argv, "--workers", "1", "--no-progress", "--top-k", str(K)]) == 0
    manifest = distill_examples.read_manifest(out)
    assert manifest["method"] == "dtw" and set(manifest["formats"]) == {"zs_cot"}
    assert manifest["formats"]["zs_cot"]["examples"] == 33  # the wrong sample is kept
    with open(os.path.join(out, "stats.json")) as f:
        stats = json.load(f)
    assert set(stats["rules"]) == {"identical"} and stats["rules"]["identical"] >= stats["transferred_positions"] > 0


def test_bad_records_are_named_by_file_line_and_field(teacher_file, tmp_path, capsys) -> None:
    with open(teacher_file[0]) as f:
        good = f.readline()
    broken = json.loads(good)
    del broken["completion"]
    path = tmp_path / "bad.jsonl"
    path.write_text(good + json.dumps(broken) + "\n")
    assert build.main(["--teacher", str(path), "--out", str(tmp_path / "a"), "--workers", "1", "--no-progress"]) == 1
    assert f"{path}:2: missing field 'completion'" in capsys.readouterr().err
    path.write_text(good + "\n" + good[:100] + "\n")
    assert build.main(["--teacher", str(path), "--out", str(tmp_path / "b"), "--workers", "1", "--no-progress"]) == 1
    assert f"{path}:3: not a JSON line" in capsys.readouterr().err


def test_a_torn_last_line_is_skipped_and_duplicates_are_dropped(teacher_file, tmp_path, caplog) -> None:
    with open(teacher_file[0], "rb") as f:
        lines = f.readlines()[:6]
    clean, messy = tmp_path / "clean.jsonl", tmp_path / "messy.jsonl"
    clean.write_bytes(b"".join(lines))
    # Two runs appended to one file (lines 2 and 3 again), then one was killed inside a write.
    messy.write_bytes(b"".join([*lines, lines[1], lines[2], lines[3][:200]]))
    stats = {}
    for path in (clean, messy):
        out = str(tmp_path / path.stem)
        argv = ["--teacher", str(path), "--out", out, "--formats", "zs_ao,zs_cot", "--top-k", str(K)]
        assert build.main([*argv, "--workers", "1", "--no-progress"]) == 0
        with open(os.path.join(out, "stats.json")) as f:
            stats[path.stem] = json.load(f)
    assert (stats["messy"]["duplicates"], stats["messy"]["torn_lines"]) == (2, 1)
    assert (stats["clean"]["duplicates"], stats["clean"]["torn_lines"]) == (0, 0)
    for key in ("samples_in", "samples_out", "dropped", "examples"):
        assert stats["messy"][key] == stats["clean"][key], key
    assert f"{messy}:9: skipping a torn last line (200 bytes)" in caplog.text
    files = distill_examples.read_manifest(str(tmp_path / "clean"))["formats"]
    assert distill_examples.read_manifest(str(tmp_path / "messy"))["formats"] == files
    for name in [name for entry in files.values() for name in entry["files"]]:
        assert (tmp_path / "messy" / name).read_bytes() == (tmp_path / "clean" / name).read_bytes(), name


def test_a_line_without_its_newline_stops_the_build_unless_it_is_the_last(teacher_file, tmp_path, capsys) -> None:
    with open(teacher_file[0], "rb") as f:
        lines = f.readlines()[:3]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(lines[0] + lines[1][:200] + b"\n" + lines[2])  # torn, then appended to: not the tail
    assert build.main(["--teacher", str(path), "--out", str(tmp_path / "a"), "--workers", "1", "--no-progress"]) == 1
    assert f"{path}:2: not a JSON line" in capsys.readouterr().err


def test_shards_and_stats_are_durable_before_the_manifest_declares_them(teacher_file, tmp_path, monkeypatch) -> None:
    # A power loss cannot be staged in a test; what makes the manifest trustworthy after one can be
    # watched: which files and directories are fsynced, and in what order the renames come.
    events, real_fsync, real_replace = [], os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(("replace", os.path.abspath(src), os.path.abspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    out = str(tmp_path / "out")
    argv = ["--teacher", teacher_file[0], "--out", out, "--formats", "zs_ao,zs_cot", "--top-k", str(K)]
    assert build.main([*argv, "--workers", "1", "--no-progress", "--shard-size", "10"]) == 0
    monkeypatch.undo()
    manifest_path = os.path.join(out, distill_examples.MANIFEST)
    (manifest_at,) = [i for i, e in enumerate(events) if e[0] == "replace" and e[2] == manifest_path]
    assert events[manifest_at - 1] == ("fsync", manifest_path + ".tmp") and events[manifest_at + 1] == ("fsync", out)
    before = events[:manifest_at]
    names = [n for entry in distill_examples.read_manifest(out)["formats"].values() for n in entry["files"]]
    assert len(names) >= 4
    for name in [*names, build.STATS]:
        (renamed,) = [i for i, e in enumerate(before) if e[0] == "replace" and e[2] == os.path.join(out, name)]
        assert before[renamed - 1] == ("fsync", before[renamed][1]), f"{name} was not fsynced before its rename"
        assert ("fsync", out) in before[renamed + 1 :], f"the directory was not fsynced after {name}'s rename"


@pytest.mark.e2e
def test_a_finished_output_directory_is_not_overwritten(built, teacher_file, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build.main(["--teacher", teacher_file[0], "--out", built])
    assert exit_info.value.code == 2
    assert "already holds a finished build" in capsys.readouterr().err


def test_byte_student_build(tmp_path) -> None:
    """`--vocab byte`: targets are the CoT text's UTF-8 bytes (+3), and single-character teacher tokens carry mass."""
    problems = lab_problems.problems(lab_problems.ID_DATASETS[0], "train")[:12]
    rows = list(stand_in.records(problems, P50K, k=K, samples=1, distributions="plausible"))
    teacher = str(tmp_path / "teacher.jsonl")
    teacher_records.append(teacher, rows)
    out = str(tmp_path / "records")
    build.main(["--teacher", teacher, "--out", out, "--vocab", "byte", "--top-k", str(K), "--workers", "1"])
    manifest = distill_examples.read_manifest(out)
    assert manifest["vocabulary"] == distill_examples.BYTE_VOCABULARY
    examples = read_examples(out, "zs_cot")
    assert len(examples) == len(problems)
    transferred = 0
    for example in examples:
        target_bytes = example["targets_pretokenized"].encode("utf-8")
        np.testing.assert_array_equal(example["targets"], np.frombuffer(target_bytes, np.uint8) + 3)
        ids = example["teacher_topk_ids"].reshape(len(target_bytes), K)
        logprobs = example["teacher_topk_logprobs"].reshape(len(target_bytes), K)
        with_mass = np.isfinite(logprobs[:, 0])
        transferred += int(with_mass.sum())
        # Where mass transfers, the written byte leads (plausible distributions put it first).
        np.testing.assert_array_equal(ids[with_mass, 0], example["targets"][with_mass])
    assert transferred > 0
