"""Worker processes for the CPU-heavy work on each article, shared by a local run.

Python runs one thread of Python code at a time, so a local run in one process uses
one core whatever the machine has. Extraction, cleaning and tagging are pure functions
of one article each and make up nearly all of a run's CPU time; the stages that do them
(``transforms/pooled.py``) hand each article to a pool of processes created once per
pipeline process, so the work is spread over every core while fetching, politeness and
the Beam graph stay in one process (a host's URLs stay in one lane). Results do not
depend on the number of workers: the same functions run on the same inputs.

``docs/performance.md`` compares this with Beam's own multi-process local mode.

On Linux the workers are forked from the pipeline process: they start in milliseconds
with every module (and the language model, if loaded) already in memory, shared
copy-on-write. Elsewhere they are spawned and import what they need.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

__all__ = [
    "BrokenProcessPool",
    "available_cores",
    "limit_heap_arenas",
    "prestart",
    "replace_pool",
    "shared_pool",
    "trimming_heap",
]

_pools: dict[int, ProcessPoolExecutor] = {}
_lock = threading.Lock()


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _context():
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


def _init_worker() -> None:
    """Leave Ctrl-C to the pipeline process, and give logging a stream of its own: a
    forked child must not inherit a lock another thread held on ``sys.stderr``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _start_trimmer(threading.Event())  # lives with the process
    stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115 (lives with the process)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (
            sys.__stderr__,
            sys.stderr,
        ):
            handler.setStream(stderr)
    sys.stderr = stderr


def shared_pool(workers: int) -> Executor | None:
    """The process pool of ``workers`` processes (None for 1 or fewer: work in-process)."""
    if workers <= 1:
        return None
    with _lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ProcessPoolExecutor(
                workers, mp_context=_context(), initializer=_init_worker
            )
        return pool


def prestart(workers: int, warm: Iterable[Callable[[], object]] = ()) -> None:
    """Start the pool now, after running ``warm`` (loading models), so that the workers
    fork from a process with one thread and share what was loaded. A ``warm`` that fails
    is skipped: the stage that needs it reports the problem."""
    if workers <= 1:
        return
    for function in warm:
        with contextlib.suppress(Exception):
            function()
    # Objects alive now stay out of the collector's sight in the forked workers: a
    # collection writes to every object it scans, copying the pages they share.
    gc.collect()
    gc.freeze()
    try:
        pool = shared_pool(workers)
        if pool is not None:
            pool.submit(int).result()  # a fork-context pool starts every worker on first use
    finally:
        gc.unfreeze()


# glibc's M_ARENA_MAX (mallopt parameter -8).
_M_ARENA_MAX = -8


def _glibc(name: str) -> Callable[..., int] | None:
    """The C library function ``name`` of glibc's allocator, None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):  # musl and others have neither mallopt nor malloc_trim
        return None


def limit_heap_arenas(arenas: int = 2) -> bool:
    """Cap glibc's heap arenas of this process (and of workers forked from it).

    glibc gives threads that allocate at once arenas of their own, up to eight per core,
    and an arena's freed memory is rarely returned: with 32 fetch threads handling
    250 KB pages the pipeline process grew by about 0.2 MB per page. Two arenas kept
    it 55 MB smaller at 500 pages with the same CPU (docs/performance.md); the threads
    mostly wait for the network or the GIL, so they hardly contend for the lock. Call it
    before the threads start. False where there is no glibc (the cap is then moot)."""
    mallopt = _glibc("mallopt")
    return mallopt is not None and bool(mallopt(_M_ARENA_MAX, arenas))


# How often the heap's free pages go back to the system (seconds); a trim walks the free
# lists, about 3 ms for the pipeline process's heap at 2,000 pages.
TRIM_INTERVAL_S = 1.0


def _start_trimmer(stop: threading.Event, interval: float = TRIM_INTERVAL_S) -> bool:
    """A daemon thread that calls glibc's ``malloc_trim`` every ``interval`` seconds
    until ``stop`` is set; False where there is none.

    Pages, article texts and pickled elements are large, short-lived allocations from
    malloc's heap; freed, they leave holes that glibc keeps (it returns only the top of
    the heap), so a process's resident memory grows with the batch although what it
    holds does not (docs/performance.md, fourth round). ``malloc_trim`` hands the free
    pages inside the heap back as well. Dask's workers do the same for the same reason."""
    trim = _glibc("malloc_trim")
    if trim is None:
        return False

    def loop() -> None:
        while not stop.wait(interval):
            trim(0)

    threading.Thread(target=loop, name="marsad-heap-trim", daemon=True).start()
    return True


@contextlib.contextmanager
def trimming_heap(interval: float = TRIM_INTERVAL_S):
    """While the block runs, this process's free heap pages go back to the system every
    ``interval`` seconds (a no-op without glibc)."""
    stop = threading.Event()
    _start_trimmer(stop, interval)
    try:
        yield
    finally:
        stop.set()


def replace_pool(workers: int, broken: Executor) -> Executor | None:
    """A fresh pool in place of ``broken`` (a worker died, e.g. killed for its memory)."""
    with _lock:
        if _pools.get(workers) is broken:
            del _pools[workers]
            with contextlib.suppress(Exception):
                broken.shutdown(wait=False, cancel_futures=True)
    return shared_pool(workers)


@atexit.register
def _shutdown_all() -> None:
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        with contextlib.suppress(Exception):
            pool.shutdown(wait=True, cancel_futures=True)
