"""Closing a connection so that the client reads the last response instead of a reset.

A socket closed while the client's bytes sit unread in it, or that receives bytes after it is
closed, makes the kernel send a reset; the client then sees `ECONNRESET` or `EPIPE`, often
before it has read the response already sent (a refused connection's 503, a late body's 408).
A lingering close (Apache's term) avoids that: send the FIN after the response
(`shutdown(SHUT_WR)`), keep reading and dropping what the client still sends until it closes its
side, and close only then, or after `seconds` or `max_bytes` at the latest.

One thread (`Lingerer`) drains all such sockets with a selector, so a closing connection holds
no handler thread and no connection slot; at most `max_sockets` linger, beyond that they are
closed at once.
"""

from __future__ import annotations

import contextlib
import queue
import selectors
import socket
import threading
import time

LINGER_S = 2.0  # the longest a closed connection is drained
LINGER_BYTES = 1 << 20  # the most it is drained of
MAX_LINGERING = 1024  # sockets draining at once (file descriptors, no threads)
POLL_S = 0.1


class Lingerer:
    """Closes sockets gracefully on one thread: FIN now, then drain until the peer closes or a bound passes."""

    def __init__(
        self, seconds: float = LINGER_S, max_bytes: int = LINGER_BYTES, max_sockets: int = MAX_LINGERING
    ) -> None:
        self.seconds, self.max_bytes, self.max_sockets = seconds, max_bytes, max_sockets
        self._incoming: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()
        self._selector = selectors.DefaultSelector()
        self._draining: dict[socket.socket, list[float]] = {}  # socket -> [deadline, bytes left]
        self._count = 0  # queued or draining; read without the thread's help
        self._count_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="linger", daemon=True)
        self._thread.start()

    @property
    def lingering(self) -> int:
        return self._count

    def close(self, sock: socket.socket) -> None:
        """Sends the FIN after what was written, then hands `sock` to the draining thread (never blocks)."""
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
        except OSError:  # the peer has gone already
            sock.close()
            return
        with self._count_lock:
            full = self._stop.is_set() or self._count >= self.max_sockets
            if not full:
                self._count += 1
        if full:
            sock.close()
            return
        self._incoming.put(sock)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._admit()
                for key, _ in self._selector.select(POLL_S):
                    self._drain(key.fileobj)
                self._expire()
        finally:
            self._admit()
            for sock in list(self._draining):
                self._forget(sock)
            self._selector.close()

    def _admit(self) -> None:
        now = time.monotonic()
        while True:
            try:
                sock = self._incoming.get_nowait()
            except queue.Empty:
                return
            self._draining[sock] = [now + self.seconds, self.max_bytes]
            try:
                self._selector.register(sock, selectors.EVENT_READ)
            except (OSError, ValueError):
                self._forget(sock)

    def _drain(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        state = self._draining[sock]
        state[1] -= len(data)
        if not data or state[1] <= 0:
            self._forget(sock)

    def _expire(self) -> None:
        now = time.monotonic()
        for sock in [s for s, (deadline, _) in self._draining.items() if deadline <= now]:
            self._forget(sock)

    def _forget(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(sock)
        self._draining.pop(sock, None)
        sock.close()
        with self._count_lock:
            self._count -= 1
