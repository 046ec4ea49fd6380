"""CommitRun: the last step of a batch graph, run once every dataset is written.

Feed state is staged under ``_tmp/<run_id>/`` while the run works and replaces
``state/feeds.json`` only here, after the article and failure files are in place,
so a run that dies leaves the previous state (its entries are fetched again).
Running inside the graph, not in the driver, makes this work the same way when a
Dataflow Flex Template launches the job and no driver waits for it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.common import counter, ensure_folder


def delete_tree(folder: str) -> None:
    """Delete a folder and everything under it, with or without real folders (gs:// has none)."""
    if FileSystems.exists(folder):  # local disk, HDFS
        FileSystems.delete([folder])
        return
    matched = FileSystems.match([FileSystems.join(folder, "**")])[0].metadata_list
    if matched:
        FileSystems.delete([m.path for m in matched])


def promote(staged: str, final: str) -> bool:
    """Replace ``final`` with ``staged``; False when nothing was staged."""
    if not FileSystems.exists(staged):
        return False
    folder = final.rsplit("/", 1)[0]
    ensure_folder(folder)
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([staged], [final])
    return True


def write_json(path: str, document: dict) -> str:
    folder = path.rsplit("/", 1)[0]
    ensure_folder(folder)
    with FileSystems.create(path) as handle:
        handle.write(json.dumps(document, indent=2, ensure_ascii=False, default=str).encode())
    return path


def manifest_path(output: str, run_id: str) -> str:
    return FileSystems.join(output, "runs", f"{run_id}.json")


def commit_run(
    run_id, output, staged_state, final_state, tmp_folder, articles, failures, staged, lock_token=""
):
    """Promote the staged feed state, drop the run's temp folder, record the files written."""
    # ``articles``, ``failures`` and ``staged`` are side inputs so that this runs only
    # after they are complete; the file lists go into the record.
    del staged
    promoted = promote(staged_state, final_state)
    delete_tree(tmp_folder)
    counter("commit", "runs")
    # The driver (``marsad run``) overwrites this with counts and timings when it waits
    # for the job; a job launched from a template keeps this record.
    path = write_json(
        manifest_path(output, run_id),
        {
            "run_id": run_id,
            "status": "DONE",
            "mode": "batch",
            "output": output,
            "committed_at": datetime.now(UTC).isoformat(),
            "feed_state_promoted": promoted,
            "files": {"articles": sorted(articles), "failures": sorted(failures)},
            "counts": "see the runner's metrics in namespace 'marsad'",
        },
    )
    if lock_token:
        # A remote job holds the output lock its launcher took; nobody waits to release it.
        from pipeline.lock import release_lock

        released = release_lock(output, lock_token)
        counter("commit", "lock_released" if released else "lock_not_ours")
    return path


class CommitRun(beam.PTransform):
    """Runs ``commit_run`` once, after ``articles``, ``failures`` and ``staged`` are complete."""

    def __init__(
        self, run_id, output, staged_state, final_state, tmp_folder, lock_token: str = ""
    ) -> None:
        super().__init__()
        self.args = (output, staged_state, final_state, tmp_folder)
        self.run_id = run_id
        self.lock_token = lock_token

    def expand(self, inputs):
        articles, failures, staged = inputs
        output, staged_state, final_state, tmp_folder = self.args
        return (
            articles.pipeline
            | "RunId" >> beam.Create([self.run_id])
            | "Commit"
            >> beam.Map(
                commit_run,
                output,
                staged_state,
                final_state,
                tmp_folder,
                articles=beam.pvalue.AsList(articles),
                failures=beam.pvalue.AsList(failures),
                staged=beam.pvalue.AsList(staged),
                lock_token=self.lock_token,
            )
        )
