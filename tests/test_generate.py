"""`python -m distill.generate`: records, resume after SIGKILL, faults, caps, key secrecy, gold source.

The peers are real HTTP servers on loopback: the project's own `distill.serve` (a micro byte-level
model) and `tests/teacher_server.py`, a scripted server for what a real one does not do on
demand (429 with Retry-After, 500, hangs, malformed and truncated bodies, answers that are right
or wrong on purpose), whose bodies are built with the official `openai` package's types.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from distill.contracts import teacher_records, token_bytes
from distill.data import formats, sources
from distill.generate import cli as generate
from distill.generate import prompts, questions, responses, samples, store
from tests.support import REPO_ROOT
from tests.support.teacher_server import ScriptedServer, answer_text

SECRET = "sk-TEST-secret-7f3a9c2e"
PROMPT = "Question: What is 1 + 1?\nLet's think step by step\n1 + 1 = 2.\nThe answer is 2\n"


@pytest.fixture
def server():
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


def write_questions(path: Path, pairs: list[tuple[int, int]]) -> str:
    with open(path, "w") as f:
        for a, b in pairs:
            f.write(json.dumps({"question": f"What is {a} + {b}?", "answer": a + b}) + "\n")
    return str(path)


def run_args(
    server: ScriptedServer, tmp_path: Path, out: str, *extra: str, pairs=((1, 3), (2, 5), (4, 4))
) -> list[str]:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text(PROMPT)
    question_file = write_questions(tmp_path / "questions.jsonl", list(pairs))
    return [
        *("--base-url", server.url, "--model", "scripted", "--questions", question_file, "--prompt", str(prompt)),
        *("--samples", "4", "--top-logprobs", "4", "--timeout", "0.5", "--backoff", "0.01", "--out", out),
        *extra,
    ]


def records(path: str) -> list[dict]:
    return list(teacher_records.read(path))


def by_pair(rows: list[dict]) -> dict[tuple[str, int], dict]:
    return {(r["question_id"], r["sample_index"]): r for r in rows}


def without_run(summary_path: str) -> dict:
    summary = json.loads(Path(summary_path).read_text())
    del summary["run"]
    return summary


# ---------------------------------------------------------------------------------------------
# Prompt, cut and token boundaries.


def test_default_prompt_is_the_papers_and_the_query_is_its_template() -> None:
    prompt = prompts.load(prompts.DEFAULT_PROMPT)
    assert prompt.sha256 == "d20a8061b484da2d93d10152727c5c137f7bec76f5f4f9e1c94f17cf33051aee"  # prompt_complex.txt
    assert prompt.text.count("\nQuestion: ") == 7 and prompt.text.startswith("Question: ")
    query = prompt.query("How many?")
    assert query == prompt.text + "\nQuestion: How many?\nLet's think step by step"
    assert prompts.load("simple_4_cases").query("How many?").endswith("\nQ: How many?\nLet's think step by step")
    bbh = prompts.bbh("navigate")
    assert bbh.query("Turn left.") == formats.bbh_input("cot", sources.bbh_prompt("navigate"), "Turn left.")
    first = questions.from_dataset("bbh_navigate", "test")[0]
    assert first.id == "bbh-navigate-000" and first.task == "navigate" and first.gold in ("Yes", "No")
    assert questions.grade(first, f"We end where we began. So the answer is {first.gold}.") == (first.gold, True)
    math = questions.Question("q", "questions", "q", "?", "1080")
    assert questions.grade(math, "So 1,000 + 80 = 1,080.\nThe answer is 1,080.") == ("1080", True)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("\nA + B = 5.\nThe answer is 5.\n\nQuestion: next", "\nA + B = 5.\nThe answer is 5."),
        ("\nSo the answer is 5 apples\nthen more", "\nSo the answer is 5 apples"),
        ("\nNo answer here.\n\nQuestion: next", "\nNo answer here."),
        ("\nNo answer here.\nQ: next", "\nNo answer here."),
        ("\n\n  Steps first.\n  \nMore", "\n\n  Steps first."),  # leading blank lines are not the end
        ("The answer is 7", "The answer is 7"),
    ],
)
def test_cut_point(text: str, kept: str) -> None:
    data = text.encode()
    assert data[: prompts.cut_point(data)].decode() == kept


def choice(pieces: list[bytes], text: str | None = None) -> responses.Choice:
    tokens = [{"token": p.decode("utf-8", "replace"), "bytes": list(p), "logprob": -0.5, "top": []} for p in pieces]
    return responses.Choice(text if text is not None else b"".join(pieces).decode("utf-8", "replace"), "length", tokens)


def test_trim_moves_the_cut_to_a_token_boundary_and_keeps_utf8_whole() -> None:
    # The answer line ends inside ".\n\n": the cut moves back before that token.
    trimmed = samples.trim(choice([b"The", b" answer", b" is", b" 5", b".\n\n", b"Question"]))
    assert (trimmed.completion, len(trimmed.tokens), trimmed.cut) == ("The answer is 5", 4, True)
    # A character split across tokens, cut after its first byte: that byte's token goes too.
    trimmed = samples.trim(choice([b"caf", b"\xc3", b"\xa9", b" ok"]), cut=False)
    assert trimmed.completion == "café ok" and not trimmed.cut
    trimmed = samples.trim(choice([b"caf", b"\xc3"], text="caf"), cut=False)
    assert (trimmed.completion, len(trimmed.tokens), trimmed.spelled) == ("caf", 1, True)
    # Stray bytes mid-text end the completion before them.
    trimmed = samples.trim(choice([b"ab", b"\xff", b"cd"]), cut=False)
    assert (trimmed.completion, trimmed.cut) == ("ab", True)
    # A stop string inside the last token: tokens past the API text are dropped.
    trimmed = samples.trim(choice([b"x", b" =", b" 2", b"\nQuestion"], text="x = 2"))
    assert (trimmed.completion, len(trimmed.tokens), trimmed.cut) == ("x = 2", 3, False)
    # Tokens that do not spell the text (a decode that drops the leading space): the tokens win.
    trimmed = samples.trim(choice([b" The", b" answer"], text="The answer"))
    assert (trimmed.completion, trimmed.spelled) == (" The answer", False)
    for case in ([b"ab", b"\xff", b"cd"], [b"caf", b"\xc3", b"\xa9"]):
        trimmed = samples.trim(choice(case), cut=False)
        assert b"".join(bytes(t["bytes"]) for t in trimmed.tokens) == trimmed.completion.encode()


def test_completions_byte_tokens_and_logprob_clamping() -> None:
    assert token_bytes.string_bytes("bytes:\\xe2\\x80") == b"\xe2\x80"
    assert token_bytes.string_bytes("bytes: not escapes") == b"bytes: not escapes"
    assert token_bytes.string_bytes("<|endoftext|>") == token_bytes.string_bytes("</s>") == b""  # as chat's bytes: null
    body = {
        "choices": [
            {
                "index": 0,
                "text": "é!",
                "finish_reason": "stop",
                "logprobs": {
                    "tokens": ["bytes:\\xc3", "bytes:\\xa9", "!"],
                    "token_logprobs": [-0.1, 1e-7, -1e30],
                    "top_logprobs": [{"bytes:\\xc3": -0.1}, {"bytes:\\xa9": 0.0}, {"!": -2.0, "?": -1.0}],
                    "text_offset": [0, 0, 1],
                },
            }
        ]
    }
    (parsed,) = responses.parse(body, chat=False, n=1, top_logprobs=1).choices
    assert [t["bytes"] for t in parsed.tokens] == [[0xC3], [0xA9], [33]]
    assert [t["logprob"] for t in parsed.tokens] == [-0.1, 0.0, responses.MIN_LOGPROB]
    assert parsed.tokens[2]["top"] == [{"token": "?", "bytes": [63], "logprob": -1.0}]
    with pytest.raises(responses.MalformedResponseError, match="2 choices; 1 were requested"):
        responses.parse({"choices": [body["choices"][0]] * 2}, chat=False, n=1, top_logprobs=1)


# ---------------------------------------------------------------------------------------------
# Runs against the scripted server.


def test_openai_completion_and_chat_shapes_give_the_same_records(server, tmp_path) -> None:
    rows = {}
    for api in ("completions", "chat"):
        out = str(tmp_path / f"{api}.jsonl")
        generate.main(run_args(server, tmp_path, out, "--api", api))
        rows[api] = by_pair(records(out))
    assert len(rows["chat"]) == 12
    chat_file = str(tmp_path / "chat.jsonl")  # `jsonl.line` writes what json.dumps would
    dumped = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records(chat_file)]
    assert Path(chat_file).read_text().splitlines() == dumped
    for pair, chat in rows["chat"].items():
        completion = rows["completions"][pair]
        assert {**completion, "api": "chat"} == chat, pair
    record = rows["chat"][("questions-00000", 0)]
    # The answer line's newline sits inside a ".\n\n" token: the cut moves back before it.
    assert record["completion"] == "\nWe add 1 and 3 (café).\n1 + 3 = 4.\nThe answer is 4"
    assert record["completion"] in answer_text(1, 3, 4)
    assert (record["finish_reason"], record["answer"], record["correct"]) == ("cut", "4", True)
    tokens = record["tokens"]
    assert [t["token"] for t in tokens[7:10]] == ["caf", "bytes:\\xc3", "bytes:\\xa9"]
    assert all(len(t["top"]) == 4 and t["top"] == sorted(t["top"], key=lambda a: -a["logprob"]) for t in tokens)
    assert tokens[3]["logprob"] == -9.0 and tokens[3]["token"] not in [a["token"] for a in tokens[3]["top"]]
    assert tokens[0]["top"][0] == {"token": "\n", "bytes": [10], "logprob": 0.0}
    assert record["sampling"] == {
        "temperature": 0.5,
        "top_p": 1.0,
        "max_tokens": 256,
        "stop": ["\nQuestion:", "\nQ:"],
        "top_logprobs": 4,
        "n": 4,
        "seed": None,
    }
    assert record["usage"] == {"prompt_tokens": 100, "completion_tokens": 160}
    assert record["question"] == "What is 1 + 3?" and record["prompt_sha256"] == prompts.Prompt("", PROMPT).sha256
    (sent,) = [
        r["body"] for r in server.requests if r["path"].endswith("/chat/completions") and "4 + 4" in str(r["body"])
    ]
    assert sent["messages"] == [
        {"role": "user", "content": PROMPT + "\nQuestion: What is 4 + 4?\nLet's think step by step"}
    ]
    assert (sent["n"], sent["logprobs"], sent["top_logprobs"], sent["stop"]) == (4, True, 4, ["\nQuestion:", "\nQ:"])


def test_right_and_wrong_answers_give_accuracy_majority_and_coverage(server, tmp_path) -> None:
    # 1+3: samples 1 and 3 wrong; 2+5: sample 0 wrong; 4+4: all wrong.
    server.wrong = lambda question, sample: (
        question == "4+4" or (question, sample) in {("1+3", 1), ("1+3", 3), ("2+5", 0)}
    )
    out = str(tmp_path / "out.jsonl")
    result = generate.main(
        run_args(server, tmp_path, out, "--price-prompt", "2", "--price-completion", "10", "--stop", "")
    )
    summary = json.loads(Path(out + ".summary.json").read_text())
    assert summary["records"] == 12 and summary["questions"] == 3
    assert summary["sample_accuracy"] == pytest.approx(5 / 12)
    assert summary["per_question_accuracy"] == pytest.approx((2 / 4 + 3 / 4 + 0) / 3)
    assert summary["first_sample_accuracy"] == pytest.approx(1 / 3)
    assert summary["majority_vote_accuracy"] == pytest.approx(2 / 3)  # 1+3 ties 4 vs 5: the first answer (4) wins
    assert summary["coverage"] == pytest.approx(2 / 3)
    assert summary["per_question"]["questions-00002"] == {
        "samples": 4,
        "correct": 0,
        "majority": "9",
        "majority_correct": False,
    }
    assert summary["tokens"] == {"prompt": 300, "completion": 480, "kept_completion": 12 * 24}
    assert summary["cost_usd"] == pytest.approx((300 * 2 + 480 * 10) / 1e6)
    assert summary["run"]["spend_usd"] == pytest.approx(summary["cost_usd"]) and summary["run"]["requests"] == 3
    assert result["coverage"] == summary["coverage"]
    assert "stop" not in server.requests[-1]["body"]  # --stop '' sends none, as the paper did


def test_faults_are_retried_and_logged_never_crashing_the_run(server, tmp_path) -> None:
    server.faults = ["429", "500", "hang", "malformed", "truncated", "shape"]
    out = str(tmp_path / "out.jsonl")
    generate.main(run_args(server, tmp_path, out, "--concurrency", "1"))
    assert len(by_pair(records(out))) == 12 and len(records(out)) == 12
    errors = [json.loads(line) for line in Path(out + ".errors.jsonl").read_text().splitlines()]
    kinds = [(e["kind"], e.get("status")) for e in errors]
    assert kinds == [
        ("http", 429),
        ("http", 500),
        ("timeout", None),
        ("malformed", None),
        ("connection", None),  # truncated body
        ("malformed", None),
    ]
    assert errors[-1]["message"] == "response has no 'choices' list" and errors[0]["samples"] == [0, 1, 2, 3]
    times = [r["time"] for r in server.requests]
    assert times[1] - times[0] >= 1.0, "Retry-After: 1 was honoured"
    assert json.loads(Path(out + ".summary.json").read_text())["run"]["retries"] == 6


def test_api_key_never_reaches_records_logs_or_errors(server, tmp_path, capfd, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    os.environ["TEACHER_KEY"] = SECRET
    try:
        server.faults = ["500", "429"]  # the 500 body echoes the Authorization header
        out = str(tmp_path / "out.jsonl")
        generate.main(run_args(server, tmp_path, out, "--api-key-env", "TEACHER_KEY", "--api", "chat"))
        server.faults = ["401"]
        with pytest.raises(SystemExit) as stopped:
            generate.main(run_args(server, tmp_path, str(tmp_path / "other.jsonl"), "--api-key-env", "TEACHER_KEY"))
        assert "HTTP 401" in str(stopped.value) and "[REDACTED]" in str(stopped.value)
    finally:
        del os.environ["TEACHER_KEY"]
    assert {r["authorization"] for r in server.requests} == {f"Bearer {SECRET}"}, "the key was sent"
    captured = capfd.readouterr()
    written = [p.read_text() for p in tmp_path.iterdir()]
    assert any("[REDACTED]" in text for text in written)
    for text in [*written, captured.out, captured.err, caplog.text, str(stopped.value)]:
        assert SECRET not in text and SECRET[3:] not in text


LONG_KEY = "sk-proj-" + "Qx7vT2mN9pL4wR8kZ3cY6hB1jF5dG0sA" + "eU2iO7nM4tK9rW1q"  # 54 characters


def key_fragments(text: str, key: str = LONG_KEY) -> list[str]:
    """Every run of 8 or more characters of `key` that `text` holds."""
    return [key[i : i + 8] for i in range(len(key) - 7) if key[i : i + 8] in text]


def test_no_eight_characters_of_the_key_survive_the_old_cut_points(server, tmp_path, capfd, caplog) -> None:
    # The echoed key starts 50 characters before where error texts used to be cut (a plain-text body at
    # 300 characters, a quoted bad log-prob at 500), so cutting first left 50 of its 54 characters.
    caplog.set_level(logging.DEBUG)
    os.environ["TEACHER_KEY"] = LONG_KEY
    try:
        server.faults = ["echo:500:243", "echo_logprob:405", "echo:400:243"]
        out = str(tmp_path / "out.jsonl")
        generate.main(run_args(server, tmp_path, out, "--api-key-env", "TEACHER_KEY", "--concurrency", "1"))
        server.faults = ["echo:401:243"]
        with pytest.raises(SystemExit) as stopped:
            generate.main(run_args(server, tmp_path, str(tmp_path / "other.jsonl"), "--api-key-env", "TEACHER_KEY"))
    finally:
        del os.environ["TEACHER_KEY"]
    assert [r["fault"] for r in server.requests[:3]] == ["echo:500:243", "echo_logprob:405", "echo:400:243"]
    errors = Path(out + ".errors.jsonl").read_text()
    assert errors.count("[REDACTED]") == 3 and "HTTP 401" in str(stopped.value)
    captured = capfd.readouterr()
    written = {p.name: p.read_text() for p in tmp_path.iterdir()}
    texts = {**written, "stdout": captured.out, "stderr": captured.err, "log": caplog.text, "exit": str(stopped.value)}
    assert {name: key_fragments(text) for name, text in texts.items() if key_fragments(text)} == {}


def test_no_logprobs_gives_null_tokens_and_the_cut_text(server, tmp_path) -> None:
    out = str(tmp_path / "out.jsonl")
    generate.main(run_args(server, tmp_path, out, "--no-logprobs", "--api", "chat"))
    rows = records(out)
    assert len(rows) == 12 and all(r["tokens"] is None for r in rows)
    assert rows[0]["completion"].endswith("The answer is " + rows[0]["gold_answer"] + ".")  # cut at the line end
    assert all("logprobs" not in r["body"] and "top_logprobs" not in r["body"] for r in server.requests)


def test_servers_without_n_get_one_request_per_sample(server, tmp_path) -> None:
    for fault in ("ignore_n", "refuse_n"):
        server.faults, server.requests = [fault], []
        out = str(tmp_path / f"{fault}.jsonl")
        generate.main(run_args(server, tmp_path, out))
        assert sorted(by_pair(records(out))) == [(f"questions-{q:05d}", i) for q in range(3) for i in range(4)]
        sent = sorted(r["body"]["n"] for r in server.requests)
        # The first wave asks n=4 once per question; ignored, it still gives sample 0 of each.
        assert sent == [1] * (9 if fault == "ignore_n" else 12) + [4, 4, 4]
    assert not Path(tmp_path / "ignore_n.jsonl.errors.jsonl").exists()
    refused = Path(tmp_path / "refuse_n.jsonl.errors.jsonl").read_text().splitlines()
    assert [json.loads(line)["status"] for line in refused] == [400, 400, 400]


def test_request_and_cost_caps_stop_cleanly_and_a_rerun_completes(server, tmp_path) -> None:
    out = str(tmp_path / "out.jsonl")
    args = run_args(server, tmp_path, out, "--n-per-request", "2", "--concurrency", "1")
    summary = generate.main([*args, "--max-requests", "2"])
    assert summary["records"] == 4 and summary["run"]["stopped"] == "--max-requests 2 reached"
    assert summary["run"]["missing"] == 8
    # $0.0004 a request (100 prompt + 80 completion tokens at $2 / $2.5 per 1M): $0.001 allows 2 more.
    summary = generate.main([*args, "--max-cost", "0.001", "--price-prompt", "2", "--price-completion", "2.5"])
    assert summary["records"] == 8 and "--max-cost" in summary["run"]["stopped"]
    assert summary["run"]["spend_usd"] == pytest.approx(0.0008)
    summary = generate.main(args)
    assert summary["records"] == 12 and summary["run"]["stopped"] is None and summary["run"]["requests"] == 2
    assert len(records(out)) == 12


def test_resume_refuses_another_configuration_and_bad_questions_name_file_line_field(server, tmp_path) -> None:
    out = str(tmp_path / "out.jsonl")
    generate.main(run_args(server, tmp_path, out, "--max-requests", "1"))
    with pytest.raises(
        SystemExit, match=re.escape("sampling.temperature=0.5, this run writes sampling.temperature=0.7")
    ):
        generate.main(run_args(server, tmp_path, out, "--temperature", "0.7"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "What is 1 + 1?", "answer": 2}\n{"question": "What is 2 + 2?"}\n')
    with pytest.raises(SystemExit, match=f"{bad}, line 2: field 'answer': missing"):
        generate.main([*run_args(server, tmp_path, out), "--questions", str(bad)])


@pytest.mark.e2e
def test_sigkill_midway_then_resume_ends_like_an_uninterrupted_run(tmp_path) -> None:
    server = ScriptedServer(wrong=lambda question, sample: sample % 3 == 0, delay_s=0.05)
    try:
        pairs = [(a, a + 1) for a in range(12)]
        killed_out, reference_out = str(tmp_path / "killed.jsonl"), str(tmp_path / "reference.jsonl")
        common = ["--n-per-request", "2", "--concurrency", "2", "--seed", "5"]
        killed_args = run_args(server, tmp_path, killed_out, *common, pairs=pairs)
        env = {**os.environ, "PYTHONPATH": REPO_ROOT}
        with open(tmp_path / "killed.log", "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "distill.generate", *killed_args], cwd=REPO_ROOT, env=env, stdout=log, stderr=log
            )
            deadline = time.monotonic() + 120
            while not (os.path.exists(killed_out) and Path(killed_out).read_bytes().count(b"\n") >= 8):
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "killed.log").read_text()
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        stored = Path(killed_out).read_bytes().count(b"\n")
        assert proc.returncode == -signal.SIGKILL and stored < 48, f"killed too late to test anything ({stored})"
        with open(killed_out, "ab") as f:  # what a kill inside a write leaves: half a record, no newline
            f.write(b'{"schema": "cot-specialize/teacher-record/1", "question_id": "questi')

        generate.main(killed_args)
        generate.main(run_args(server, tmp_path, reference_out, *common, pairs=pairs))
    finally:
        server.close()
    resumed, reference = records(killed_out), records(reference_out)
    assert len(resumed) == 48 and len(by_pair(resumed)) == 48, "each (question, sample) exactly once"
    assert by_pair(resumed) == by_pair(reference)
    assert without_run(killed_out + ".summary.json") == without_run(reference_out + ".summary.json")


@pytest.mark.e2e
def test_a_second_process_on_the_same_out_stops_with_a_clear_message(tmp_path) -> None:
    server = ScriptedServer(delay_s=0.2)
    try:
        out = str(tmp_path / "out.jsonl")
        args = run_args(server, tmp_path, out, "--n-per-request", "1", "--concurrency", "1")
        env = {**os.environ, "PYTHONPATH": REPO_ROOT}
        with open(tmp_path / "first.log", "w") as log:
            first = subprocess.Popen(
                [sys.executable, "-m", "distill.generate", *args], cwd=REPO_ROOT, env=env, stdout=log, stderr=log
            )
            deadline = time.monotonic() + 120
            while not (os.path.exists(out) and Path(out).read_bytes().count(b"\n") >= 1):
                assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()
                time.sleep(0.01)
            with pytest.raises(SystemExit) as stopped:
                generate.main(args)
            assert first.poll() is None, "the second process stopped while the first still ran"
            assert first.wait(timeout=120) == 0, (tmp_path / "first.log").read_text()
        message = str(stopped.value)
        assert f"{out} is being written by another distill.generate process (pid {first.pid}" in message
        assert "choose another --out" in message
        assert generate.main(args)["run"]["requests"] == 0  # the lock went with the first process
        assert len(server.requests) == 12, "the first process's 12 requests, none from the second"
    finally:
        server.close()
    rows = records(out)
    assert len(rows) == 12 and len(by_pair(rows)) == 12


def test_gsm8k_gold_source_writes_the_same_schema(tmp_path) -> None:
    out = str(tmp_path / "gold.jsonl")
    generate.main(["--source", "gsm8k-gold", "--limit", "5", "--out", out])
    generate.main(["--source", "gsm8k-gold", "--limit", "6", "--out", out])  # resumes: one more
    rows = records(out)
    problems = [q for q in questions.from_dataset("gsm8k", "train")][:6]
    assert [r["question_id"] for r in rows] == [p.id for p in problems]
    for row, problem in zip(rows, problems, strict=True):
        assert row["completion"] == formats.math_target("zs_cot", problem.answer_text, problem.rationale)
        assert "<<" not in row["completion"] and row["completion"].endswith(f"The answer is {problem.answer_text}")
        assert (row["api"], row["tokens"], row["sample_index"], row["correct"]) == ("gold", None, 0, True)
        assert row["gold_answer"] == problem.gold
    summary = json.loads(Path(out + ".summary.json").read_text())
    assert summary["records"] == 6 and summary["coverage"] == 1.0


# ---------------------------------------------------------------------------------------------
# The project's own server as the teacher.


@pytest.fixture(scope="module")
def distill_server():
    """`distill.serve.Server` on loopback with a random micro byte-level model that writes printable ASCII."""
    import flax.linen as nn
    import jax
    import numpy as np

    from distill.serve import batcher, loading, server

    model = loading.load_model(["gin/models/byt5/micro.gin"], ["ACTIVATION_DTYPE = 'float32'"])
    shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
    params = nn.unbox(model.get_initial_variables(jax.random.PRNGKey(3), shapes))["params"]
    params = jax.tree_util.tree_map(lambda x: np.asarray(x) * 2.0, params)
    ids = np.arange(params["decoder"]["logits_dense"]["kernel"].shape[1])
    keep = ((ids >= 35) & (ids <= 129)) | (ids == 1)  # bytes 32..126 and EOS, as in test_serve
    params["decoder"]["logits_dense"]["kernel"] *= keep[None, :]
    config = server.ServeConfig(port=0, model_name="micro", batch_wait_s=0.05)
    live = server.Server(model, params, config, batcher.Buckets((8,), (128,), (32,))).start()
    yield live
    live.shutdown()


def test_distill_serve_as_teacher_both_apis(distill_server, tmp_path, caplog) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text(PROMPT)
    question_file = write_questions(tmp_path / "questions.jsonl", [(1, 2), (3, 4)])
    rows = {}
    for api in ("completions", "chat"):
        out = str(tmp_path / f"{api}.jsonl")
        generate.main(
            [
                *("--base-url", distill_server.url + "/v1", "--model", "micro", "--api", api),
                *("--questions", question_file, "--prompt", str(prompt), "--samples", "3", "--temperature", "0"),
                *("--max-tokens", "32", "--top-logprobs", "3", "--no-cut", "--stop", "", "--out", out),
            ]
        )
        rows[api] = by_pair(records(out))  # read() checks that tokens spell each completion
    assert "do not spell" not in caplog.text
    assert len(rows["completions"]) == 6
    for pair, chat in rows["chat"].items():
        assert {**rows["completions"][pair], "api": "chat"} == chat, pair
    for record in rows["chat"].values():
        assert len(record["tokens"]) >= 4 and all(len(t["top"]) == 3 for t in record["tokens"])
        assert record["usage"]["completion_tokens"] >= len(record["tokens"])
        assert record["finish_reason"] in ("stop", "length")


def test_resume_scan_counts_tokens_in_any_key_order(server, tmp_path) -> None:
    out = str(tmp_path / "out.jsonl")
    generate.main(run_args(server, tmp_path, out, "--max-requests", "1"))
    (first, *rest) = Path(out).read_text().splitlines()
    record = json.loads(first)
    reordered = {"tokens": record["tokens"], **{k: v for k, v in record.items() if k != "tokens"}}
    Path(out).write_text("\n".join([json.dumps(reordered), *rest]) + "\n")
    resumed = store.Store(out)
    assert resumed.tally.records == 4 and resumed.tally.kept_tokens == 4 * len(record["tokens"])
    assert resumed.done("questions-00000") == {0, 1, 2, 3}
    Path(out).write_text(first.replace('"correct":', '"correct" ', 1) + "\n")  # not JSON, either way
    with pytest.raises(teacher_records.RecordError, match=f"{out}:1: not a JSON line"):
        store.Store(out)


def corrupt_tokens(line: str, old: str, new: str) -> str:
    """`line` with the first `old` of its tokens section replaced by `new` (its head left intact)."""
    head, tokens = line.split(',"tokens":', 1)
    return head + ',"tokens":' + tokens.replace(old, new, 1)


@pytest.mark.parametrize(
    "old, new",
    [('"top":[', '"top":[{'), ('"logprob":', '"logprob":1.5,"was":'), ('"bytes":[', '"bytes":[300,')],
    ids=["not-json", "positive-logprob", "bad-byte"],
)
def test_a_record_with_corrupt_tokens_is_never_counted_as_done(server, tmp_path, old, new) -> None:
    out = str(tmp_path / "out.jsonl")
    generate.main(run_args(server, tmp_path, out, "--max-requests", "1"))
    lines = Path(out).read_text().splitlines()
    lines[1] = corrupt_tokens(lines[1], old, new)
    Path(out).write_text("\n".join(lines) + "\n")
    with pytest.raises(teacher_records.RecordError, match=re.escape(f"{out}:2: ")):
        list(teacher_records.read(out))  # what distill.build applies to every line
    with pytest.raises(SystemExit, match=re.escape(f"{out}:2: ") + ".*repair or delete it, then rerun"):
        generate.main(run_args(server, tmp_path, out))
    assert len(server.requests) == 1, "nothing was requested on top of a file distill.build would refuse"


def test_resume_streams_a_large_file_and_cuts_its_torn_tail(server, tmp_path) -> None:
    out = str(tmp_path / "out.jsonl")
    generate.main(run_args(server, tmp_path, out, "--max-requests", "1"))
    record = json.loads(Path(out).read_text().splitlines()[0])
    line = (teacher_records.encode_line(record) + "\n").encode()
    copies = (8 << 20) // len(line) + 1
    with open(out, "wb") as f:
        for i in range(copies):
            f.write((teacher_records.encode_line({**record, "sample_index": i}) + "\n").encode())
        f.write(line[: len(line) // 2])  # what a kill inside a write leaves
    size = os.path.getsize(out)
    tracemalloc.start()
    try:
        resumed = store.Store(out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert resumed.tally.records == copies and resumed.done(record["question_id"]) == set(range(copies))
    assert os.path.getsize(out) == size - len(line) // 2 and Path(out).read_bytes().endswith(b"}\n")
    assert peak < size / 8, f"the resume held {peak:,} bytes of a {size:,}-byte file"


def test_the_errors_file_is_fsynced_like_the_records(server, tmp_path, monkeypatch) -> None:
    # A power loss cannot be staged; what would survive one can be watched: what is fsynced.
    synced, real_fsync = [], os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd)))
    server.faults = ["500", "500"]
    out = str(tmp_path / "out.jsonl")
    generate.main(run_args(server, tmp_path, out, "--concurrency", "1"))
    errors = out + ".errors.jsonl"
    assert len(Path(errors).read_text().splitlines()) == 2
    assert synced.count(errors) == 2, "each error line is fsynced when it is written"
    first = synced.index(errors)
    assert synced[first + 1] == str(tmp_path), "then the directory that now names the new errors file"
