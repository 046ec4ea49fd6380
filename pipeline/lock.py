"""An output-folder run lock: one batch run writes to one output at a time.

Two runs on the same output would both read the stored ids, fetch the same new
articles, write them twice and race on ``state/feeds.json``. Schedulers prevent
most overlaps (cron's ``flock``, a Kubernetes CronJob's ``concurrencyPolicy:
Forbid``, a systemd timer's single service, Dataflow's unique active job name);
this lock also catches the rest (a manual run during a scheduled one, two
machines sharing a ``gs://`` output).

The lock is a small JSON file, ``<output>/_lock.json``. On Cloud Storage
(``gs://``) it is taken atomically with object preconditions (``GcsLockStore``:
create only if absent, replace and delete only at the generation read, heartbeat
rewritten at the generation read), so exactly one of two
simultaneous launches proceeds. Elsewhere it goes through Beam ``FileSystems``,
which has no create-if-absent, so acquiring is *write, wait, read back*: when two
runs start within the settle time, the one whose token is not read back gives
way. A holder refreshes ``heartbeat_at`` while it runs; a lock whose heartbeat is
older than the TTL, or whose process is gone on this same host, is stale and is
taken over with a warning. The lock is released (deleted) when the ``with`` block
ends, however it ends.
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
    hint = "wait for the other run to finish, or give this run another --output"


@dataclass(frozen=True)
class LockInfo:
    run_id: str
    host: str
    pid: int
    token: str
    started_at: str
    heartbeat_at: str
    ttl_s: float
    # Set when a remote job (Dataflow) holds the output: the job commits and releases.
    job_id: str = ""
    job_url: str = ""
    # A template launch knows only the job's name (the service creates the job later).
    job_name: str = ""

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
            job_id=str(raw.get("job_id") or ""),
            job_url=str(raw.get("job_url") or ""),
            job_name=str(raw.get("job_name") or ""),
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


class LockStore:
    """Where the lock file lives and how it is changed safely.

    ``create`` succeeds for exactly one of several simultaneous callers where the
    storage allows it; ``replace`` swaps a stale lock for ours only if it is still the
    lock that was judged stale; ``renew`` and ``release`` act only on our own lock.
    """

    needs_settle = False

    def __init__(self, output: str) -> None:
        self.output = output
        self.path = lock_path(output)

    def read(self) -> LockInfo | None:
        raise NotImplementedError

    def create(self, info: LockInfo) -> bool:
        raise NotImplementedError

    def replace(self, stale: LockInfo, info: LockInfo) -> bool:
        raise NotImplementedError

    def renew(self, info: LockInfo) -> bool:
        raise NotImplementedError

    def release(self, info: LockInfo) -> bool:
        raise NotImplementedError


class FileSystemsLockStore(LockStore):
    """Any Beam filesystem (local disk, HDFS, memfs): *write, wait, read back*.

    Beam's ``FileSystems`` has no create-if-absent, so two runs starting within the
    settle time both write; the one whose token is not read back gives way.
    """

    needs_settle = True

    def read(self) -> LockInfo | None:
        if not FileSystems.exists(self.path):
            return None
        try:
            with FileSystems.open(self.path) as handle:
                return LockInfo.from_json(handle.read())
        except FileNotFoundError:
            return None
        except Exception as error:  # unreadable/corrupt: treat as stale, never as free-for-all
            if not FileSystems.exists(self.path):
                return None
            _log.warning("run lock %s is unreadable (%s); treating it as stale", self.path, error)
            return LockInfo("?", "?", 0, "", "", "", 0.0)

    def _write(self, info: LockInfo) -> None:
        folder = self.path.rsplit("/", 1)[0]
        if folder and not FileSystems.exists(folder):
            FileSystems.mkdirs(folder)  # a no-op on object stores
        with FileSystems.create(self.path) as handle:
            handle.write(info.to_json())

    def create(self, info: LockInfo) -> bool:
        self._write(info)
        return True  # confirmed by the read back after the settle time

    def replace(self, stale: LockInfo, info: LockInfo) -> bool:
        self._write(info)
        return True

    def renew(self, info: LockInfo) -> bool:
        current = self.read()
        if current is None or current.token != info.token:
            return False
        self._write(info)
        return True

    def release(self, info: LockInfo) -> bool:
        current = self.read()
        if current is None or current.token != info.token:
            return False
        FileSystems.delete([self.path])
        return True


class GcsLockStore(LockStore):
    """Cloud Storage: atomic create-if-absent and compare-and-swap by preconditions.

    The lock object is created with ``if_generation_match=0`` (only one of several
    simultaneous creators succeeds); it is replaced (a takeover, or our own heartbeat)
    and deleted only at the generation last read or written, so every change is a
    compare-and-swap. Heartbeats rewrite the small object rather than patch its
    metadata: a generation precondition on an upload is enforced by Cloud Storage and by
    the emulator the tests run against alike. So exactly one of two concurrent launches
    proceeds, and nobody ever deletes or overwrites a lock it did not read.
    """

    def __init__(self, output: str, client=None) -> None:
        super().__init__(output)
        from google.cloud import storage

        bucket, _, name = self.path[len("gs://") :].partition("/")
        self._client = client or storage.Client(project=_gcs_project())
        self._blob_name = name
        self._bucket = self._client.bucket(bucket)
        # generation and metageneration of the lock as last read or written, by token
        self._versions: dict[str, tuple[int, int]] = {}

    def _errors(self):
        from google.api_core import exceptions

        return exceptions.PreconditionFailed, exceptions.NotFound

    def read(self) -> LockInfo | None:
        blob = self._bucket.get_blob(self._blob_name)
        if blob is None:
            return None
        try:
            data = blob.download_as_bytes(if_generation_match=blob.generation)
            info = LockInfo.from_json(data)
        except self._errors():
            return self.read()  # replaced between the listing and the download
        except Exception as error:  # unreadable/corrupt: stale, replaced at this generation
            _log.warning("run lock %s is unreadable (%s); treating it as stale", self.path, error)
            info = LockInfo("?", "?", 0, "", "", "", 0.0)
        # keyed by token; an unreadable lock has the empty token
        self._versions[info.token] = (blob.generation, blob.metageneration)
        return info

    def _upload(self, info: LockInfo, generation: int) -> bool:
        blob = self._bucket.blob(self._blob_name)
        try:
            blob.upload_from_string(
                info.to_json(), content_type="application/json", if_generation_match=generation
            )
        except self._errors():
            return False
        self._versions[info.token] = (blob.generation, blob.metageneration)
        return True

    def create(self, info: LockInfo) -> bool:
        return self._upload(info, 0)

    def replace(self, stale: LockInfo, info: LockInfo) -> bool:
        version = self._versions.get(stale.token)
        return version is not None and self._upload(info, version[0])

    def renew(self, info: LockInfo) -> bool:
        version = self._versions.get(info.token)
        return version is not None and self._upload(info, version[0])

    def release(self, info: LockInfo) -> bool:
        # Read first: the delete precondition then names the generation holding our token.
        current = self.read()
        if current is None or current.token != info.token:
            return False
        try:
            self._bucket.blob(self._blob_name).delete(
                if_generation_match=self._versions[info.token][0]
            )
        except self._errors():
            return False
        self._versions.pop(info.token, None)
        return True


def _gcs_project() -> str | None:
    """The project for the storage client: none is needed for an existing bucket."""
    return os.environ.get("GOOGLE_CLOUD_PROJECT") or None


def lock_store(output: str) -> LockStore:
    """The safest store for ``output``: preconditions on gs://, FileSystems elsewhere."""
    if output.startswith("gs://"):
        try:
            return GcsLockStore(output)
        except ImportError:
            _log.warning(
                "google-cloud-storage is not installed (pip install 'marsad[gcp]'): the lock on "
                "%s falls back to write-and-read-back, which two simultaneous starts can defeat",
                output,
            )
    return FileSystemsLockStore(output)


def read_lock(output: str) -> LockInfo | None:
    """The lock currently on ``output``, or None (a corrupt file reads as a stale lock)."""
    return lock_store(output).read()


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


JobState = Callable[[LockInfo], "str | None"]
"""The state of the remote job holding a lock (e.g. ``JOB_STATE_FAILED``); None if unknown."""

_TERMINAL_JOB_STATES = ("DONE", "FAILED", "CANCELLED", "DRAINED", "UPDATED", "STOPPED")


def stale_reason(
    info: LockInfo, now: datetime, host: str, pid: int, job_state: JobState | None = None
) -> str | None:
    """Why ``info`` can be taken over, or None while its holder looks alive."""
    if not info.token:
        return "the lock file is unreadable"
    age = info.age_s(now)
    if age > info.ttl_s:
        return f"no heartbeat for {age:.0f}s (TTL {info.ttl_s:.0f}s)"
    if info.job_id or info.job_name:
        # A remote job holds it and releases it when it commits; a job that ended
        # without committing (failed, cancelled) leaves it behind.
        state = job_state(info) if job_state is not None else None
        if state and state.upper().removeprefix("JOB_STATE_") in _TERMINAL_JOB_STATES:
            job = info.job_id or f"named {info.job_name}"
            return f"job {job} has ended ({state}) without releasing it"
        return None
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

    def __init__(self, store: LockStore, info: LockInfo, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.output = store.output
        self.path = store.path
        self.info = info
        self._clock = clock
        self._guard = threading.Lock()
        self.lost = False

    def refresh(self) -> bool:
        """Renew the heartbeat; False (and a warning) when another run took the lock over."""
        with self._guard:
            if self.lost:
                return False
            renewed = LockInfo(**{**asdict(self.info), "heartbeat_at": self._clock().isoformat()})
            if self.store.renew(renewed):
                self.info = renewed
                return True
            current = self.store.read()
            _log.warning(
                "run lock %s was taken over by run %s; this run no longer holds it",
                self.path,
                current.run_id if current else "(none)",
            )
            self.lost = True
            return False

    def attach_job(self, job_id: str, job_url: str = "", job_name: str = "") -> bool:
        """Record the remote job that now holds the output (it releases the lock)."""
        with self._guard:
            updated = LockInfo(
                **{
                    **asdict(self.info),
                    "job_id": job_id,
                    "job_url": job_url,
                    "job_name": job_name,
                    "heartbeat_at": self._clock().isoformat(),
                }
            )
            if self.store.renew(updated):
                self.info = updated
                return True
            self.lost = True
            return False

    def release(self) -> None:
        with self._guard:
            if not self.store.release(self.info) and not self.lost:
                _log.warning("run lock %s was no longer ours at release; left alone", self.path)


def _now() -> datetime:
    return datetime.now(UTC)


def _describe(info: LockInfo, path: str) -> str:
    if info.job_id:
        holder = f"job {info.job_id} ({info.job_url})"
    elif info.job_name:
        holder = f"the job named {info.job_name}"
    else:
        holder = f"pid {info.pid}"
    return (
        f"run {info.run_id} launched from host {info.host} ({holder}), started "
        f"{info.started_at}, last heartbeat {info.heartbeat_at}; lock file {path}"
    )


def take_lock(
    output: str,
    run_id: str,
    *,
    ttl_s: float = DEFAULT_TTL_S,
    settle_s: float = DEFAULT_SETTLE_S,
    host: str | None = None,
    pid: int | None = None,
    clock: Callable[[], datetime] = _now,
    store: LockStore | None = None,
    token: str | None = None,
    job_state: JobState | None = None,
) -> RunLock:
    """Take ``<output>/_lock.json`` and return it held, without a heartbeat.

    Raises ``OutputLockedError`` when a live run holds the output; a stale lock is
    taken over with a warning. Use ``acquire_run_lock`` for a run of this process; a
    remote launch takes the lock here and its job releases it (``release_lock``).
    """
    host = host or socket.gethostname()
    pid = os.getpid() if pid is None else pid
    store = store or lock_store(output)
    path = store.path

    existing = store.read()
    if existing is not None:
        reason = stale_reason(existing, clock(), host, pid, job_state)
        if reason is None:
            raise OutputLockedError(
                f"output {output} is in use by another marsad {_describe(existing, path)}. "
                "Wait for that run to finish. If it died, its lock goes stale "
                f"{existing.ttl_s:.0f}s after its last heartbeat; or delete {path}."
            )
        _log.warning("taking over a stale run lock (%s): %s", reason, _describe(existing, path))

    started = clock().isoformat()
    token = token or secrets.token_hex(8)
    mine = LockInfo(run_id, host, pid, token, started, started, float(ttl_s))
    written = store.create(mine) if existing is None else store.replace(existing, mine)
    if written and store.needs_settle and settle_s > 0:
        time.sleep(settle_s)
    current = store.read() if written else None
    if not written or current is None or current.token != mine.token:
        if current is None and written:
            holder = "a run that started and ended meanwhile"
        else:
            current = current or store.read()
            holder = (
                _describe(current, path) if current else "a run that started and ended meanwhile"
            )
        raise OutputLockedError(
            f"output {output}: another marsad run started at the same moment and holds the "
            f"lock ({holder}); this run gives way"
        )
    return RunLock(store, mine, clock)


def release_lock(output: str, token: str) -> bool:
    """Release the lock on ``output`` if it still carries ``token`` (a remote job's commit)."""
    store = lock_store(output)
    current = store.read()
    if current is None or current.token != token:
        return False
    return store.release(current)


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
    store: LockStore | None = None,
) -> Iterator[RunLock]:
    """Hold ``<output>/_lock.json`` for the duration of the ``with`` block.

    Raises ``OutputLockedError`` when a live run holds the output. A stale lock
    (heartbeat older than ``ttl_s``, or a dead pid on this host) is taken over
    with a warning. The heartbeat is renewed every ``heartbeat_s`` seconds
    (default ``ttl_s / 4``; 0 disables it) from a daemon thread.
    """
    lock = take_lock(
        output,
        run_id,
        ttl_s=ttl_s,
        settle_s=settle_s,
        host=host,
        pid=pid,
        clock=clock,
        store=store,
    )
    path = lock.path
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
