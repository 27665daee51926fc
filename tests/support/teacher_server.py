"""A scripted OpenAI-compatible server on loopback, for what a real server does not do on demand.

It answers `/v1/completions` and `/v1/chat/completions` with bodies built from the official
`openai` package's types (`Completion`, `ChatCompletion`, `.model_dump()`), so the client is
tested against the shapes OpenAI's own SDK defines. Questions look like "What is A + B?"; the
answer of choice j is right unless `wrong("A+B", seed + j)` says otherwise (seed 0 when the
request has none, so choice j is then sample j), and the text runs on past the paper's
cut into a new "Question:", as an unstopped completions model does. Token boundaries put the
answer line's newline inside a ".\\n\\n" token and split an "é" into two byte tokens.

Faults are scripted per request, in order: `429` (with Retry-After), `500` and `401` (their bodies
echo the Authorization header, like a careless proxy), `hang` (no answer before the client's timeout),
`malformed` (not JSON), `truncated` (the body is cut short of its Content-Length), `shape`
(JSON without choices), `ignore_n` (answers one choice whatever `n`) and `refuse_n` (400 on n > 1).
Two faults place the echoed header at a chosen offset: `echo:<status>:<pad>` answers a plain-text
body of `pad` characters then the header, `echo_logprob:<pad>` a 200 whose first token's log-prob
is such a string (not a number, so the client quotes it in its error).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from openai.types import Completion, CompletionChoice, CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice as ChatChoice
from openai.types.chat.chat_completion import ChoiceLogprobs
from openai.types.chat.chat_completion_token_logprob import ChatCompletionTokenLogprob, TopLogprob
from openai.types.completion_choice import Logprobs


def token_string(data: bytes) -> str:
    """How the OpenAI API names a token: written here, not taken from the project's codec, so the test
    server checks the client's decoding independently."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in data)


_QUESTION = re.compile(r"What is (\d+) \+ (\d+)\?(?![\s\S]*What is)")
_TOKEN = re.compile(r"\.\n\n|\n| ?[A-Za-z]+| ?\d+| ?[^\sA-Za-z\d]")


def answer_text(a: int, b: int, answer: int) -> str:
    return f"\nWe add {a} and {b} (café).\n{a} + {b} = {answer}.\nThe answer is {answer}.\n\nQuestion: What is 1 + 1?\n"


def split_tokens(text: str) -> list[bytes]:
    """GPT-like tokens; the "é" of café becomes two single-byte tokens."""
    tokens = []
    for piece in _TOKEN.findall(text):
        data = piece.encode("utf-8")
        tokens.extend([data] if piece.isascii() else [bytes([b]) for b in data])
    return tokens


def distribution(position: int, token: bytes) -> list[tuple[bytes, float]]:
    """The made-up next-token distribution at a position, most likely first: the sampled token and
    five alternatives; at position 3 the sampled token is unlikely (outside any top-5)."""
    sampled = -9.0 if position == 3 else -0.05 * (position % 7)
    alternatives = [(f" alt{position}_{i}".encode(), -1.0 - i - position / 100) for i in range(5)]
    return sorted([(token, sampled), *alternatives], key=lambda pair: -pair[1])


LASTING = ("ignore_n", "refuse_n")  # faults that apply to every later request


class ScriptedServer:
    def __init__(self, wrong: Callable[[str, int], bool] = lambda q, i: False, delay_s: float = 0.0) -> None:
        self.wrong, self.delay_s = wrong, delay_s
        self.faults: list[str] = []
        self.requests: list[dict] = []  # {"time", "path", "authorization", "body"}
        self.lock = threading.Lock()
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/v1"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()

    def body(self, request: dict, chat: bool, n: int) -> dict:
        query = request["messages"][-1]["content"] if chat else request["prompt"]
        a, b = (int(x) for x in _QUESTION.search(query).groups())
        start = request.get("seed") or 0  # with --seed, samples are keyed by (seed, choice)
        k = request.get("top_logprobs", 0) if chat else request.get("logprobs") or 0
        want_logprobs = request.get("logprobs") not in (None, False)
        choices = []
        for j in range(n):
            answer = a + b + (1 if self.wrong(f"{a}+{b}", start + j) else 0)
            text = answer_text(a, b, answer)
            tokens = split_tokens(text)
            dists = [distribution(i, t) for i, t in enumerate(tokens)]
            logprobs = [dict(d)[t] for t, d in zip(tokens, dists, strict=True)]
            if chat:
                content = [
                    ChatCompletionTokenLogprob(
                        token=token_string(t),
                        bytes=list(t),
                        logprob=lp,
                        top_logprobs=[TopLogprob(token=token_string(x), bytes=list(x), logprob=y) for x, y in d[:k]],
                    )
                    for t, lp, d in zip(tokens, logprobs, dists, strict=True)
                ]
                choices.append(
                    ChatChoice(
                        index=j,
                        finish_reason="length",
                        message=ChatCompletionMessage(role="assistant", content=text),
                        logprobs=ChoiceLogprobs(content=content) if want_logprobs else None,
                    )
                )
            else:
                # The k most likely, plus the sampled token when it is not among them (as OpenAI does).
                tops = [
                    {token_string(x): y for x, y in [*d[:k], (t, lp)]}
                    for t, lp, d in zip(tokens, logprobs, dists, strict=True)
                ]
                offsets = [len(b"".join(tokens[:i]).decode("utf-8", "ignore")) for i in range(len(tokens))]
                lp = Logprobs(
                    tokens=[token_string(t) for t in tokens],
                    token_logprobs=logprobs,
                    top_logprobs=tops,
                    text_offset=offsets,
                )
                choices.append(
                    CompletionChoice(index=j, finish_reason="length", text=text, logprobs=lp if want_logprobs else None)
                )
        usage = CompletionUsage(prompt_tokens=100, completion_tokens=40 * n, total_tokens=100 + 40 * n)
        if chat:
            return ChatCompletion(
                id="chatcmpl-1",
                object="chat.completion",
                created=0,
                model=request["model"],
                choices=choices,
                usage=usage,
            ).model_dump(mode="json")
        return Completion(
            id="cmpl-1", object="text_completion", created=0, model=request["model"], choices=choices, usage=usage
        ).model_dump(mode="json")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args) -> None:
                pass

            def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None, length: int | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data) if length is None else length))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    fault = server.faults[0] if server.faults else None
                    if fault not in LASTING:
                        fault = server.faults.pop(0) if server.faults else None
                    server.requests.append(
                        {
                            "time": time.monotonic(),
                            "path": self.path,
                            "fault": fault,
                            "body": request,
                            "authorization": self.headers.get("Authorization"),
                        }
                    )
                if server.delay_s:
                    time.sleep(server.delay_s)
                chat = self.path.endswith("/chat/completions")
                n = request.get("n", 1)
                name, *params = (fault or "").split(":")
                echo = "x" * int(params[-1]) + str(self.headers.get("Authorization")) if params else ""
                if name == "echo":
                    self._send(int(params[0]), echo.encode())
                elif name == "echo_logprob":
                    body = server.body(request, chat, n)
                    body["choices"][0]["logprobs"]["token_logprobs"][0] = echo
                    self._send(200, json.dumps(body).encode())
                elif fault == "429":
                    self._send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "1"})
                elif fault == "500":
                    echo = f"upstream failed for {self.headers.get('Authorization')}"
                    self._send(500, json.dumps({"error": {"message": echo}}).encode())
                elif fault == "401":
                    echo = f"Incorrect API key provided: {self.headers.get('Authorization')}"
                    self._send(401, json.dumps({"error": {"message": echo}}).encode())
                elif fault == "hang":
                    time.sleep(2.0)
                    self.close_connection = True
                elif fault == "malformed":
                    self._send(200, b'{"choices": [{"text": "unterminated')
                elif fault == "truncated":
                    data = json.dumps(server.body(request, chat, n)).encode()
                    self._send(200, data[: len(data) // 2], length=len(data))
                    self.close_connection = True
                elif fault == "shape":
                    self._send(200, b'{"object": "text_completion", "choices": []}')
                elif fault == "refuse_n" and n > 1:
                    error = {"message": "n > 1 is not supported", "param": "n", "type": "invalid_request_error"}
                    self._send(400, json.dumps({"error": error}).encode())
                else:
                    n = 1 if fault == "ignore_n" else n
                    self._send(200, json.dumps(server.body(request, chat, n)).encode())

        return Handler
