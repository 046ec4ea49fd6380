"""An output-folder run lock: one batch run writes to one output at a time.

Two runs on the same output would both read the stored ids, fetch the same new
articles, write them twice and race on ``state/feeds.json``. Schedulers prevent
most overlaps (cron's ``flock``, a Kubernetes CronJob's ``concurrencyPolicy:
Forbid``, a systemd timer's single service, Dataflow's unique active job name);
this lock also catches the rest (a manual run during a scheduled one, two
machines sharing a ``gs://`` output).

The lock is a small JSON file, ``<output>/_lock.json``, written and read through
Beam ``FileSystems``, so it works on local folders, ``gs://`` and any other Beam
filesystem. Object stores have no create-if-absent through ``FileSystems``, so
acquiring is *write, wait, read back*: when two runs start within the settle
time, the one whose token is not read back gives way. A holder refreshes
``heartbeat_at`` while it runs; a lock whose heartbeat is older than the TTL,
or whose process is gone on this same host, is stale and is taken over with a
warning. The lock is released (deleted) when the ``with`` block ends, however
it ends.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from apache_beam.io.filesystems import FileSystems

from marsad.errors import MarsadError

LOCK_NAME = "_lock.json"
DEFAULT_TTL_S = 30 * 60.0
"""A lock whose heartbeat is older than this is stale (the holder died elsewhere)."""
DEFAULT_SETTLE_S = 0.5
"""Wait between writing the lock and reading it back (detects a simultaneous start)."""

_log = logging.getLogger(__name__)


class OutputLockedError(MarsadError):
    """Another run holds the output folder."""

    reason = "output_locked"


@dataclass(frozen=True)
class LockInfo:
    run_id: str
    host: str
    pid: int
    token: str
    started_at: str
    heartbeat_at: str
    ttl_s: float

    @classmethod
    def from_json(cls, data: bytes) -> LockInfo:
        raw = json.loads(data.decode("utf-8"))
        return cls(
            run_id=str(raw.get("run_id", "?")),
            host=str(raw.get("host", "?")),
            pid=int(raw.get("pid", 0) or 0),
            token=str(raw.get("token", "")),
            started_at=str(raw.get("started_at", "")),
            heartbeat_at=str(raw.get("heartbeat_at") or raw.get("started_at", "")),
            ttl_s=float(raw.get("ttl_s", DEFAULT_TTL_S)),
        )

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode("utf-8")

    def age_s(self, now: datetime) -> float:
        """Seconds since the last heartbeat (infinite when unreadable)."""
        try:
            beat = datetime.fromisoformat(self.heartbeat_at)
        except ValueError:
            return float("inf")
        if beat.tzinfo is None:
            beat = beat.replace(tzinfo=UTC)
        return (now - beat).total_seconds()


def lock_path(output: str) -> str:
    return FileSystems.join(output, LOCK_NAME)


def read_lock(output: str) -> LockInfo | None:
    """The lock currently on ``output``, or None (a corrupt file reads as a stale lock)."""
    path = lock_path(output)
    if not FileSystems.exists(path):
        return None
    try:
        with FileSystems.open(path) as handle:
            return LockInfo.from_json(handle.read())
    except FileNotFoundError:
        return None
    except Exception as error:  # unreadable/corrupt: treat as stale, never as free-for-all
        if not FileSystems.exists(path):
            return None
        _log.warning("run lock %s is unreadable (%s); treating it as stale", path, error)
        return LockInfo("?", "?", 0, "", "", "", 0.0)


def _write(path: str, info: LockInfo) -> None:
    folder = path.rsplit("/", 1)[0]
    if folder and not FileSystems.exists(folder):
        FileSystems.mkdirs(folder)  # a no-op on object stores
    with FileSystems.create(path) as handle:
        handle.write(info.to_json())


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def stale_reason(info: LockInfo, now: datetime, host: str, pid: int) -> str | None:
    """Why ``info`` can be taken over, or None while its holder looks alive."""
    if not info.token:
        return "the lock file is unreadable"
    age = info.age_s(now)
    if age > info.ttl_s:
        return f"no heartbeat for {age:.0f}s (TTL {info.ttl_s:.0f}s)"
    if info.host == host:
        if info.pid == pid:
            # Same host name and pid but another token: an earlier life of this container
            # (pid 1 again after a restart), or a crashed run of this very process.
            return f"pid {pid} on {host} is this process, not the holder"
        if not _pid_alive(info.pid):
            return f"pid {info.pid} on {host} is not running"
    return None


class RunLock:
    """A held lock; ``refresh()`` renews the heartbeat, ``release()`` deletes it."""

    def __init__(self, output: str, info: LockInfo, clock: Callable[[], datetime]) -> None:
        self.output = output
        self.path = lock_path(output)
        self.info = info
        self._clock = clock
        self._guard = threading.Lock()
        self.lost = False

    def refresh(self) -> bool:
        """Renew the heartbeat; False (and a warning) when another run took the lock over."""
        with self._guard:
            current = read_lock(self.output)
            if current is None or current.token != self.info.token:
                if not self.lost:
                    _log.warning(
                        "run lock %s was taken over by run %s; this run no longer holds it",
                        self.path,
                        current.run_id if current else "(none)",
                    )
                self.lost = True
                return False
            self.info = LockInfo(**{**asdict(self.info), "heartbeat_at": self._clock().isoformat()})
            _write(self.path, self.info)
            return True

    def release(self) -> None:
        with self._guard:
            current = read_lock(self.output)
            if current is not None and current.token == self.info.token:
                FileSystems.delete([self.path])
            elif not self.lost:
                _log.warning("run lock %s was no longer ours at release; left alone", self.path)


def _now() -> datetime:
    return datetime.now(UTC)


def _describe(info: LockInfo, path: str) -> str:
    return (
        f"run {info.run_id} on host {info.host} (pid {info.pid}), started {info.started_at}, "
        f"last heartbeat {info.heartbeat_at}; lock file {path}"
    )


@contextmanager
def acquire_run_lock(
    output: str,
    run_id: str,
    *,
    ttl_s: float = DEFAULT_TTL_S,
    settle_s: float = DEFAULT_SETTLE_S,
    heartbeat_s: float | None = None,
    host: str | None = None,
    pid: int | None = None,
    clock: Callable[[], datetime] = _now,
) -> Iterator[RunLock]:
    """Hold ``<output>/_lock.json`` for the duration of the ``with`` block.

    Raises ``OutputLockedError`` when a live run holds the output. A stale lock
    (heartbeat older than ``ttl_s``, or a dead pid on this host) is taken over
    with a warning. The heartbeat is renewed every ``heartbeat_s`` seconds
    (default ``ttl_s / 4``; 0 disables it) from a daemon thread.
    """
    host = host or socket.gethostname()
    pid = os.getpid() if pid is None else pid
    path = lock_path(output)

    existing = read_lock(output)
    if existing is not None:
        reason = stale_reason(existing, clock(), host, pid)
        if reason is None:
            raise OutputLockedError(
                f"output {output} is in use by another marsad {_describe(existing, path)}. "
                "Wait for that run to finish. If it died, its lock goes stale "
                f"{existing.ttl_s:.0f}s after its last heartbeat; or delete {path}."
            )
        _log.warning("taking over a stale run lock (%s): %s", reason, _describe(existing, path))

    started = clock().isoformat()
    mine = LockInfo(run_id, host, pid, secrets.token_hex(8), started, started, float(ttl_s))
    _write(path, mine)
    if settle_s > 0:
        time.sleep(settle_s)
    current = read_lock(output)
    if current is None or current.token != mine.token:
        holder = _describe(current, path) if current else "a run that started and ended meanwhile"
        raise OutputLockedError(
            f"output {output}: another marsad run started at the same moment and holds the "
            f"lock ({holder}); this run gives way"
        )

    lock = RunLock(output, mine, clock)
    interval = ttl_s / 4 if heartbeat_s is None else heartbeat_s
    stop = threading.Event()
    beat = None
    if interval and interval > 0:

        def heartbeat() -> None:
            while not stop.wait(interval):
                try:
                    if not lock.refresh():
                        return
                except Exception as error:  # a transient storage error: try again next beat
                    _log.warning("run lock heartbeat failed: %s", error)

        beat = threading.Thread(target=heartbeat, name=f"marsad-lock-{run_id}", daemon=True)
        beat.start()
    try:
        yield lock
    finally:
        stop.set()
        if beat is not None:
            beat.join(timeout=30)
        try:
            lock.release()
        except Exception as error:  # never mask the run's own exception
            _log.warning("could not release run lock %s: %s", path, error)
