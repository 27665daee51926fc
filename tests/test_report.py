"""The report: checkpoint selection on OOD validation, test accuracies, figures, scaling, self-consistency.

The fixture is written in the real formats: metrics by seqio's own JSONLogger (as training and
`--run_mode=eval` write them), predictions with the fields `inference.infer` writes, and
run.json / model-info.txt as train.py writes them.
"""

from __future__ import annotations

import json
import os
import re

import matplotlib.image
import pytest
import seqio

from distill.report import cli as report
from distill.report import plots, runs, selection
from distill.report.readers import ReportInputError

# Validation accuracy per step. OOD peaks at 1500, but that step has no checkpoint, so the
# documented choice is 1400; GSM8K keeps rising to 2000.
VALIDATION = {
    "gsm8k_zs_cot": {1000: 10, 1200: 14, 1400: 18, 1500: 19, 1600: 21, 1800: 23, 2000: 25},
    "multiarith_zs_cot": {1000: 20, 1200: 26, 1400: 34, 1500: 40, 1600: 30, 1800: 27, 2000: 25},
    "svamp_zs_cot": {1000: 15, 1200: 18, 1400: 24, 1500: 30, 1600: 22, 1800: 20, 2000: 19},
}
CHECKPOINTS = (1000, 1200, 1400, 1600, 1800, 2000)
TEST = {
    1000: {
        "gsm8k_zs_cot": 8,
        "multiarith_zs_cot": 18,
        "svamp_zs_cot": 14,
        "bbh_navigate_cot": 40,
        "bbh_navigate_ao": 55,
    },
    1400: {
        "gsm8k_zs_cot": 20,
        "multiarith_zs_cot": 33,
        "svamp_zs_cot": 23,
        "bbh_navigate_cot": 5,
        "bbh_navigate_ao": 40,
    },
    2000: {"gsm8k_zs_cot": 24, "multiarith_zs_cot": 24, "svamp_zs_cot": 18},
}
# Sampled decodes for self-consistency: (gold, three samples) per example.
SAMPLES = [
    ("18", ["The answer is 18", "The answer is 18", "The answer is 3"]),  # vote 18: right
    ("5", ["The answer is 4", "The answer is 5", "The answer is 5"]),  # vote 5: right
    ("7", ["The answer is 7", "I do not know", "The answer is 9"]),  # tie 7/9 -> first, 7: right
    ("12", ["The answer is 1", "The answer is 2", "The answer is 2"]),  # vote 2: wrong
]


def log_metrics(directory: str, task: str, step: int, accuracy: float) -> None:
    os.makedirs(directory, exist_ok=True)  # as inference.make_evaluator does
    seqio.JSONLogger(directory)(
        task_name=task,
        step=step,
        metrics={"accuracy": seqio.metrics.Scalar(accuracy), "no_answer": seqio.metrics.Scalar(0.0)},
        dataset=None,
        inferences=None,
        targets=None,
    )


def write_run(root: str, name: str, params: int, initial_step: int, validation, checkpoints, test) -> str:
    model_dir = os.path.join(root, name)
    os.makedirs(os.path.join(model_dir, "inference_eval"))
    with open(os.path.join(model_dir, "run.json"), "w") as f:
        json.dump({"random_seed": 7, "initial_step": initial_step}, f)
    with open(os.path.join(model_dir, "model-info.txt"), "w") as f:
        f.write(f"{'encoder/token_embedder/embedding':<80} (32128, 768)  float32 PartitionSpec()\n")
        f.write(f"Total parameters: {params:,}\n")
    for step in checkpoints:
        os.makedirs(os.path.join(model_dir, f"checkpoint_{step}", "state"))
    for task, curve in validation.items():
        for step, accuracy in curve.items():
            log_metrics(os.path.join(model_dir, "inference_eval"), task, step, accuracy)
    for step, values in test.items():
        for task, accuracy in values.items():
            log_metrics(os.path.join(model_dir, "eval", f"checkpoint_{step}"), task, step, accuracy)
    return model_dir


def write_predictions(directory: str, task: str, samples) -> None:
    os.makedirs(directory)
    path = os.path.join(directory, f"{task}-predict.jsonl-00000-of-00001")
    with open(path, "w") as f:
        for index, (gold, texts) in enumerate(samples):
            inputs = {"inputs_pretokenized": f"Q: question {index}", "targets_pretokenized": f"The answer is {gold}"}
            outputs = [{"text": text, "score": -1.0, "token_log_probs": [-0.5, -0.5]} for text in texts]
            f.write(json.dumps({"index": index, "inputs": inputs, "outputs": outputs, "prediction": texts[0]}) + "\n")
    with open(path + ".COMPLETED", "w") as f:
        f.write(f"{len(samples)}\n")


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def fixture_runs(tmp_path_factory) -> tuple[str, str]:
    root = str(tmp_path_factory.mktemp("runs"))
    base = write_run(root, "flan_base", 247_577_856, 1000, VALIDATION, CHECKPOINTS, TEST)
    write_predictions(os.path.join(base, "infer", "checkpoint_1400"), "gsm8k_zs_cot", SAMPLES)
    large = write_run(
        root,
        "flan_large",
        783_150_080,
        500,
        {"gsm8k_zs_cot": {600: 20, 700: 30}, "multiarith_zs_cot": {600: 45, 700: 35}},
        (500, 600, 700),
        {500: {"gsm8k_zs_cot": 7, "multiarith_zs_cot": 25}, 600: {"gsm8k_zs_cot": 28, "multiarith_zs_cot": 44}},
    )
    return base, large


@pytest.fixture(scope="module")
def built(fixture_runs, tmp_path_factory) -> report.Report:
    base, large = fixture_runs
    return report.build_report(base, more=[large], out_dir=str(tmp_path_factory.mktemp("report")))


def test_selects_the_best_ood_validation_checkpoint_that_exists(built):
    run = built.main
    assert built.selected_step == 1400  # OOD's best among kept checkpoints (1500 has none)
    assert run.by_id == 2000  # GSM8K validation would pick the last step
    assert run.curves[selection.OOD][1400] == pytest.approx((34 + 24) / 2)


@pytest.mark.e2e
def test_reports_both_choices_test_accuracy_and_before_after(built):
    run, groups = built.main, built.main.groups
    chosen = run.checkpoint(runs.SELECTED)
    by_id = run.checkpoint(run.by_id_label)
    before = run.checkpoint(runs.BEFORE)
    assert (chosen.step, by_id.step, before.step) == (1400, 2000, 1000)
    assert chosen.test_mean(groups, selection.OOD) == pytest.approx(28.0)
    assert by_id.test_mean(groups, selection.OOD) == pytest.approx(21.0)
    assert by_id.test_mean(groups, selection.ID) == pytest.approx(24.0)
    assert before.test_mean(groups, selection.BBH_COT) == pytest.approx(40.0)
    assert chosen.test_mean(groups, selection.BBH_COT) == pytest.approx(5.0)
    assert by_id.test_mean(groups, selection.BBH_COT) is None

    text = read(built.files[0])
    assert "selected checkpoint step 1400" in text
    main_rows = {line.split(" | ")[0].strip("| *"): line for line in built.summary.splitlines() if line.startswith("|")}
    assert "| 1400 | 18.0 | 29.0 | 20.0 | 28.0 | 5.0 | 40.0 |" in main_rows["selected checkpoint"]
    assert "| 2000 | 25.0 | 22.0 | 24.0 | 21.0 | – | – |" in main_rows["best gsm8k validation"]
    assert "| 1000 | 10.0 | 17.5 | 8.0 | 16.0 | 40.0 | 55.0 |" in main_rows["before specialization"]


def test_writes_valid_pngs_with_the_selected_step_marked(built):
    names = sorted(os.path.basename(path) for path in built.files[1:])
    expected = ["scaling.png", "selection.png", "self_consistency.png", "tradeoff.png", "validation_curves.png"]
    assert names == expected
    for path in built.files[1:]:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        height, width, _ = matplotlib.image.imread(path).shape
        assert height > 100 and width > 100
    figure = plots.validation_figure(built.main)
    marks = [line for line in figure.axes[0].lines if line.get_gid() == plots.SELECTED_GID]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [1400, 1400]


def test_scaling_over_several_runs(built):
    large = built.runs[1]
    assert (large.params, large.selected, large.by_id) == (783_150_080, 600, 700)
    figure = plots.scaling_figure(built.runs)
    assert figure.axes[0].get_xscale() == "log"
    specialized = next(line for line in figure.axes[0].lines if line.get_label() == "gsm8k, specialized")
    assert list(specialized.get_xdata()) == [247_577_856, 783_150_080]
    assert list(specialized.get_ydata()) == [20, 28]
    text = read(built.files[0])
    assert "| flan_large | 783M parameters | 600 | 7.0 → 28.0 | 25.0 → 44.0 |" in text


def test_self_consistency_next_to_greedy(built):
    (result,) = built.main.consistency
    assert (result.task, result.step, result.examples, result.samples) == ("gsm8k_zs_cot", 1400, 4, 3)
    assert result.majority == pytest.approx(75.0)
    assert result.sample_mean == pytest.approx((50 + 50 + 25) / 3)
    assert result.greedy == 20  # the greedy test evaluation of the same step


def test_cli_prints_the_main_table(fixture_runs, tmp_path, capsys):
    base, _ = fixture_runs
    baseline = os.path.join(tmp_path, "flan_t5_base_eval")
    log_metrics(baseline, "gsm8k_zs_cot", 1_184_000, 3.0)
    log_metrics(baseline, "multiarith_zs_cot", 1_184_000, 11.0)
    assert report.main(["--model_dir", base, "--baseline", baseline, "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "selected checkpoint step 1400" in printed
    assert "| before specialization | 1184000 | – | – | 3.0 | 11.0 |" in printed
    text = read(str(tmp_path / "out" / "report.md"))
    assert "OOD test: the means before and at the selected step cover different tasks (1 and 2)" in text


def test_missing_pieces_are_notes_not_crashes(tmp_path):
    model_dir = tmp_path / "fresh_run"
    os.makedirs(model_dir / "inference_eval")
    log_metrics(str(model_dir / "inference_eval"), "gsm8k_zs_cot", 100, 5.0)
    built = report.build_report(str(model_dir))
    run = built.main
    assert run.selected == 100  # no OOD curves: falls back to in-distribution, and says so
    notes = "\n".join(run.notes)
    assert "No OOD validation curves" in notes
    assert "model-info.txt" in notes and "run.json" in notes
    assert f"EVAL_OUTPUT_DIR={model_dir}/eval/checkpoint_100" in notes
    assert built.files == [str(model_dir / "report" / "report.md"), str(model_dir / "report" / "validation_curves.png")]
    assert "## Notes" in read(built.files[0])


@pytest.mark.parametrize(
    ("relative", "content", "message"),
    [
        ("inference_eval/gsm8k_zs_cot-metrics.jsonl", '{"step": 1, "accuracy": 2.0}\n{"step": 2, "acc', "line 2"),
        ("eval/ckpt/svamp_zs_cot-metrics.jsonl", '{"step": "10", "accuracy": 1.0}\n', "line 1: field 'step'"),
        ("eval/ckpt/svamp_zs_cot-metrics.jsonl", '\n{"step": 10, "accuracy": "high"}\n', "line 2: field 'accuracy'"),
        ("model-info.txt", "a (1,) float32 None\nTotal parameters: many\n", "line 2"),
        (
            "infer/checkpoint_5/gsm8k_zs_cot-predict.jsonl-00000-of-00001",
            '{"index": 0, "inputs": {"targets_pretokenized": "3"}, "outputs": []}\n',
            "line 1: field 'outputs'",
        ),
    ],
)
def test_malformed_file_names_file_and_line(tmp_path, capsys, relative, content, message):
    path = tmp_path / "run" / relative
    os.makedirs(path.parent, exist_ok=True)
    path.write_text(content)
    with pytest.raises(ReportInputError, match=re.escape(f"{path}, {message}")):
        report.build_report(str(tmp_path / "run"))
    assert report.main(["--model_dir", str(tmp_path / "run")]) == 2
    assert f"{path}, {message}" in capsys.readouterr().err


def test_task_names_and_groups():
    groups = selection.Groups()
    assert selection.task_dataset("synthetic_k3_ic_cot") == ("synthetic_k3", "ic_cot")
    assert selection.task_dataset("bbh_logical_deduction_five_objects_ao") == ("bbh", "ao")
    assert [groups.group(t) for t in ("gsm8k_ic_ao", "asdiv_zs_cot", "bbh_navigate_cot", "synthetic_k2_zs_ao")] == [
        selection.ID,
        selection.OOD,
        selection.BBH_COT,
        None,
    ]
    synthetic = selection.Groups(("synthetic_k2",), ("synthetic_k4", "synthetic_k5"))
    assert synthetic.group("synthetic_k5_zs_cot") == selection.OOD
    with pytest.raises(ValueError, match="both in- and out-of-distribution"):
        selection.Groups(("gsm8k",), ("gsm8k",))


def test_best_step_ties_go_to_the_earliest_kept_step():
    curve = {100: 30.0, 200: 35.0, 300: 35.0, 400: 40.0}
    assert selection.best_step(curve) == 400
    assert selection.best_step(curve, candidates={100, 200, 300}) == 200
    assert selection.best_step(curve, candidates={500}) is None
