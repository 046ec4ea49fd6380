"""``marsad run --watch``: repeat the incremental batch run on one machine.

SIGINT/SIGTERM during the pause stop at once; during a run they let that run
finish (its files are renamed into place only when complete) and then stop. A
second signal aborts the run; what it wrote so far sits only in its ``_tmp``
folder, which the next run clears.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h``, ``1d`` → seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise ValueError(f"interval {text!r}: use a number with s, m, h or d (e.g. 15m)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


class StopSignal:
    """Turns SIGINT/SIGTERM into a flag; the second one raises KeyboardInterrupt."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignal:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, _frame: object) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        print(
            f"\nmarsad: {signal.Signals(signum).name} received; finishing the current run, "
            "then stopping (send it again to abort)",
            flush=True,
        )


def watch(run_once: Callable[[], int], interval: float, stop: StopSignal) -> int:
    """Call ``run_once`` every ``interval`` seconds (start to start) until stopped."""
    status = 0
    while not stop.event.is_set():
        started = time.monotonic()
        status = run_once()
        remaining = interval - (time.monotonic() - started)
        if stop.event.wait(timeout=max(0.0, remaining)):
            break
    return status
