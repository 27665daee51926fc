"""The threaded HTTP server with a cap on open connections (each holds a handler thread).

At `max_connections`, a new connection takes the place of the open one that has waited longest
for its current request to arrive (a slow or idle client): that one is evicted (its handler's
read wakes at once; a half-sent body is answered 503 `code: "evicted"`, an idle connection is
just closed). Connections whose request is complete (being decoded or answered) are never
evicted, so a slow-connection flood can hold slots only until ordinary clients arrive, and
ordinary clients lose a slot only by being the slowest to send. When every slot holds a complete
request (or `MAX_EVICTING` evicted handlers are still finishing), the new connection is answered
503 `code: "overloaded"` on the accepting thread and closed.

Every close is a lingering one (`distill.serve.linger`), so the client reads the last response
(a 503, a 408) rather than a reset. The listen backlog is large enough that a burst of connects
waits in the kernel's accept queue, not in SYN retransmits of a second or more.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from distill.serve.linger import Lingerer
from distill.serve.openai_requests import RequestError

MAX_EVICTING = 32  # evicted connections whose threads have not ended yet; the thread bound is the cap plus this


@dataclasses.dataclass
class Connection:
    """One open connection: since when it waits for a complete request (None: one is being answered)."""

    sock: socket.socket
    waiting_since: float | None
    evicted: bool = False


class LimitedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections`: beyond, the slowest to send is evicted, or 503."""

    daemon_threads = True
    request_queue_size = 256  # the listen backlog
    REFUSAL = (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
        b"Retry-After: 1\r\nContent-Length: %d\r\n\r\n%s"
    )

    def __init__(self, address: tuple[str, int], handler: Any, max_connections: int) -> None:
        self.max_connections = max_connections
        self.connections: dict[socket.socket, Connection] = {}
        self.refused_connections = self.evicted_connections = 0
        self._lock = threading.Lock()
        self.lingerer = Lingerer()
        super().__init__(address, handler)

    @property
    def open_connections(self) -> int:
        return len(self.connections)

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        with self._lock:
            admitted = self._has_slot()
            if admitted:
                self.connections[request] = Connection(request, time.monotonic())
            else:
                self.refused_connections += 1
        if not admitted:
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._forget(request)
            raise

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def shutdown_request(self, request: socket.socket) -> None:
        self.lingerer.close(request)

    def server_close(self) -> None:
        super().server_close()
        self.lingerer.stop()

    def _has_slot(self) -> bool:
        """Whether a new connection may open, evicting the longest-waiting one at the cap (under the lock)."""
        evicting = sum(c.evicted for c in self.connections.values())
        if len(self.connections) - evicting < self.max_connections:
            return True
        if evicting >= MAX_EVICTING:
            return False
        waiting = [c for c in self.connections.values() if not c.evicted and c.waiting_since is not None]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c.waiting_since)
        oldest.evicted = True
        self.evicted_connections += 1
        with contextlib.suppress(OSError):
            oldest.sock.shutdown(socket.SHUT_RD)  # its handler's read returns at once
        return True

    def _forget(self, request: socket.socket) -> None:
        with self._lock:
            self.connections.pop(request, None)

    def _refuse(self, request: socket.socket) -> None:
        """A short 503 on the accepting thread (never blocks: a full send buffer just drops it), then linger."""
        error = RequestError("The server has too many open connections; retry later.", status=503, code="overloaded")
        body = json.dumps(error.body()).encode()
        try:
            request.setblocking(False)
            request.send(self.REFUSAL % (len(body), body))
        except OSError:
            pass
        self.lingerer.close(request)
