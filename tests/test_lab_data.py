"""The lab's generated data: +/- chains in ID and OOD forms, the general suite, and their SeqIO tasks."""

from __future__ import annotations

import re

import pytest

from distill.data import answers, general_suite, lab_problems

STEP = re.compile(r"^(\d+) ([+-]) (\d+) = (\d+)\.$")


@pytest.mark.parametrize("dataset", sorted(lab_problems.FORMS))
def test_chains_are_correct_disjoint_and_deterministic(dataset: str) -> None:
    splits = {s: lab_problems.problems(dataset, s) for s in lab_problems.SPLIT_SIZES}
    assert {s: len(p) for s, p in splits.items()} == lab_problems.SPLIT_SIZES
    questions = [p.question for ps in splits.values() for p in ps]
    assert len(set(questions)) == len(questions)  # no question in two splits
    lab_problems._all_splits.cache_clear()
    assert lab_problems.problems(dataset, "test") == splits["test"]  # the same lists every run
    form = lab_problems.FORMS[dataset]
    for problem in splits["train"][:500]:
        lines = problem.rationale.split("\n")
        assert len(lines) in (2, 3)
        value = None
        for line in lines:
            a, op, b, c = STEP.match(line).groups()
            assert value is None or int(a) == value
            assert int(c) == (int(a) + int(b) if op == "+" else int(a) - int(b)) >= 0
            assert form.operand[0] <= int(b) <= form.operand[1]
            value = int(c)
        assert problem.answer == str(value)
        assert answers.extract_math_answer(f"{problem.rationale}\nThe answer is {problem.answer}") == value


def test_forms_are_a_grid_of_phrasings_and_frames_with_held_out_cells() -> None:
    """Every OOD cell's phrasing and frame are each trained on, never together; lab_words is a shape of its own."""
    trained = [lab_problems.FORMS[d] for d in lab_problems.ID_DATASETS]
    held_out = [lab_problems.FORMS[d] for d in lab_problems.OOD_DATASETS if d != "lab_words"]
    assert {(f.style, f.frame) for f in trained}.isdisjoint({(f.style, f.frame) for f in held_out})
    for form in held_out:
        assert form.style in {f.style for f in trained} and form.frame in {f.frame for f in trained}
    assert len(trained) + len(held_out) == len(lab_problems.PHRASINGS) * len(lab_problems.FRAMES)
    for dataset in (*lab_problems.ID_DATASETS, *lab_problems.OOD_DATASETS):
        form = lab_problems.FORMS[dataset]
        for p in lab_problems.problems(dataset, "test")[:50]:
            if form.frame is None:
                assert p.question.startswith("Start with ") and "=" not in p.question
                continue
            head, tail = lab_problems.FRAMES[form.frame].split("{e}")
            assert p.question.startswith(head) and p.question.endswith(tail)
            expression = p.question[len(head) : len(p.question) - len(tail)]
            words = {w for w in expression.split() if not w.isdigit()}
            assert words <= {w for op in lab_problems.PHRASINGS[form.style].values() for w in op.split()}
    assert set(lab_problems.OOD_DATASETS).isdisjoint(lab_problems.ID_DATASETS + lab_problems.RANGE_DATASETS)
    low = max(lab_problems.FORMS[d].start[1] for d in lab_problems.ID_DATASETS)
    high = lab_problems.FORMS["lab_large"].start[0]
    assert low < high
    assert all(int(p.question.split()[0]) >= high for p in lab_problems.problems("lab_large", "test"))


def test_the_general_suites_styles_are_the_grids_phrasings_in_their_frames() -> None:
    steps = [("+", 7), ("-", 5)]
    assert lab_problems.question_text(12, steps, "symbols") == "12 + 7 - 5 = ?"
    assert lab_problems.question_text(12, steps, "spoken") == "What is 12 plus 7 minus 5?"
    assert lab_problems.question_text(12, steps, "verbal", "compute") == "Compute 12 add 7 take away 5."
    assert lab_problems.question_text(12, steps, "words") == "Start with 12. Add 7. Take away 5. What is the result?"
    with pytest.raises(ValueError, match="'verbal' in frame None"):
        lab_problems.question_text(12, steps, "verbal")


@pytest.mark.parametrize(("task", "fmt"), general_suite.task_formats())
def test_general_targets_follow_from_the_inputs(task: str, fmt: str) -> None:
    for example in general_suite.examples(task, fmt, "test")[:100]:
        *demos, query = example["inputs"].split("\n")
        assert query.endswith(" =>") and (len(demos) == general_suite.DEMOS) == (fmt == "ic")
        head, _, body = query[: -len(" =>")].partition(": ")
        items = body.split()
        if head.startswith("Count the "):
            assert example["targets"] == str(items.count(head[len("Count the ") :]))
        elif head == "Map":  # every query letter is shown mapped in a demonstration, consistently
            shown = {}
            for demo in demos:
                source, target = demo[len("Map: ") :].split(" => ")
                shown.update(zip(source.split(), target.split(), strict=True))
            assert example["targets"] == " ".join(shown[c] for c in items)
        elif task in ("add", "sub"):  # a one-step question in one of the lab's styles, answered as an equation
            a, op, b, _, c = example["targets"].split()
            assert op == ("+" if task == "add" else "-")
            assert int(c) == (int(a) + int(b) if op == "+" else int(a) - int(b)) >= 0
            styles = {s: lab_problems.question_text(int(a), [(op, int(b))], s) for s in lab_problems.STYLES}
            assert query[: -len(" =>")] in styles.values()
        else:
            assert example["targets"] == _expected(head, items)


def _expected(head: str, items: list[str]) -> str:
    if head == "Copy":
        return " ".join(items)
    if head == "Reverse":
        return " ".join(reversed(items))
    if head == "Sort":
        return " ".join(sorted(items))
    if head == "Max":
        return str(max(map(int, items)))
    raise AssertionError(head)


def test_exact_match_metric() -> None:
    assert general_suite.exact_match(["a b", "3"], ["a b ", "4"]) == {"accuracy": 50.0}


def test_lab_tasks_are_registered_and_tokenize_in_bytes() -> None:
    import seqio

    import tasks  # noqa: F401 - registers
    from tasks import lab, vocabulary

    assert set(lab.general_task_names()) == {t.name for t in seqio.get_mixture_or_task("lab_general").tasks}
    names = {t.name for t in seqio.get_mixture_or_task("lab_math_cot").tasks}
    assert names == {f"{d}_{f}" for d in lab_problems.FORMS for f in ("zs_cot", "ic_cot")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(vocabulary.ENV_VAR, "byte")
        task = seqio.get_mixture_or_task("lab_words_zs_cot")
        example = next(iter(task.get_dataset({"inputs": 128, "targets": 96}, split="validation", shuffle=False)))
        first = lab_problems.problems("lab_words", "validation")[0]
        target = bytes(int(i) - 3 for i in example["targets"].numpy()[:-1]).decode()
        assert target.endswith(f"The answer is {first.answer}")
        assert example["targets_pretokenized"].numpy().decode() == target
