"""Prompt formats (exact templates), demonstrations, normalization for the T5 vocabulary, synthetic data."""

from __future__ import annotations

import os
import re

import gin
import pytest
import sentencepiece

from distill.data import demos, examples, formats, sources, splits, word_problems
from distill.data.normalize import ASCII_ESCAPES, T5_NON_ASCII, denormalize_text, normalize_text

SHARED = os.environ["COT_DATA_DIR"]
UNK = 2


@pytest.fixture(scope="module")
def spm() -> sentencepiece.SentencePieceProcessor:
    return sentencepiece.SentencePieceProcessor(model_file=os.path.join(SHARED, "tokenizers/t5/spiece.model"))


@pytest.fixture(autouse=True)
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def paper_demo_cot(question: str, gold: str) -> str:
    """Fu et al.'s CoT demonstration, verbatim from src/data_utils.py (docs/method.md section 2)."""
    return (
        "Q: "
        + question
        + "\nLet's think step by step\n"
        + re.sub("<<.*?>>", "", gold.split("####")[0])
        + "The answer is "
        + gold.split("####")[1].strip()
        + "\n\n"
    )


def paper_demo_ao(question: str, gold: str) -> str:
    return "Q: " + question + "\nA: The answer is " + gold.split("####")[1].strip() + "\n\n"


def gold_solution(problem) -> str:
    return f"{problem.rationale}\n#### {problem.answer_text}"


# --- math formats -----------------------------------------------------------------------------------


def test_zero_shot_templates_are_exact() -> None:
    natalia = sources.gsm8k("train")[0]
    q = natalia.question
    assert formats.math_input("zs_ao", q) == "Q: " + q + " A:"
    assert formats.math_input("zs_cot", q) == "Q: " + q + "\nLet's think step by step"
    assert formats.math_target("zs_ao", natalia.answer_text, natalia.rationale) == "The answer is 72"
    assert formats.math_target("zs_cot", natalia.answer_text, natalia.rationale) == (
        "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.\n"
        "The answer is 72"
    )
    example = examples.math_example(natalia, "zs_cot")
    assert example == {
        "id": "gsm8k-train-0000",
        "inputs": "Q: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        "How many clips did Natalia sell altogether in April and May? Let's think step by step",
        "targets": "Natalia sold 48/2 = 24 clips in May. Natalia sold 48+24 = 72 clips altogether in April and May. "
        "The answer is 72",
        "answer": "72",
    }
    assert examples.math_example(natalia, "zs_ao")["inputs"].endswith("April and May? A:")


def test_in_context_templates_match_the_papers_code() -> None:
    train = sources.gsm8k("train")
    shots = [train[i] for i in (1, 2, 345)]
    query = sources.gsm8k("test")[0]
    demo_objects = [demos.as_demo(p) for p in shots]
    expected_cot = "".join(paper_demo_cot(p.question, gold_solution(p)) for p in shots)
    expected_ao = "".join(paper_demo_ao(p.question, gold_solution(p)) for p in shots)
    assert formats.math_input("ic_cot", query.question, demo_objects) == (
        expected_cot + "Q: " + query.question + "\nLet's think step by step"
    )
    assert formats.math_input("ic_ao", query.question, demo_objects) == expected_ao + "Q: " + query.question + "\nA:"
    assert (
        "," in shots[2].answer_text and f"The answer is {shots[2].answer_text}\n" in expected_ao
    )  # as GSM8K spells it


def test_out_of_distribution_targets_are_answer_only() -> None:
    problem = sources.ood("svamp")[0]
    for fmt in formats.MATH_FORMATS:
        assert formats.math_target(fmt, problem.answer_text, problem.rationale) == "The answer is 51"


def test_unknown_format_is_an_error() -> None:
    with pytest.raises(ValueError, match="zs_cot"):
        formats.math_input("zero_shot", "q")


# --- BBH formats -------------------------------------------------------------------------------------


def test_bbh_cot_template_is_exact() -> None:
    prompt = sources.bbh_prompt("navigate")
    example = sources.bbh_examples("navigate")[0]
    raw = formats.bbh_input("cot", prompt, example.input)
    assert raw == prompt.text + "\n\nQ: " + example.input + "\nA: Let's think step by step.\n"
    with open(os.path.join(SHARED, "bbh/cot-prompts/navigate.txt"), encoding="utf-8") as f:
        file_text = f.read()
    assert prompt.text == file_text.split("-----\n", 1)[1].strip()


def test_bbh_answer_only_template_is_exact() -> None:
    prompt = sources.bbh_prompt("boolean_expressions")
    assert formats.bbh_input("ao", prompt, "True and False is") == (
        "Evaluate the result of a random Boolean expression.\n\n"
        "Q: not ( ( not not True ) ) is\nA: the answer is False.\n\n"
        "Q: True and False and not True and True is\nA: the answer is False.\n\n"
        "Q: not not ( not ( False ) ) is\nA: the answer is True.\n\n"
        "Q: True and False is\nA: the answer is "
    )
    built = examples.bbh_examples("boolean_expressions", "ao")[0]
    assert built["targets"] == built["answer"] == "False" and built["id"] == "bbh-boolean_expressions-000"
    for task in sources.BBH_TASKS:
        ao = formats.bbh_ao_prompt(sources.bbh_prompt(task))
        assert ao.count("A: the answer is ") == 3 and "step by step" not in ao


# --- demonstrations ----------------------------------------------------------------------------------


def test_demos_are_deterministic_from_train_and_never_the_example() -> None:
    pool = splits.split_problems("gsm8k", "train")
    validation = splits.gsm8k_validation_ids()
    by_question = {p.question: p.id for p in pool}
    first = demos.sample_demos("gsm8k-test-0000", pool, 4)
    assert first == demos.sample_demos("gsm8k-test-0000", pool, 4)
    assert first != demos.sample_demos("gsm8k-test-0001", pool, 4)
    assert first != demos.sample_demos("gsm8k-test-0000", pool, 4, seed=1)
    assert len({d.question for d in first}) == 4
    for problem in pool[:500]:
        chosen = demos.sample_demos(problem.id, pool, 4)
        ids = {by_question[d.question] for d in chosen}
        assert problem.id not in ids and not ids & validation and len(ids) == 4
    built = examples.math_examples("gsm8k", "train", "ic_cot")
    assert len(built) == 6_973
    assert built[0]["inputs"].count("Let's think step by step") == 5


def test_fixed_prompt_files(monkeypatch: pytest.MonkeyPatch) -> None:
    wei = demos.fixed_demos("prompts/wei2022_gsm8k_8shot_cot.jsonl")
    assert len(wei) == 8 and wei[0].answer_text == "6" and wei[0].question.startswith("There are 15 trees")
    flan = demos.fixed_demos("prompts/flant5-cot-specialization/prompt_simple_4_cases.txt")
    assert [d.answer_text for d in flan] == ["21", "48", "399", "13"]
    # Fu et al.'s evaluation input: file text + "\nQ: " + Q + "\nLet's think step by step\n" (section 5.2).
    with open(
        os.path.join(SHARED, "prompts/flant5-cot-specialization/prompt_simple_4_cases.txt"), encoding="utf-8"
    ) as f:
        file_text = f.read()
    question = sources.ood("multiarith")[0].question
    paper = file_text + "\nQ: " + question + "\nLet's think step by step\n"
    assert normalize_text(formats.math_input("ic_cot", question, flan)) == normalize_text(paper)

    gin.bind_parameter("demo_settings.prompt_file", "prompts/wei2022_gsm8k_8shot_cot.jsonl")
    fixed = examples.math_examples("svamp", "validation", "ic_cot")
    assert all(e["inputs"].startswith("Q: There are 15 trees in the grove.") for e in fixed)
    assert fixed[0]["inputs"].count("Let's think step by step") == 9


def test_prompt_file_errors(tmp_path) -> None:
    path = tmp_path / "prompt.txt"
    path.write_text(
        "Q: one?\nLet's think step by step\n1 + 1 = 2.\nThe answer is 2\n\nnot a question\nThe answer is 3\n"
    )
    with pytest.raises(demos.DataFormatError) as err:
        demos.read_prompt_file(str(path))
    assert (err.value.line, err.value.field) == (6, "Q:")


# --- normalization -----------------------------------------------------------------------------------

NORMALIZATION_CASES = [
    (
        "Natalia sold 48/2 = <<48/2=24>>24 clips.\nIn total <<48+24=72>>72.",
        "Natalia sold 48/2 = 24 clips. In total 72.",
    ),
    ("a\n\n b\t c\u00a0d\u2028e", "a b c d e"),
    ("4 < 4.8 < 5", "4 &lt; 4.8 &lt; 5"),
    ("{ < [ ] > }", "&lbrace; &lt; [ ] > &rbrace;"),
    ("~5 and 2^3 and a\\b and `x`", "&#126;5 and 2&Hat;3 and a&bsol;b and &grave;x&grave;"),
    ("10 × $4 − 3 ÷ 2", "10 * $4 - 3 / 2"),
    ("½ of 1½ and ¾", "1/2 of 1 1/2 and 3/4"),
    ("√(144) = 12", "sqrt(144) = 12"),
    ("cost ¢25", "cost cents 25"),
    ("Ö ñ ø æ ł ı x²", "O n o ae l i x2"),
    ("é ü ß € “quoted” Ivan’s", "é ü ß € “quoted” Ivan’s"),
    ("\u0410 Senior Center", "A Senior Center"),
    ("zero\u200bwidth", "zerowidth"),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZATION_CASES)
def test_normalization_rules(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected
    assert normalize_text(expected) == expected  # idempotent


def test_denormalize_undoes_only_the_escapes() -> None:
    assert denormalize_text(normalize_text("} ] >")) == "} ] >"
    assert denormalize_text(b"&lt;path d=...") == "<path d=..."
    assert denormalize_text("AT&T; &amp;") == "AT&T; &amp;"


def test_normalization_constants_match_the_vocabulary(spm) -> None:
    for char in T5_NON_ASCII:
        ids = spm.encode(f"a{char}a")
        assert UNK not in ids and spm.decode(ids) == f"a{char}a", repr(char)
    for char, escape in ASCII_ESCAPES.items():
        assert UNK in spm.encode(f"a {char} a"), f"{char!r} is representable: no need to escape it"
        assert UNK not in spm.encode(escape)


def test_normalized_gsm8k_rationales_have_no_unk(spm) -> None:
    problems = sources.gsm8k("train")
    assert len(problems) == 7_473
    raw_solutions = [f"{p.rationale}\n#### {p.answer_text}" for p in problems]
    assert sum(UNK in ids for ids in spm.encode(raw_solutions)) == 7_378  # MANIFEST.md's count
    targets = [formats.math_target("zs_cot", p.answer_text, p.rationale) for p in problems]
    assert sum(UNK in ids for ids in spm.encode(targets)) == 114  # no calculator notes, still `×`, `−`, ...
    for texts in ([p.rationale for p in problems], targets):
        normalized = [normalize_text(text) for text in texts]
        assert [t for t, ids in zip(normalized, spm.encode(normalized), strict=True) if UNK in ids] == []


def test_normalized_datasets_have_no_unk(spm) -> None:
    texts = [p.question for p in (*sources.gsm8k("train"), *sources.gsm8k("test"))]
    texts += [p.question for name in sources.OOD_DATASETS for p in sources.ood(name)]
    for task in sources.BBH_TASKS:
        texts += [e.input for e in sources.bbh_examples(task)] + [e.target for e in sources.bbh_examples(task)]
        texts.append(sources.bbh_prompt(task).text)
    normalized = [normalize_text(text) for text in texts]
    assert [t for t, ids in zip(normalized, spm.encode(normalized), strict=True) if UNK in ids] == []


def test_seqio_vocabulary_agrees() -> None:
    import seqio

    vocab = seqio.SentencePieceVocabulary(os.path.join(SHARED, "tokenizers/t5/spiece.model"), extra_ids=100)
    targets = [e["targets"] for e in examples.math_examples("gsm8k", "validation", "zs_cot")]
    assert all(UNK not in vocab.encode(t) for t in targets)


# --- synthetic word problems -------------------------------------------------------------------------

_EQUATION = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")


def _check_problem(problem, steps: int) -> None:
    equations = _EQUATION.findall(problem.rationale)
    assert len(equations) == steps
    value = None
    for a, op, b, result in equations:
        a, b, result = int(a), int(b), int(result)
        assert value is None or a == value
        assert {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op] == result > 0
        assert op != "/" or a % b == 0
        value = result
    assert problem.answer == problem.answer_text == str(value)
    assert problem.question.endswith("have now?")


@pytest.mark.parametrize("steps", word_problems.STEP_COUNTS)
def test_word_problems(steps: int) -> None:
    split_problems = {split: word_problems.problems(steps, split) for split in word_problems.SPLIT_SIZES}
    assert {s: len(p) for s, p in split_problems.items()} == word_problems.SPLIT_SIZES
    questions = [p.question for problems in split_problems.values() for p in problems]
    assert len(set(questions)) == len(questions)  # no question in two splits
    for problems in split_problems.values():
        for problem in problems[:300]:
            _check_problem(problem, steps)
    assert word_problems.problems(steps, "test")[0].id == f"synthetic-k{steps}-test-00000"


def test_word_problems_are_seeded() -> None:
    import random

    a = word_problems.word_problem(random.Random("s"), 3, "x")
    assert a == word_problems.word_problem(random.Random("s"), 3, "x")
    assert a != word_problems.word_problem(random.Random("t"), 3, "x")
    _check_problem(word_problems.word_problem(random.Random("s"), 7, "y"), 7)
    built = examples.math_examples("synthetic_k3", "test", "ic_cot")[0]
    assert built["inputs"].count("Let's think step by step") == 5 and built["targets"].endswith(built["answer"])
