"""The server under hostile clients: malformed and slow requests, floods, hung-up clients and a dead worker.

Each test runs a real `Server` (micro byte-level model, random params) on loopback, in process,
with its own limits, and speaks raw HTTP over sockets where a well-behaved client library would
hide the fault. The one fault a peer cannot produce on demand, a slow or dying decoder, is
injected by wrapping the server's decode function (`gated`, `dying`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request

import flax.linen as nn
import gin
import jax
import numpy as np
import pytest
import seqio

from distill.serve import batcher, loading, openai_requests, openai_responses
from distill.serve.server import ServeConfig, Server
from distill.serve.tokens import TokenTable

MODEL_GIN = "gin/models/byt5/micro.gin"
BUCKETS = batcher.Buckets((4,), (64,), (16,))


@pytest.fixture(scope="module")
def model_params():
    gin.clear_config()
    model = loading.load_model([MODEL_GIN], ["ACTIVATION_DTYPE = 'float32'"])
    gin.clear_config()
    shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
    params = nn.unbox(model.get_initial_variables(jax.random.PRNGKey(0), shapes))["params"]
    return model, params


@contextlib.contextmanager
def serving(model_params, **limits):
    model, params = model_params
    server = Server(model, params, ServeConfig(port=0, model_name="micro", batch_wait_s=0.01, **limits), BUCKETS)
    server.start()
    try:
        yield server
    finally:
        server.shutdown()


@contextlib.contextmanager
def gated(server: Server):
    """Holds every decode until the `with` block ends (a decoder slower than any client)."""
    gate = threading.Event()
    decode = server.batcher.decode_fn

    def slow(*args):
        gate.wait()
        return decode(*args)

    server.batcher.decode_fn = slow
    try:
        yield gate
    finally:
        gate.set()


def call(server: Server, method: str, path: str, body=None, timeout: float = 60) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def connect(server: Server, timeout: float = 10) -> socket.socket:
    return socket.create_connection(server.http.server_address[:2], timeout=timeout)


def exchange(server: Server, raw: bytes, timeout: float = 10) -> bytes:
    """Sends `raw` and reads until the server closes the connection (or `timeout`)."""
    with connect(server, timeout) as sock:
        sock.sendall(raw)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def statuses(data: bytes) -> list[int]:
    return [int(line.split()[1]) for line in data.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


def wait_for(predicate, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def post(path: str, body: dict, extra: bytes = b"") -> bytes:
    data = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    return head.encode() + extra + b"\r\n" + data


SMUGGLED = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
LAST = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def test_an_unread_body_is_never_run_as_a_second_request(model_params) -> None:
    with serving(model_params) as server:
        for method, path, status in (
            ("POST", "/v1/nope", 404),
            ("PUT", "/v1/completions", 405),
            ("GET", "/health", 200),
        ):
            head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(SMUGGLED)}\r\n\r\n".encode()
            data = exchange(server, head + SMUGGLED + LAST)
            assert b"decode_batches" not in data, (method, path, data)
            assert statuses(data) in ([status, 200], [status]), (method, path, data)
        huge = b"POST /v1/nope HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" + SMUGGLED
        data = exchange(server, huge)
        assert statuses(data) == [404] and b"decode_batches" not in data


def test_malformed_requests_are_400_not_500(model_params) -> None:
    with serving(model_params) as server:
        nested = b"[" * 100_000 + b"]" * 100_000
        huge_number = b'{"prompt": "x", "max_tokens": ' + b"9" * 5000 + b"}"
        for body in (nested, huge_number):
            head = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
            data = exchange(server, head % len(body) + body)
            assert statuses(data) == [400], data[:300]
            assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["type"] == "invalid_request_error"
        for length in (b"\xb2", b"1, 2", b"-1", b"99999999999999999999"):  # '\xb2' is latin-1 for superscript two
            data = exchange(
                server, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}"
            )
            assert statuses(data) in ([400], [413]), (length, data[:300])
        assert call(server, "GET", "/health")[0] == 200


def test_prompt_token_ids_are_checked_against_the_vocabulary_not_the_padded_table(model_params) -> None:
    model, _ = model_params
    vocab_size = model.input_vocabulary.vocab_size
    assert vocab_size < model.module.config.vocab_size, "the test needs a padded embedding table"
    with serving(model_params) as server:
        status, body = call(server, "POST", "/v1/completions", {"prompt": [[5, vocab_size]], "max_tokens": 2})
        assert status == 400 and body["error"]["param"] == "prompt" and str(vocab_size) in body["error"]["message"]
        assert call(server, "POST", "/v1/completions", {"prompt": [[5, vocab_size - 1]], "max_tokens": 2})[0] == 200


def test_request_lines_are_escaped_in_the_log(model_params, caplog) -> None:
    caplog.set_level(logging.INFO, logger="distill.serve")
    with serving(model_params) as server:
        exchange(server, b"GET /\x1b[2J\x07\x00\\x41\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        exchange(server, b"\x1b[31mBOGUS\r\n\r\n")
        wait_for(lambda: sum("HTTP" in r.getMessage() or "BOGUS" in r.getMessage() for r in caplog.records) >= 2)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "BOGUS" in logged and "/\\x1b[2J\\x07\\x00\\\\x41\\xff" in logged
    assert all(c == "\n" or " " <= c <= "~" for c in logged), repr(logged)


class Fault(BaseException):
    """What kills a thread that catches `Exception` (as KeyboardInterrupt or SystemExit would)."""


def test_a_dead_worker_makes_health_503_and_requests_fail_fast(model_params) -> None:
    with serving(model_params, request_timeout_s=60) as server:

        def dying(*args):
            raise Fault("injected")

        server.batcher.decode_fn = dying
        assert call(server, "GET", "/health")[0] == 200
        assert call(server, "POST", "/v1/completions", {"prompt": "x"}, timeout=20)[0] == 503
        assert call(server, "GET", "/health")[0] == 503
        start = time.monotonic()
        status, body = call(server, "POST", "/v1/completions", {"prompt": "x"}, timeout=20)
        assert status == 503 and body["error"]["type"] == "server_error" and time.monotonic() - start < 5


def test_incomplete_requests_are_closed_after_request_timeout(model_params) -> None:
    with serving(model_params, request_timeout_s=1.5) as server:
        start = time.monotonic()
        silent, partial, trickle = connect(server), connect(server), connect(server)
        partial.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 16000000\r\n\r\n{")
        with contextlib.suppress(OSError):  # the server closes it mid-way
            for byte in b"GET /health HTTP/1.1\r\nHost: x\r\n":  # a byte every 0.2 s: never idle, never complete
                trickle.sendall(bytes([byte]))
                time.sleep(0.2)
                if time.monotonic() - start > 4:
                    break
        for sock in (silent, partial, trickle):
            read_all(sock)  # returns when the server closes (the socket's own timeout is 10 s)
            assert time.monotonic() - start < 6
            sock.close()
        wait_for(lambda: server.http.open_connections == 0)
        assert call(server, "GET", "/health")[0] == 200


def test_a_body_trickled_faster_than_any_read_timeout_is_still_cut_at_the_deadline(model_params) -> None:
    # One deadline for the whole request from the moment the connection is accepted: a byte every
    # 0.1 s never lets a per-read timeout fire, yet the connection is answered 408 and closed in time.
    timeout = 1.5
    with serving(model_params, request_timeout_s=timeout) as server:
        sock = connect(server)
        start = time.monotonic()
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        sock.settimeout(0.1)
        answer = b""
        with contextlib.suppress(OSError):
            while time.monotonic() - start < timeout + 3 and not answer:
                sock.sendall(b" ")
                with contextlib.suppress(TimeoutError):
                    answer = sock.recv(65536)
        closed_after = time.monotonic() - start
        sock.close()
        assert statuses(answer) == [408], answer
        assert closed_after < timeout + 0.5, f"answered {closed_after:.2f} s after connecting (deadline {timeout} s)"


def test_a_burst_of_connections_is_accepted_at_once_and_each_closed_at_its_deadline(model_params) -> None:
    # socketserver's listen backlog of 5 made a burst of connects wait out 1 s SYN retransmits (200
    # took 34 s), so a flood's connections were still arriving, and being closed, long after
    # request_timeout_s; each connection's deadline runs from its accept.
    timeout = 1.5
    with serving(model_params, request_timeout_s=timeout) as server:
        opened = {}
        for _ in range(100):
            sock = connect(server)
            opened[sock] = time.monotonic()
        assert max(opened.values()) - min(opened.values()) < 1.0, "the burst waited on the listen backlog"
        for sock, at in opened.items():
            assert read_all(sock) == b""  # an idle connection is closed without a response
            assert time.monotonic() - at < timeout + 1.0
            sock.close()
        wait_for(lambda: server.http.open_connections == 0)


def ordinary_request(server: Server) -> tuple[int, dict, str | None]:
    """A plain client's POST on a fresh connection (http.client): status, body and its Connection header.

    Its request is written a moment after connecting, as a loaded client's would be: after a
    refusing server may already have answered and closed.
    """
    conn = http.client.HTTPConnection(*server.http.server_address[:2], timeout=10)
    try:
        conn.connect()
        time.sleep(0.05)
        conn.request("POST", "/v1/completions", json.dumps({"prompt": "x", "max_tokens": 1}).encode())
        response = conn.getresponse()
        return response.status, json.loads(response.read()), response.getheader("Connection")
    finally:
        conn.close()


def test_beyond_max_connections_a_client_gets_a_clean_503_never_a_reset(model_params) -> None:
    # The cap is held by connections whose requests are complete and decoding (nothing to evict):
    # every new connection must read a whole 503 with the OpenAI error body, not a reset.
    with serving(model_params, max_connections=3, request_timeout_s=20) as server:
        with gated(server):
            holders = [
                threading.Thread(target=call, args=(server, "POST", "/v1/completions", {"prompt": "x"}))
                for _ in range(3)
            ]
            for holder in holders:
                holder.start()
            wait_for(lambda: server.metrics()["requests"] == 3)
            for attempt in range(20):
                status, body, connection = ordinary_request(server)  # a reset or a broken pipe fails the test
                assert status == 503 and body["error"]["code"] == "overloaded", (attempt, status, body)
                assert connection == "close"
            assert server.metrics()["refused_connections"] == 20
        for holder in holders:
            holder.join(timeout=30)
        wait_for(lambda: server.http.open_connections == 0)
        assert ordinary_request(server)[0] == 200


def test_at_max_connections_the_longest_incomplete_request_is_evicted_for_a_new_one(model_params) -> None:
    # A slow-connection flood must not lock ordinary clients out for request_timeout_s: at the cap, a
    # new connection takes the place of the one that has waited longest for its request to arrive.
    with serving(model_params, max_connections=3, request_timeout_s=20) as server:
        slow = []
        for count in range(1, 4):
            sock = connect(server)
            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 16000000\r\n\r\n{")
            slow.append(sock)
            wait_for(lambda count=count: server.http.open_connections == count)
            time.sleep(0.05)  # a distinct arrival order
        start = time.monotonic()
        status, body, _ = ordinary_request(server)
        assert status == 200 and len(body["choices"]) == 1
        oldest = read_all(slow[0])
        assert statuses(oldest) == [503] and b'"evicted"' in oldest, oldest
        assert time.monotonic() - start < 3, "the evicted connection is answered at once, not at its deadline"
        for sock in slow[1:]:
            sock.settimeout(0.2)
            with pytest.raises(TimeoutError):
                sock.recv(1)  # the younger slow connections are still held
        assert server.metrics()["evicted_connections"] == 1 and server.metrics()["refused_connections"] == 0
        for sock in slow:
            sock.close()
        wait_for(lambda: server.http.open_connections == 0)


def test_a_request_past_max_queued_rows_gets_429_and_waits_are_bounded(model_params) -> None:
    with serving(model_params, max_queued_rows=8, max_request_choices=8, request_timeout_s=2) as server:
        with gated(server):
            sampled = {"prompt": "x", "n": 4, "temperature": 1.0, "max_tokens": 4}
            results = []
            clients = [
                threading.Thread(target=lambda: results.append(call(server, "POST", "/v1/completions", sampled)))
                for _ in range(3)
            ]
            clients[0].start()
            wait_for(lambda: server.metrics()["requests"] == 1 and server.metrics()["queued_rows"] == 0)  # decoding
            for client in clients[1:]:
                client.start()
            wait_for(lambda: server.metrics()["queued_rows"] == 8)
            status, body = call(server, "POST", "/v1/completions", sampled, timeout=10)
            assert (
                status == 429
                and body["error"]["code"] == "queue_full"
                and "max_queued_rows" in body["error"]["message"]
            )
            start = time.monotonic()
            for client in clients:
                client.join(timeout=10)
            assert time.monotonic() - start < 4, "waits are bounded by request_timeout_s"
        assert sorted(s for s, _ in results) == [503, 503, 503]
        assert all(b["error"]["code"] == "timeout" for _, b in results)
        assert server.metrics()["queued_rows"] == 0
        assert call(server, "POST", "/v1/completions", {**sampled, "n": 9}, timeout=10)[1]["error"]["param"] == "n"


def test_rows_of_clients_that_hung_up_are_never_decoded(model_params) -> None:
    with serving(model_params, request_timeout_s=30) as server:
        with gated(server):
            holder = threading.Thread(target=call, args=(server, "POST", "/v1/completions", {"prompt": "x"}))
            holder.start()
            wait_for(lambda: server.metrics()["requests"] == 1 and server.metrics()["queued_rows"] == 0)
            before = server.metrics()
            gone = connect(server)
            gone.sendall(post("/v1/completions", {"prompt": ["a", "b"], "n": 6, "temperature": 1.0, "max_tokens": 8}))
            wait_for(lambda: server.metrics()["queued_rows"] == 12)
            gone.close()
            wait_for(lambda: server.metrics()["cancelled_rows"] == 12)
            assert server.metrics()["queued_rows"] == 0
        holder.join(timeout=30)
        after = server.metrics()
        assert after["decoded_rows"] - before["decoded_rows"] == 1, "only the holder's row was decoded"


def test_request_caps_name_the_field(model_params) -> None:
    with serving(model_params, max_request_choices=16, max_queued_rows=16, max_response_mb=0.05) as server:
        status, body = call(server, "POST", "/v1/completions", {"prompt": ["a", "b", "c"], "n": 6, "temperature": 0})
        assert status == 400 and body["error"]["param"] == "n" and "16 choices" in body["error"]["message"]
        big = {"prompt": ["a", "b"], "n": 8, "temperature": 0, "max_tokens": 8, "logprobs": 20}
        status, body = call(server, "POST", "/v1/completions", big)
        assert status == 400 and body["error"]["param"] == "max_tokens" and "MiB" in body["error"]["message"]
        chat = {"messages": [{"role": "user", "content": "x"}], "n": 16, "logprobs": True, "top_logprobs": 20}
        status, body = call(server, "POST", "/v1/chat/completions", chat)
        assert status == 400 and body["error"]["param"] == "max_completion_tokens"
        status, body = call(server, "POST", "/v1/completions", {**big, "logprobs": 2})
        assert status == 200 and len(body["choices"]) == 16
        assert len(json.dumps(body)) <= 16 * (200 + 8 * (8 + 48 + 3 * 40)), "within Request.size_bound"


def test_greedy_choices_are_decoded_once_and_their_logprobs_built_once(model_params) -> None:
    with serving(model_params) as server:
        before = server.metrics()["rows"]
        status, body = call(
            server, "POST", "/v1/completions", {"prompt": ["a", "b"], "n": 8, "temperature": 0, "logprobs": 3}
        )
        assert status == 200 and len(body["choices"]) == 16 and server.metrics()["rows"] - before == 2
        assert body["choices"][0]["logprobs"] == body["choices"][7]["logprobs"]
    table = TokenTable(seqio.ByteVocabulary())
    limits = openai_requests.Limits(64, 16, 20, 259)
    request = openai_requests.parse_completion(
        {"prompt": "x", "n": 50, "temperature": 0, "max_tokens": 8, "logprobs": 5}, "m", limits, table
    )
    generation = batcher.Generation(
        ids=[40, 41, 42], log_probs=[-0.1, -0.2, -0.3], top_ids=np.full((3, 20), 40), top_log_probs=np.zeros((3, 20)),
        ended=True,
    )  # fmt: skip
    choices = openai_responses.response(request, [generation], table)["choices"]
    assert len(choices) == 50 and all(c["logprobs"] is choices[0]["logprobs"] for c in choices), "built once"
    assert [c["index"] for c in choices] == list(range(50))
