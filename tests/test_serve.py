"""`python -m distill.serve`: a real server process on loopback, serving a micro byte-level checkpoint.

One server (started once, `--port=0`) answers every test; its batch, input and decode buckets
are single sizes so it compiles two programs (with and without top-logprob alternatives).
Greedy outputs and log-probabilities are checked against `decoding.decode` on the same params.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from distill.engine import decoding
from distill.serve import batcher, loading, openai_requests
from distill.serve.tokens import TokenTable
from tests.support import REPO_ROOT

MODEL_GIN = "gin/models/byt5/micro.gin"
INPUT_BUCKET, DECODE_BUCKET = 64, 32
# Greedy, the checkpoint below ends "The quick brown fox" at EOS after 17 tokens and runs "2 + 2 =" to 32.
PROMPTS = ["The quick brown fox", "2 + 2 =", "Tell me a story", "What is 2+3?"]
SECRET = "sk-test-secret-4242"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """Random micro params, saved as `<run>/checkpoint_7/state`; returns (run dir, model, params).

    The output layer is zeroed outside printable ASCII and EOS, and the rest sharpened, so
    completions are readable text without near-ties (greedy is then stable across batch shapes);
    EOS is boosted so that some prompts end before the length limit.
    """
    gin.clear_config()
    model = loading.load_model([MODEL_GIN], ["ACTIVATION_DTYPE = 'float32'"])
    gin.clear_config()
    shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
    params = nn.unbox(model.get_initial_variables(jax.random.PRNGKey(3), shapes))["params"]
    params = jax.tree_util.tree_map(lambda x: np.asarray(x) * 2.0, params)
    ids = np.arange(params["decoder"]["logits_dense"]["kernel"].shape[1])
    keep = ((ids >= 35) & (ids <= 129)) | (ids == 1)
    params["decoder"]["logits_dense"]["kernel"] *= keep[None, :]
    params["decoder"]["logits_dense"]["kernel"][:, 1] *= 1.6
    run_dir = tmp_path_factory.mktemp("serve") / "micro_run"
    tree = {"target": params, "state": {"step": jnp.asarray(7, jnp.int32)}}
    ocp.PyTreeCheckpointer().save(str(run_dir / "checkpoint_7" / "state"), tree)
    return run_dir, model, params


class Live:
    """The server process, its URL and its log file."""

    def __init__(self, process: subprocess.Popen, url: str, log_path: str) -> None:
        self.process, self.url, self.log_path = process, url, log_path

    def call(self, method: str, path: str, body=None, raw: bytes | None = None) -> tuple[int, dict]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"Bearer {SECRET}")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def metrics(self) -> dict:
        return self.call("GET", "/metrics")[1]


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory):
    run_dir, _, _ = checkpoint
    log_path = str(tmp_path_factory.mktemp("serve_log") / "server.log")
    args = [
        sys.executable,
        "-m",
        "distill.serve",
        f"--gin_file={MODEL_GIN}",
        "--gin.ACTIVATION_DTYPE='float32'",
        f"--checkpoint={run_dir}",
        "--port=0",
        "--batch_buckets=8",
        f"--input_length_buckets={INPUT_BUCKET}",
        f"--decode_length_buckets={DECODE_BUCKET}",
        "--batch_wait_ms=100",
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    lines: list[str] = []

    def read_until_serving() -> None:
        for line in process.stdout:
            lines.append(line)
            if " at http://" in line:
                return

    reader = threading.Thread(target=read_until_serving, daemon=True)
    reader.start()
    reader.join(timeout=240)
    if not lines or " at http://" not in lines[-1]:
        process.kill()
        with open(log_path) as f:
            pytest.fail(f"server did not start: {lines}\n{f.read()[-3000:]}")
    url = lines[-1].split(" at ", 1)[1].strip().removesuffix("/v1")
    yield Live(process, url, log_path)
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def reference(checkpoint):
    """prompt -> (ids before EOS, their log-probs, ended at EOS, text) from `decoding.decode` greedy."""
    _, model, params = checkpoint
    vocab = model.output_vocabulary
    tokens = np.zeros((len(PROMPTS), INPUT_BUCKET), np.int32)
    for i, prompt in enumerate(PROMPTS):
        ids = [*vocab.encode(prompt), vocab.eos_id]
        tokens[i, : len(ids)] = ids
    out = decoding.decode(model.module, params, tokens, decoding.DecodeParams(max_decode_length=DECODE_BUCKET))
    result = {}
    for i, prompt in enumerate(PROMPTS):
        ids = [int(t) for t in out.tokens[i, 0]]
        n = ids.index(1) if 1 in ids else len(ids)
        log_probs = np.asarray(out.token_log_probs[i, 0, :n])
        result[prompt] = (ids[:n], log_probs, n < len(ids), vocab.decode(ids[:n]))
    return result


@pytest.mark.e2e
def test_models_routes_and_health(server) -> None:
    status, body = server.call("GET", "/v1/models")
    assert status == 200 and body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["micro_run"] and body["data"][0]["object"] == "model"
    assert server.call("GET", "/v1/models/micro_run")[0] == 200
    status, body = server.call("GET", "/v1/models/gpt-4")
    assert status == 404 and body["error"]["code"] == "model_not_found"
    status, body = server.call("POST", "/v1/embeddings", {"input": "x"})
    assert status == 404 and "Unknown route" in body["error"]["message"]
    assert server.call("GET", "/v1/completions")[0] == 405
    assert server.call("GET", "/health") == (200, {"status": "ok"})
    assert server.metrics()["checkpoint_step"] == 7


@pytest.mark.e2e
def test_greedy_completion_and_logprobs_equal_engine_decode(server, reference) -> None:
    status, body = server.call(
        "POST",
        "/v1/completions",
        {"model": "micro_run", "prompt": PROMPTS[:2], "temperature": 0, "max_tokens": 32, "logprobs": 3},
    )
    assert status == 200 and body["object"] == "text_completion"
    assert [c["index"] for c in body["choices"]] == [0, 1]
    for prompt, choice in zip(PROMPTS[:2], body["choices"], strict=True):
        ids, log_probs, ended, text = reference[prompt]
        assert len(ids) >= 4, "the micro model writes a few tokens (the test is not trivial)"
        assert choice["text"] == text
        assert choice["finish_reason"] == ("stop" if ended else "length")
        lp = choice["logprobs"]
        np.testing.assert_allclose(lp["token_logprobs"], log_probs, rtol=1e-4, atol=1e-5)
        assert b"".join(bytes([t - 3]) for t in ids).decode("utf-8", "ignore") == "".join(lp["tokens"])
        assert lp["text_offset"] == list(range(len(ids)))  # one ASCII byte per token
        for token, token_lp, top in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"], strict=True):
            values = list(top.values())
            assert len(top) == 3 and values == sorted(values, reverse=True)
            assert next(iter(top)) == token and top[token] == pytest.approx(token_lp)  # greedy: the top token
    assert {c["finish_reason"] for c in body["choices"]} == {"stop", "length"}
    usage = body["usage"]
    assert usage["prompt_tokens"] == sum(len(p.encode()) + 1 for p in PROMPTS[:2])
    assert usage["completion_tokens"] == sum(len(reference[p][0]) for p in PROMPTS[:2])


@pytest.mark.e2e
def test_chat_logprobs_have_openai_shape_and_sorted_top_logprobs(server, reference) -> None:
    prompt = PROMPTS[2]
    request = {"messages": [{"role": "user", "content": prompt}], "temperature": 0, "logprobs": True, "top_logprobs": 4}
    status, body = server.call("POST", "/v1/chat/completions", request)
    assert status == 200 and body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == reference[prompt][3], "one user message is the raw input"
    content = choice["logprobs"]["content"]
    np.testing.assert_allclose([e["logprob"] for e in content], reference[prompt][1], rtol=1e-4, atol=1e-5)
    for entry in content:
        assert entry["bytes"] == list(entry["token"].encode()) and len(entry["top_logprobs"]) == 4
        assert entry["top_logprobs"][0]["token"] == entry["token"]

    sampled = {**request, "temperature": 1.5, "n": 3, "seed": 11, "max_tokens": 16}
    status, body = server.call("POST", "/v1/chat/completions", sampled)
    assert status == 200 and [c["index"] for c in body["choices"]] == [0, 1, 2]
    texts = [c["message"]["content"] for c in body["choices"]]
    assert len(set(texts)) > 1, "n samples differ"
    assert server.call("POST", "/v1/chat/completions", sampled)[1]["choices"] == body["choices"], "seeded"
    chosen_in_top = 0
    for choice in body["choices"]:
        for entry in choice["logprobs"]["content"]:
            tops = entry["top_logprobs"]
            values = [t["logprob"] for t in tops]
            assert values == sorted(values, reverse=True) and entry["logprob"] <= values[0] + 1e-6
            if entry["logprob"] >= values[-1]:
                assert entry["token"] in [t["token"] for t in tops]
                chosen_in_top += 1
    assert chosen_in_top > 0


@pytest.mark.e2e
def test_sampling_controls(server, reference) -> None:
    prompt = PROMPTS[1]
    text = reference[prompt][3]
    status, body = server.call(
        "POST", "/v1/completions", {"prompt": prompt, "n": 3, "temperature": 1.0, "max_tokens": 12}
    )
    assert status == 200 and len(body["choices"]) == 3 and body["choices"][2]["logprobs"] is None
    # Greedy choices of several prompts (decoded once each), and more choices than one batch holds.
    body = server.call("POST", "/v1/completions", {"prompt": PROMPTS[:2], "n": 2, "temperature": 0, "max_tokens": 4})[1]
    firsts = [reference[p][3][:4] for p in PROMPTS[:2]]
    assert [c["text"] for c in body["choices"]] == [firsts[0], firsts[0], firsts[1], firsts[1]]
    body = server.call("POST", "/v1/completions", {"prompt": prompt, "n": 11, "max_tokens": 4, "seed": 1})[1]
    assert [c["index"] for c in body["choices"]] == list(range(11)) and body["usage"]["completion_tokens"] <= 44
    # top_p = 0 keeps only the most likely token, whatever the temperature: greedy.
    body = server.call(
        "POST", "/v1/completions", {"prompt": prompt, "temperature": 1.7, "top_p": 0.0, "max_tokens": 32}
    )[1]
    assert body["choices"][0]["text"] == text
    body = server.call("POST", "/v1/completions", {"prompt": prompt, "temperature": 0, "max_tokens": 3})[1]
    assert body["choices"][0]["text"] == text[:3] and body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3
    stop = text[4:6]
    body = server.call(
        "POST", "/v1/completions", {"prompt": prompt, "temperature": 0, "max_tokens": 32, "stop": ["\u2603", stop]}
    )[1]
    assert body["choices"][0]["text"] == text[: text.find(stop)] and body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == text.find(stop)  # the tokens before the stop string


@pytest.mark.e2e
def test_concurrent_requests_are_batched(server, reference) -> None:
    before = server.metrics()
    results: dict[int, tuple[int, dict]] = {}
    barrier = threading.Barrier(6)

    def client(i: int) -> None:
        barrier.wait()
        body = {"prompt": PROMPTS[i % len(PROMPTS)], "temperature": 0, "max_tokens": 32}
        results[i] = server.call("POST", "/v1/completions", body)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == list(range(6))
    for i, (status, body) in results.items():
        assert status == 200 and body["choices"][0]["text"] == reference[PROMPTS[i % len(PROMPTS)]][3]
    after = server.metrics()
    assert after["requests"] - before["requests"] == 6
    assert after["decode_batches"] - before["decode_batches"] < 6
    assert after["compiled_shapes"] <= 2  # with and without top-logprob alternatives


BAD_REQUESTS = [
    ("/v1/completions", b"{not json", 400, None, "JSON"),
    ("/v1/completions", b"[1, 2]", 400, None, "object"),
    ("/v1/completions", {}, 400, "prompt", "prompt"),
    ("/v1/completions", {"prompt": "x", "n": "3"}, 400, "n", "'n'"),
    ("/v1/completions", {"prompt": "x", "n": 0}, 400, "n", "'n'"),
    ("/v1/completions", {"prompt": "x", "temperature": -1}, 400, "temperature", "temperature"),
    ("/v1/completions", {"prompt": "x", "max_tokens": 10_000}, 400, "max_tokens", "max_tokens"),
    ("/v1/completions", {"prompt": "x", "logprobs": True}, 400, "logprobs", "logprobs"),
    ("/v1/completions", {"prompt": "x", "stop": [1]}, 400, "stop", "stop"),
    ("/v1/completions", {"prompt": "x", "stream": True}, 400, "stream", "stream"),
    ("/v1/completions", {"prompt": [[3, 4], [99999]]}, 400, "prompt", "token ids"),
    ("/v1/completions", {"prompt": "x" * 100}, 400, "prompt", "at most 64"),
    ("/v1/completions", {"prompt": "x", "model": "gpt-4"}, 404, "model", "gpt-4"),
    ("/v1/chat/completions", {"messages": "hi"}, 400, "messages", "messages"),
    ("/v1/chat/completions", {"messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role", "role"),
    (
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2},
        400,
        "top_logprobs",
        "logprobs",
    ),
]


@pytest.mark.e2e
def test_bad_requests_get_openai_errors_and_the_server_keeps_serving(server) -> None:
    for path, body, status, param, words in BAD_REQUESTS:
        raw = body if isinstance(body, bytes) else None
        got_status, got = server.call("POST", path, None if raw else body, raw=raw)
        assert got_status == status, (body, got)
        assert got["error"]["param"] == param and words in got["error"]["message"], (body, got)
        assert got["error"]["type"] == "invalid_request_error"
    connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=30)
    connection.putrequest("POST", "/v1/completions")  # no Content-Length
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 411 and "Content-Length" in json.loads(response.read())["error"]["message"]
    connection.close()
    assert server.call("POST", "/v1/completions", {"prompt": "x", "max_tokens": 2})[0] == 200
    assert server.process.poll() is None


@pytest.mark.e2e
def test_official_openai_client_and_no_key_in_logs(server) -> None:
    import openai  # The dev extra installs the official client; a missing one fails the test.

    client = openai.OpenAI(base_url=server.url + "/v1", api_key=SECRET, max_retries=0)
    assert [m.id for m in client.models.list()] == ["micro_run"]
    completion = client.completions.create(model="micro_run", prompt="hello", temperature=0, max_tokens=5, logprobs=2)
    assert len(completion.choices[0].logprobs.tokens) <= 5 and completion.usage.prompt_tokens == 6
    chat = client.chat.completions.create(
        model="micro_run",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
        n=2,
        temperature=1.0,
        seed=5,
        max_tokens=6,
        logprobs=True,
        top_logprobs=2,
    )
    assert len(chat.choices) == 2 and chat.choices[1].message.role == "assistant"
    assert all(len(t.top_logprobs) == 2 for t in chat.choices[0].logprobs.content)
    with pytest.raises(openai.BadRequestError) as error:
        client.completions.create(model="micro_run", prompt="x", n=0)
    assert error.value.body["param"] == "n"
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-4", prompt="x")
    time.sleep(0.2)
    with open(server.log_path) as f:
        logged = f.read()
    assert "POST /v1/chat/completions" in logged and SECRET not in logged


def test_token_table_and_request_helpers() -> None:
    import seqio

    table = TokenTable(seqio.ByteVocabulary())
    ids = table.encode("aé")
    assert [table.token(i) for i in ids] == [("a", b"a"), ("bytes:\\xc3", b"\xc3"), ("bytes:\\xa9", b"\xa9")]
    assert table.token(1) == ("</s>", None) and table.offsets(ids) == [0, 1, 1]
    assert table.truncate_at_stop(table.encode("ab\ncd"), ["\n"]) == ("ab", 2, True)
    spiece = os.path.join(os.environ["COT_DATA_DIR"], "tokenizers", "t5", "spiece.model")
    if os.path.exists(spiece):
        table = TokenTable(seqio.SentencePieceVocabulary(spiece, extra_ids=100))
        ids = table.encode("Hello world")
        assert [table.token(i)[0] for i in ids] == [" Hello", " world"]
        assert table.offsets(ids) == [0, 5] and table.token(32099) == ("<extra_id_0>", None)
    assert batcher.Buckets.fit((8, 32), 9) == 32 and batcher.Buckets.fit((8, 32), 1) == 8
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    assert openai_requests.render_chat(messages) == "system: Be brief.\nuser: 2+2?"
    assert openai_requests.render_chat(messages[1:]) == "2+2?"
    assert loading.default_model_name("/runs/student/checkpoint_500/state") == "student"
