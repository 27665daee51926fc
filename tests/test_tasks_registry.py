"""Registered seqio tasks and mixtures: names, one batch from every one, vocabularies, metric wiring."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import gin
import numpy as np
import pytest
import seqio

from distill.data import examples, sources, splits
from tasks import registry, vocabulary
from tests.support import REPO_ROOT

MATH = registry.math_task_names()
BBH = registry.bbh_task_names()
MIXTURES = registry.mixture_names()
LENGTHS = {"inputs": 4096, "targets": 512}


@pytest.fixture(autouse=True)
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def eval_split(name: str) -> str:
    return "test" if name.startswith("bbh") else "validation"


def test_names() -> None:
    assert len(MATH) == 40 and len(BBH) == 54 and len(MIXTURES) == 15
    for name in ("gsm8k_ic_cot", "svamp_zs_cot", "asdiv_ic_ao", "singleeq_zs_ao", "synthetic_k3_ic_cot"):
        assert name in MATH
    assert "bbh_dyck_languages_cot" in BBH and "bbh_word_sorting_ao" in BBH
    assert set(MIXTURES) == {
        "math_ood_zs_ao",
        "math_ood_zs_cot",
        "math_ood_ic_ao",
        "math_ood_ic_cot",
        "bbh_cot",
        "bbh_ao",
    } | {f"{prefix}_{fmt}" for prefix in ("math", "synthetic") for fmt in ("zs_ao", "zs_cot", "ic_ao", "ic_cot")} | {
        "synthetic_cot"
    }
    registered = set(seqio.TaskRegistry.names())
    assert set(MATH + BBH) <= registered and "synthetic_arithmetic_bytes" in registered
    assert set(MIXTURES) <= set(seqio.MixtureRegistry.names())
    ood = seqio.get_mixture_or_task("math_ood_ic_cot")
    assert sorted(t.name for t in ood.tasks) == sorted(f"{d}_ic_cot" for d in sources.OOD_DATASETS)
    assert len(seqio.get_mixture_or_task("bbh_cot").tasks) == 27
    math = seqio.get_mixture_or_task("math_zs_cot")
    assert sorted(t.name for t in math.tasks) == sorted(f"{d}_zs_cot" for d in sources.MATH_DATASETS)
    synthetic = seqio.get_mixture_or_task("synthetic_ic_ao")
    assert sorted(t.name for t in synthetic.tasks) == [f"synthetic_k{k}_ic_ao" for k in (2, 3, 4, 5)]
    assert seqio.get_mixture_or_task("gsm8k_zs_cot").splits == ("train", "validation", "test")
    assert seqio.get_mixture_or_task("svamp_zs_cot").splits == ("validation", "test")
    assert seqio.get_mixture_or_task("bbh_navigate_cot").splits == ("test",)


@pytest.mark.parametrize("name", MATH + BBH + MIXTURES)
def test_every_name_yields_examples(name: str) -> None:
    provider = seqio.get_mixture_or_task(name)
    dataset = provider.get_dataset(LENGTHS, split=eval_split(name), shuffle=False, num_epochs=1)
    batch = list(dataset.take(2).as_numpy_iterator())
    assert len(batch) == 2
    for example in batch:
        for key in ("inputs", "targets"):
            tokens = example[key]
            assert tokens.dtype == np.int32 and tokens[-1] == 1 and 2 not in tokens  # EOS, no <unk>
        if name in MIXTURES:
            continue
        assert {"inputs_pretokenized", "targets_pretokenized", "id", "answer"} <= set(example)
        vocab = provider.output_features["targets"].vocabulary
        assert vocab.decode(example["targets"].tolist()) == example["targets_pretokenized"].decode()
        assert example["answer"]


def test_gsm8k_train_excludes_validation() -> None:
    train = examples.math_examples("gsm8k", "train", "zs_ao")
    ids = {e["id"] for e in train}
    assert len(ids) == 6_973 and not ids & splits.gsm8k_validation_ids()


def test_gold_targets_score_100_through_the_task_metrics() -> None:
    """Postprocessors + metrics of every task, on real references and CoT-style outputs."""
    for name in [n for n in MATH if "_zs_" in n] + [n for n in BBH if n.endswith("_cot")]:
        task = seqio.get_mixture_or_task(name)
        if name.startswith("bbh_"):
            rows = examples.bbh_examples(name.removeprefix("bbh_").removesuffix("_cot"), "cot")
            outputs = [f"Let's think. So the answer is {row['targets']}." for row in rows]
        else:
            dataset, zs, kind = name.rsplit("_", 2)
            rows = examples.math_examples(dataset, "validation", f"{zs}_{kind}")
            outputs = [row["targets"] for row in rows]
        targets = [task.postprocess_fn(row["targets"], example=row, is_target=True) for row in rows]
        pairs = zip(outputs, rows, strict=True)
        predictions = [task.postprocess_fn(out, example=row, is_target=False) for out, row in pairs]
        (metric,) = task.metric_fns
        scores = metric(targets, predictions)
        assert scores == {"accuracy": 100.0, "no_answer": 0.0}, name
        shuffled = metric(targets, predictions[1:] + predictions[:1])
        assert shuffled["accuracy"] < 100.0, name


def test_dyck_answers_survive_normalization() -> None:
    task = seqio.get_mixture_or_task("bbh_dyck_languages_cot")
    rows = [r for r in examples.bbh_examples("dyck_languages", "cot") if "&rbrace;" in r["targets"]]
    assert rows
    row = rows[0]
    assert task.postprocess_fn(row["targets"], example=row, is_target=True) == row["targets"].replace("&rbrace;", "}")


@pytest.mark.parametrize(("name", "split"), [("bbh_dyck_languages_cot", "test"), ("svamp_zs_cot", "validation")])
def test_seqio_evaluator_scores_gold_tokens_100(name: str, split: str) -> None:
    """End to end: T5 tokens of the targets, decoded and postprocessed by seqio's Evaluator."""
    evaluator = seqio.Evaluator(
        name, feature_converter=seqio.EncDecFeatureConverter(pack=False), eval_split=split, use_memory_cache=False
    )

    def predict_fn(dataset, model_feature_shapes=None):
        return [(i, ex["decoder_target_tokens"]) for i, ex in dataset.as_numpy_iterator()]

    metrics, _ = evaluator.evaluate(compute_metrics=True, predict_fn=predict_fn, score_fn=None)
    assert metrics.result() == {name: {"accuracy": 100.0, "no_answer": 0.0}}


# --- vocabularies --------------------------------------------------------------------------------------


def model_gin_vocabulary(gin_file: str) -> seqio.Vocabulary:
    gin.parse_config_files_and_bindings([gin_file], ["DROPOUT_RATE = 0.0"])
    vocab = gin.query_parameter("%VOCABULARY").scoped_configurable_fn()
    gin.clear_config()
    return vocab


def test_task_vocabulary_equals_the_t5_model_gins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    model_vocab = model_gin_vocabulary("gin/models/t5_1_1/mini.gin")
    task_vocab = seqio.get_mixture_or_task("gsm8k_ic_cot").output_features["targets"].vocabulary
    assert isinstance(task_vocab, vocabulary.T5Vocabulary) and model_vocab.vocab_size == task_vocab.vocab_size == 32_100
    assert model_vocab == task_vocab and task_vocab == model_vocab and (model_vocab != task_vocab) is False


def test_vocabularies_compare_by_content(tmp_path) -> None:
    spiece = os.path.join(os.environ["COT_DATA_DIR"], "tokenizers/t5/spiece.model")
    copy = tmp_path / "renamed.model"
    copy.write_bytes(open(spiece, "rb").read())  # noqa: SIM115
    elsewhere = seqio.SentencePieceVocabulary(str(copy), extra_ids=100)
    assert elsewhere != seqio.SentencePieceVocabulary(spiece, extra_ids=100)  # seqio: by path
    t5 = vocabulary.T5_VOCABULARY
    assert t5 == elsewhere and elsewhere == t5
    assert t5 != seqio.SentencePieceVocabulary(spiece, extra_ids=99)
    assert t5 != seqio.ByteVocabulary()


def test_t5_vocabulary_default_files(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    path, extra_ids = vocabulary.default_t5_model()
    assert path.endswith("tokenizers/t5/spiece.model") and extra_ids == 100
    monkeypatch.delenv("COT_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # and no user cache directory
    assert vocabulary.default_t5_model() == ("gs://t5-data/vocabs/cc_all.32000.100extra/sentencepiece.model", 0)


def test_byte_vocabulary_by_gin_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    byt5_vocab = model_gin_vocabulary("gin/models/byt5/mini.gin")
    gin.bind_parameter("vocabulary_kind.kind", "byte")
    task = seqio.get_mixture_or_task("svamp_zs_ao")
    assert task.output_features["inputs"].vocabulary == byt5_vocab
    example = next(task.get_dataset(LENGTHS, split="test", shuffle=False).as_numpy_iterator())
    assert (example["inputs"][:-1] - 3).astype(np.uint8).tobytes() == example["inputs_pretokenized"]
    assert seqio.get_mixture_or_task("math_ood_zs_ao").output_features["targets"].vocabulary == byt5_vocab
    gin.clear_config()
    assert vocabulary.vocabulary_kind() == "t5"
    monkeypatch.setenv("COT_VOCABULARY", "byte")
    assert task.output_features["targets"].vocabulary == byt5_vocab
    monkeypatch.setenv("COT_VOCABULARY", "sentencepiece")
    with pytest.raises(ValueError, match="COT_VOCABULARY"):
        vocabulary.vocabulary_kind()


@pytest.mark.e2e
def test_import_and_errors_without_a_data_dir(tmp_path) -> None:
    """`import tasks` needs no data; reading a dataset then fails naming the problem."""
    script = """
import json, seqio, tasks
from distill.data import data_dir
from tasks import vocabulary
out = {"vocab": vocabulary.T5_VOCABULARY.sentencepiece_model_file}
try:
    seqio.get_mixture_or_task("gsm8k_zs_ao").get_dataset({"inputs": 8, "targets": 8}, split="test")
except data_dir.DataFileError as err:
    out["error"] = str(err)
ds = seqio.get_mixture_or_task("synthetic_k2_ic_cot").get_dataset({"inputs": 64, "targets": 64}, split="test")
out["synthetic"] = int(next(iter(ds))["targets"][-1])
print(json.dumps(out))
"""
    env = {k: v for k, v in os.environ.items() if k != "COT_DATA_DIR"} | {"COT_VOCABULARY": "byte"}
    env["XDG_CACHE_HOME"] = str(tmp_path)  # and no user cache directory
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["vocab"] == "gs://t5-data/vocabs/cc_all.32000.100extra/sentencepiece.model"
    assert "No data directory" in out["error"] and "COT_DATA_DIR" in out["error"]
    assert out["synthetic"] == 1
