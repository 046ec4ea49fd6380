"""A wall-clock deadline per HTTP attempt, headers included.

Socket timeouts bound the wait *between* bytes, so a server that drips one byte
per second never trips them. A ``Watchdog`` thread keeps the deadline of every
attempt in flight; the HTTP connection attaches its socket to the current
thread's attempt before it waits for the response (``netguard``), and when the
deadline passes the watchdog shuts the socket down, which wakes the blocked
read at once. The fetch then reports ``timeout`` (``attempt.expired``), whatever
partial bytes it saw.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator


class Attempt:
    """One HTTP attempt: its deadline and the sockets it reads from."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.finished = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def expire(self) -> None:
        with self._lock:
            if self.finished:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def finish(self) -> None:
        with self._lock:
            self.finished = True
            self._sockets.clear()


def _shut(sock: socket.socket) -> None:
    # The base-class call: SSLSocket.shutdown would also drop its SSL object under a
    # reader in another thread. Shutting the TCP socket makes that reader see EOF.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watchdog:
    """One daemon thread expiring attempts at their deadlines."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Attempt]] = []
        self._counter = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._local = threading.local()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="marsad-deadline-watchdog", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                deadline, _, attempt = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._heap)
            if not attempt.finished:
                attempt.expire()

    @contextlib.contextmanager
    def attempt(self, seconds: float) -> Iterator[Attempt]:
        """Run one attempt under a deadline ``seconds`` from now (for this thread)."""
        current = Attempt(time.monotonic() + seconds)
        with self._wake:
            self._ensure_thread()
            heapq.heappush(self._heap, (current.deadline, next(self._counter), current))
            self._wake.notify()
        previous = getattr(self._local, "attempt", None)
        self._local.attempt = current
        try:
            yield current
        finally:
            current.finish()
            self._local.attempt = previous
            with self._wake:
                # Drop finished attempts from the top so the heap stays small.
                while self._heap and self._heap[0][2].finished:
                    heapq.heappop(self._heap)

    def current(self) -> Attempt | None:
        return getattr(self._local, "attempt", None)


WATCHDOG = Watchdog()
