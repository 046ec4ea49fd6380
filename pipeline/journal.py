"""Intent journals: how a multi-step change to an output finishes after a crash.

A step that moves several files cannot be one atomic operation on a filesystem
(and on an object store nothing spanning two objects is). So before its first
visible change, a maintenance step writes what it is about to do to
``<output>/_journal/<kind>-<id>.json``, and deletes the journal when it is done.
Whoever takes the output lock next (``marsad run``, ``compact``, ``prune``) calls
``recover(output)`` first: every journal left behind is handed to the recoverer
registered for its kind, which rolls the step forward (or, when it cannot, back)
from what it finds on storage. Recoverers must be idempotent: recovery itself can
be interrupted.

Journals live outside ``_tmp/`` on purpose: a run clears ``_tmp/`` at its start,
and a journal must outlive the staging files it describes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable

from apache_beam.io.filesystems import FileSystems

JOURNAL_DIR = "_journal"
Recoverer = Callable[[str, dict], str]
"""(output, journal record) → a one-line account of what recovery did."""

_RECOVERERS: dict[str, Recoverer] = {}
_log = logging.getLogger(__name__)


def register(kind: str, recoverer: Recoverer) -> None:
    _RECOVERERS[kind] = recoverer


def journal_path(output: str, kind: str, step_id: str) -> str:
    return FileSystems.join(output, JOURNAL_DIR, f"{kind}-{step_id}.json")


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def fsync_dir(folder: str) -> None:
    """Make a rename or a new entry in ``folder`` durable (local disks only)."""
    if not is_local(folder):
        return
    fd = os.open(folder.removeprefix("file://"), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_journal(output: str, kind: str, step_id: str, record: dict) -> str:
    """Write (or replace) a journal whole: readers find the old record or the new one."""
    path = journal_path(output, kind, step_id)
    body = json.dumps({"kind": kind, "id": step_id, **record}, indent=1).encode("utf-8")
    if is_local(path):
        local = path.removeprefix("file://")
        os.makedirs(os.path.dirname(local), exist_ok=True)
        staged = local + ".tmp"
        with open(staged, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staged, local)
        fsync_dir(os.path.dirname(local))
    else:  # an object appears whole when its upload closes
        with FileSystems.create(path, mime_type="application/json") as handle:
            handle.write(body)
    return path


def remove_journal(path: str) -> None:
    if FileSystems.exists(path):
        FileSystems.delete([path])


def pending(output: str) -> list[tuple[str, dict]]:
    """Journals left behind on ``output``: (path, record), oldest name first."""
    pattern = FileSystems.join(output, JOURNAL_DIR, "*.json")
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # no journal folder: nothing was interrupted
        return []
    found = []
    for meta in sorted(matched, key=lambda m: m.path):
        try:
            with FileSystems.open(meta.path) as handle:
                found.append((meta.path, json.loads(handle.read().decode("utf-8"))))
        except (OSError, ValueError) as error:
            _log.warning(
                "journal %s is unreadable (%s); left for a person to look at", meta.path, error
            )
    return found


def recover(output: str) -> list[str]:
    """Finish (or undo) every interrupted step on ``output``. Call it holding the output lock.

    A run's own commit has its journal in ``_tmp/<run_id>/COMMIT.json``
    (``transforms/commit.py``); it is rolled forward first, so a compaction or prune
    never works on a partition with a commit half made.
    """
    from pipeline import compact  # noqa: F401  (registers its recoverer)
    from transforms.commit import recover_commits

    done = [f"commit of run {run_id} rolled forward" for run_id in recover_commits(output)]
    for path, record in pending(output):
        recoverer = _RECOVERERS.get(str(record.get("kind")))
        if recoverer is None:
            _log.warning("journal %s has unknown kind %r; left alone", path, record.get("kind"))
            continue
        account = recoverer(output, record)
        remove_journal(path)
        _log.warning("recovered an interrupted %s: %s", record.get("kind"), account)
        done.append(account)
    return done
