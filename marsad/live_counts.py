"""Live outcome counts of a local run, summed across worker processes.

Beam's metrics of a local run can be queried only when it has finished, and with
``--direct_running_mode=multi_processing`` the elements are processed in worker
processes the driver cannot look into. The progress display needs the counts
while the run goes on, so every counted outcome (``transforms.common.counter``)
is also appended, as one ``<stage>.<outcome>`` line, to a file of its own process
in the folder named by ``$MARSAD_LIVE_COUNTS``; the driver tails and sums them
(``LiveCountsReader``). Worker processes inherit the variable from the driver.

The variable is set only by a local driver showing progress: on Dataflow, or
when nobody watches, ``record`` costs one environment lookup and writes nothing.
A retried bundle counts twice here, which is fine for a display; the summary and
manifest use Beam's committed metrics.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import Counter

ENV = "MARSAD_LIVE_COUNTS"
SUFFIX = ".counts"

_lock = threading.Lock()
_sink: dict[str, object] = {"folder": None, "pid": None, "fd": None}


def _open(folder: str) -> int | None:
    """This process's file in ``folder`` (None when the folder is gone: the run ended)."""
    previous = _sink["fd"]
    if isinstance(previous, int) and _sink["pid"] == os.getpid():
        with contextlib.suppress(OSError):
            os.close(previous)
    path = os.path.join(folder, f"{os.getpid()}{SUFFIX}")
    try:
        fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:
        fd = None
    _sink.update(folder=folder, pid=os.getpid(), fd=fd)
    return fd


def record(name: str) -> None:
    """Count one ``<stage>.<outcome>`` for the live display, if one is watching."""
    folder = os.environ.get(ENV)
    if not folder:
        return
    line = (name + "\n").encode("utf-8")
    # Written under the lock so a switch to the next run's folder never closes a
    # descriptor another thread is writing to.
    with _lock:
        fd = _sink["fd"]
        if _sink["folder"] != folder or _sink["pid"] != os.getpid():
            fd = _open(folder)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.write(fd, line)  # type: ignore[arg-type]


class LiveCountsReader:
    """Sums the lines every process appended to its file in ``folder`` so far."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.counts: Counter[str] = Counter()
        self._offsets: dict[str, int] = {}
        self._partial: dict[str, bytes] = {}

    def poll(self) -> Counter[str]:
        try:
            names = [n for n in os.listdir(self.folder) if n.endswith(SUFFIX)]
        except OSError:
            return self.counts
        for name in names:
            path = os.path.join(self.folder, name)
            try:
                with open(path, "rb") as handle:
                    handle.seek(self._offsets.get(name, 0))
                    data = handle.read()
            except OSError:
                continue
            if not data:
                continue
            self._offsets[name] = self._offsets.get(name, 0) + len(data)
            data = self._partial.pop(name, b"") + data
            *lines, rest = data.split(b"\n")
            if rest:  # a line still being written
                self._partial[name] = rest
            self.counts.update(line.decode("utf-8", "replace") for line in lines if line)
        return self.counts

    @property
    def processes(self) -> int:
        """How many processes have counted something (the driver alone, or workers)."""
        return len(self._offsets)
