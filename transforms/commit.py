"""CommitRun: the last step of a batch graph, run once every dataset is staged.

Nothing a run writes is visible before this step: article and failure files,
the feed state and the failure ledger are all staged under ``_tmp/<run_id>/``.
The commit first writes a *journal* (``_tmp/<run_id>/COMMIT.json``, complete or
absent: written under another name and renamed) listing every move, then makes
the moves, then removes the run's temp folder. A process killed before the
journal exists leaves an uncommitted run, which the next start deletes whole; one
killed after it leaves a journal, which the next start (``recover_commits``)
replays to the end. Each move is idempotent (a staged file already moved is
skipped), so a replay never duplicates a row and never loses one.

Running inside the graph, not in the driver, makes this work the same way when a
Dataflow Flex Template launches the job and no driver waits for it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.common import counter, ensure_folder

JOURNAL = "COMMIT.json"
log = logging.getLogger(__name__)


def crash_point(name: str) -> None:
    """Fault injection for the kill -9 tests: ``MARSAD_CRASH_AT=<name>`` kills the process
    here with SIGKILL, as an out-of-memory killer or a power cut would."""
    if os.environ.get("MARSAD_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def delete_tree(folder: str) -> None:
    """Delete a folder and everything under it, with or without real folders (gs:// has none)."""
    if FileSystems.exists(folder):  # local disk, HDFS
        FileSystems.delete([folder])
        return
    matched = FileSystems.match([FileSystems.join(folder, "**")])[0].metadata_list
    if matched:
        FileSystems.delete([m.path for m in matched])


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0]


def promote(staged: str, final: str) -> bool:
    """Replace ``final`` with ``staged``; False when nothing was staged (already moved)."""
    if not FileSystems.exists(staged):
        return False
    ensure_folder(_parent(final))
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([staged], [final])
    return True


def write_json(path: str, document: dict) -> str:
    ensure_folder(_parent(path))
    with FileSystems.create(path) as handle:
        handle.write(json.dumps(document, indent=2, ensure_ascii=False, default=str).encode())
    return path


def write_json_atomically(path: str, document: dict) -> str:
    """Readers see the whole document or none: written aside, then renamed."""
    partial = path + ".part"
    write_json(partial, document)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([partial], [path])
    return path


def manifest_path(output: str, run_id: str) -> str:
    return FileSystems.join(output, "runs", f"{run_id}.json")


def journal_path(tmp_folder: str) -> str:
    return FileSystems.join(tmp_folder, JOURNAL)


def apply_journal(journal: dict) -> dict[str, int]:
    """Make every move of ``journal`` that is not made yet; safe to call again."""
    moved = skipped = 0
    for path in journal.get("deletes", []):
        if FileSystems.exists(path):
            FileSystems.delete([path])
    for staged, final in journal["moves"]:
        if promote(staged, final):
            moved += 1
            crash_point("commit.mid_moves")
        else:
            skipped += 1
    if journal.get("manifest"):
        write_json(manifest_path(journal["output"], journal["run_id"]), journal["manifest"])
    crash_point("commit.before_cleanup")
    delete_tree(journal["tmp_folder"])
    return {"moved": moved, "already_moved": skipped}


def recover_commits(output: str) -> list[str]:
    """Finish the commits that a killed run started (``_tmp/*/COMMIT.json``); return run ids."""
    pattern = FileSystems.join(output, "_tmp", "*", JOURNAL)
    try:
        journals = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # no _tmp folder: nothing to recover
        return []
    recovered = []
    for metadata in sorted(journals, key=lambda m: m.path):
        with FileSystems.open(metadata.path) as handle:
            journal = json.loads(handle.read().decode("utf-8"))
        result = apply_journal(journal)
        log.warning(
            "rolled forward the interrupted commit of run %s (%s)", journal["run_id"], result
        )
        recovered.append(journal["run_id"])
    return recovered


def commit_run(
    run_id,
    output,
    state_moves,
    tmp_folder,
    reset_states,
    articles,
    failures,
    quarantine,
    staged,
    lock_token="",
):
    """Journal, then move the run's staged files and states into place; drop its temp folder.

    When a data file was quarantined, the states named in ``reset_states`` (the feed
    state) are deleted instead of replaced: the next run then lists every feed in full
    and stores again, once, the articles whose rows were in the unreadable file.
    """
    # ``articles``, ``failures``, ``quarantine`` and ``staged`` are side inputs so that this
    # runs only after they are complete; their (staged, final) pairs are the moves.
    del staged
    moves = [*sorted(articles), *sorted(failures), *sorted(quarantine)]
    deletes = sorted(reset_states) if quarantine else []
    moves += [(s, f) for s, f in state_moves if FileSystems.exists(s) and f not in deletes]
    manifest = {
        "run_id": run_id,
        "status": "DONE",
        "mode": "batch",
        "output": output,
        "committed_at": datetime.now(UTC).isoformat(),
        "files": {
            "articles": sorted(f for _, f in articles),
            "failures": sorted(f for _, f in failures),
        },
        "quarantined": sorted(f for _, f in quarantine),
        # The driver (``marsad run``) overwrites this with counts and timings when it
        # waits for the job; a job launched from a template keeps this record.
        "counts": "see the runner's metrics in namespace 'marsad'",
    }
    journal = {
        "run_id": run_id,
        "output": output,
        "tmp_folder": tmp_folder,
        "deletes": deletes,
        "moves": [list(m) for m in moves],
        "manifest": manifest,
    }
    crash_point("commit.before_journal")
    write_json_atomically(journal_path(tmp_folder), journal)
    crash_point("commit.after_journal")
    apply_journal(journal)
    counter("commit", "runs")
    if lock_token:
        # A remote job holds the output lock its launcher took; nobody waits to release it.
        from pipeline.lock import release_lock

        released = release_lock(output, lock_token)
        counter("commit", "lock_released" if released else "lock_not_ours")
    return manifest_path(output, run_id)


class CommitRun(beam.PTransform):
    """Runs ``commit_run`` once, after every input PCollection is complete.

    ``state_moves``: (staged, final) of the state files (feed state, failure ledger).
    Inputs: (article moves, failure moves, quarantine moves, staged states).
    """

    def __init__(
        self, run_id, output, state_moves, tmp_folder, reset_states=(), lock_token: str = ""
    ) -> None:
        super().__init__()
        self.args = (output, list(state_moves), tmp_folder, list(reset_states))
        self.run_id = run_id
        self.lock_token = lock_token

    def expand(self, inputs):
        articles, failures, quarantine, staged = inputs
        output, state_moves, tmp_folder, reset_states = self.args
        return (
            articles.pipeline
            | "RunId" >> beam.Create([self.run_id])
            | "Commit"
            >> beam.Map(
                commit_run,
                output,
                state_moves,
                tmp_folder,
                reset_states,
                articles=beam.pvalue.AsList(articles),
                failures=beam.pvalue.AsList(failures),
                quarantine=beam.pvalue.AsList(quarantine),
                staged=beam.pvalue.AsList(staged),
                lock_token=self.lock_token,
            )
        )
