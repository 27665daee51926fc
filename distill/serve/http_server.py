"""The threaded HTTP server with a cap on open connections (each holds a handler thread).

A connection beyond `max_connections` is answered 503 on the accepting thread, without blocking
(a short write into an empty socket buffer), and closed, so a flood of idle or slow connections
cannot grow the server's threads past the cap; the connections it holds are closed by the
handler's request deadline (`distill.serve.handler`).
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from distill.serve.openai_requests import RequestError


class LimitedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` of them: a connection beyond gets 503 and is closed."""

    daemon_threads = True
    REFUSAL = (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
        b"Retry-After: 1\r\nContent-Length: %d\r\n\r\n%s"
    )

    def __init__(self, address: tuple[str, int], handler: Any, max_connections: int) -> None:
        self.slots = threading.BoundedSemaphore(max_connections)
        self.open_connections = self.refused_connections = 0
        self._count_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self._refuse(request)
            return
        with self._count_lock:
            self.open_connections += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._count_lock:
            self.open_connections -= 1
        self.slots.release()

    def _refuse(self, request: socket.socket) -> None:
        """A short 503 on the accepting thread (never blocks: a full send buffer just drops it), then close."""
        with self._count_lock:
            self.refused_connections += 1
        error = RequestError("The server has too many open connections; retry later.", status=503, code="overloaded")
        body = json.dumps(error.body()).encode()
        try:
            request.setblocking(False)
            request.send(self.REFUSAL % (len(body), body))
        except OSError:
            pass
        self.shutdown_request(request)
