"""The HTTP handler: routes, body reading, deadlines and error bodies; it logs the escaped request line and status.

A connection must send each complete request (request line, headers and body) within
`request_timeout_s` of starting to wait for it (the first: of being accepted); reads run
against that one deadline, so a client that trickles a byte at a time is closed as surely as a
silent one. While it waits, the connection may be evicted for a new one at the connection cap
(`distill.serve.http_server`): its read wakes and raises `EvictedError`. A body the route does
not read is drained (small) or the connection closed (large), so its bytes are never parsed as
a second request on a kept-alive connection.
"""

from __future__ import annotations

import io
import json
import logging
import re
import select
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from distill.serve.openai_requests import RequestError, parse_body

if TYPE_CHECKING:
    from distill.serve.server import Server

log = logging.getLogger("distill.serve")

MAX_BODY_BYTES = 16 * 2**20
MAX_DRAIN_BYTES = 64 * 2**10  # an unread body up to this size is read and dropped; a larger one closes the connection
_DIGITS = re.compile(r"[0-9]{1,12}")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]|\\")


def escape(text: str) -> str:
    """`text` with backslashes and every character outside printable ASCII escaped, so a log line stays one line."""

    def one(match: re.Match) -> str:
        char = match.group()
        return "\\\\" if char == "\\" else char.encode("unicode_escape").decode("ascii")

    return _UNPRINTABLE.sub(one, text)


class EvictedError(ConnectionAbortedError):
    """The server evicted this connection, waiting for its request, to admit a new one at the cap."""


class _DeadlineReader(io.RawIOBase):
    """The socket's reads, each bounded by what is left of the handler's current deadline; eviction ends them."""

    def __init__(self, connection: socket.socket, handler: Any) -> None:
        self.connection, self.handler = connection, handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.handler.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request was not complete within request_timeout_s")
        state = self.handler.state
        if state.evicted:
            raise EvictedError("evicted at the connection cap")
        self.connection.settimeout(remaining)
        received = self.connection.recv_into(buffer)
        if state.evicted:
            raise EvictedError("evicted at the connection cap")
        return received


def make_handler(server: Server) -> type[BaseHTTPRequestHandler]:
    """A handler class bound to `server` (`ThreadingHTTPServer` instantiates it per connection)."""
    timeout_s = server.config.request_timeout_s

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "distill-serve"
        timeout = timeout_s  # also bounds each write of a response
        deadline = 0.0
        answered = False  # whether a request has been handled on this connection

        def setup(self) -> None:
            super().setup()
            self.state = self.server.connections[self.request]
            self.rfile.close()  # the plain socket file: reads go through the deadline instead
            self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self))

        def handle_one_request(self) -> None:
            if self.answered:  # the first request's wait began when the connection was accepted
                self.state.waiting_since = time.monotonic()
            self.answered = True
            self.deadline = self.state.waiting_since + timeout_s  # for the request line, the headers and the body
            try:
                super().handle_one_request()
            except ConnectionError:
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            # The request line and status only: headers (Authorization) and bodies are never logged.
            log.info("%s %s", self.address_string(), escape(format % args))

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.close_connection = self.close_connection or self.state.evicted
            self.connection.settimeout(timeout_s)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def _route(self) -> str:
            return self.path.split("?", 1)[0].rstrip("/") or "/"

        def _length(self) -> int | None:
            """The declared body size (None: no body declared); a malformed declaration closes the connection."""
            if self.headers.get("Transfer-Encoding") is not None:
                self.close_connection = True
                raise RequestError("Transfer-Encoding is not supported; send a Content-Length.", status=411)
            values = {v.strip() for v in self.headers.get_all("Content-Length") or []}
            if not values:
                return None
            value = values.pop()
            if values or not _DIGITS.fullmatch(value):
                self.close_connection = True
                raise RequestError("The Content-Length header must be one decimal number of bytes.")
            return int(value)

        def _read(self, size: int) -> bytes:
            try:
                data = self.rfile.read(size)
            except EvictedError:
                self.close_connection = True
                raise RequestError(
                    "The server is at its connection cap and this request was the slowest to arrive; retry.",
                    status=503,
                    code="evicted",
                ) from None
            except TimeoutError:
                self.close_connection = True
                raise RequestError("The body did not arrive within the request timeout.", status=408) from None
            except OSError:
                self.close_connection = True
                raise ClientGoneError() from None
            if len(data) < size:
                self.close_connection = True
                raise RequestError("The connection closed before the whole body was received.")
            return data

        def _body(self) -> dict:
            size = self._length()
            if size is None:
                self.close_connection = True
                raise RequestError("A Content-Length header with the JSON body's size is required.", status=411)
            if size > MAX_BODY_BYTES:
                self.close_connection = True
                raise RequestError(f"The request body is larger than {MAX_BODY_BYTES} bytes.", status=413)
            return parse_body(self._read(size))

        def _discard_body(self) -> None:
            """Drains a body the route did not read, or closes the connection when it is large or malformed."""
            try:
                size = self._length()
                if size and size <= MAX_DRAIN_BYTES:
                    self._read(size)
                elif size:
                    self.close_connection = True
            except (RequestError, ClientGoneError):
                pass  # the connection is closed after this response

        def client_gone(self) -> bool:
            """Whether the client has closed its side (end of stream; pipelined bytes or nothing yet: still there)."""
            if self.state.evicted:
                return False  # its reading side was shut by the eviction: an end of stream says nothing
            try:
                poller = select.poll()  # not select.select: descriptors past 1024 are fine
                poller.register(self.connection, select.POLLIN)
                if not poller.poll(0):
                    return False
                return self.connection.recv(1, socket.MSG_PEEK) == b""  # readable: returns at once
            except (BlockingIOError, TimeoutError):
                return False
            except (OSError, ValueError):
                return True

        def _dispatch(self, method: str, route: str) -> tuple[int, dict[str, Any]]:
            if method == "POST" and route in ("/v1/completions", "/v1/chat/completions"):
                body = self._body()
                self.state.waiting_since = None  # complete: never evicted while it is answered
                return 200, server.generate(body, route == "/v1/chat/completions", self.client_gone)
            self._discard_body()
            self.state.waiting_since = None
            if method == "GET" and route == "/v1/models":
                return 200, server.models()
            if method == "GET" and route.startswith("/v1/models/"):
                name = route[len("/v1/models/") :]
                if name != server.config.model_name:
                    raise RequestError(f"The model '{name}' does not exist.", "model", 404, "model_not_found")
                return 200, server.model_card()
            if method == "GET" and route == "/health":
                return server.health()
            if method == "GET" and route == "/metrics":
                return 200, server.metrics()
            if route in ("/v1/models", "/v1/completions", "/v1/chat/completions", "/health", "/metrics"):
                raise RequestError(f"Method {method} is not allowed for {route}.", status=405)
            raise RequestError(f"Unknown route: {method} {route}.", status=404, code="not_found")

        def _handle(self, method: str) -> None:
            route = self._route()
            try:
                try:
                    status, body = self._dispatch(method, route)
                except ClientGoneError:
                    self.close_connection = True
                    return
                except RequestError as error:
                    status, body = error.status, error.body()
                except Exception:  # A server error must not kill the handler.
                    log.exception("error serving %s %s", method, escape(route))
                    self.close_connection = True
                    status, body = 500, RequestError("The server failed to process the request.", status=500).body()
                self._send(status, body)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                self.close_connection = True

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


class ClientGoneError(Exception):
    """The client closed its connection while its request waited; no response is sent."""
