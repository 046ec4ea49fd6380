"""Everything a run needs, checked before the first request goes out.

A crawl takes minutes to hours; a typo found at its end costs all of it. So before
any fetch: options in range, the sources file parsed and validated, the topic file
schema-checked (``marsad.topic``, with the line of the problem), and the output
folder usable — all without writing anything outside the output folder.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from marsad.errors import InputError, MarsadError, OutputError
from marsad.feeds.sources import load_sources
from pipeline.options import check_option_ranges
from schemas.records import SourceFeed


def is_remote(path: str) -> bool:
    return "://" in path


def check_output_folder(output: str) -> None:
    """``output`` is (or can become) a writable local folder; remote paths pass.

    Remote stores (``gs://``) are checked when the run lock is written, the first
    write of a run, still before any fetch.
    """
    if is_remote(output):
        return
    path = Path(output)
    if path.exists() and not path.is_dir():
        raise OutputError(
            f"--output {output} is a file, not a folder",
            reason="output_not_folder",
            hint="name a folder (created if missing) for articles/, failures/, runs/ and state",
        )
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing != path and not existing.is_dir():
        raise OutputError(
            f"cannot create --output {output}: {existing} is a file",
            reason="output_not_folder",
            hint="choose an output folder whose parents are folders",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _not_writable(output, existing)
    if existing == path:
        # Permissions can lie (read-only mounts, root on a read-only bind): try it,
        # inside the output folder only, and leave nothing behind.
        probe = path / f".marsad-write-test-{uuid.uuid4().hex[:8]}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise _not_writable(output, path, error) from None


def _not_writable(output: str, folder: Path, error: OSError | None = None) -> OutputError:
    detail = f" ({error.strerror})" if error is not None and error.strerror else ""
    return OutputError(
        f"--output {output}: {folder} is not writable{detail}",
        reason="output_not_writable",
        hint="choose a folder you can write to, or fix its permissions",
    )


def check_topic(
    topic: str | None, weights: str | None = None, threshold: float | None = None
) -> None:
    """The topic file (and its weights file) as the pipeline will load them. A local
    topic with its own weights file is loaded into the tagger the run then uses
    (``transforms.tag.tagger_for``): checked and loaded once.

    ``marsad.topic`` raises ``TopicFileError`` (reason ``topic_invalid``) naming the
    line of a problem; anything else that stops the file loading is reported under
    the same reason instead of surfacing later as a worker's traceback.
    """
    from marsad.topic.tagger import check_topic as check_topic_files

    try:
        if topic and is_remote(topic):
            with _local_copy(topic) as local:
                check_topic_files(local, weights)
        elif weights is None:
            from transforms.tag import tagger_for

            tagger_for(topic, threshold)
        else:
            check_topic_files(topic, weights)
    except MarsadError:
        raise
    except OSError as error:
        raise _topic_error(f"cannot read topic file {topic}: {error.strerror or error}") from None
    except Exception as error:
        raise _topic_error(
            f"{topic}: malformed topic definition ({type(error).__name__}: {error})"
        ) from None


def _topic_error(message: str) -> InputError:
    return InputError(
        message, reason="topic_invalid", hint="the topic file format is described in docs/topic.md"
    )


class _local_copy:
    """A remote file (any Beam filesystem) copied to a temporary local file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.folder = tempfile.TemporaryDirectory(prefix="marsad-preflight-")

    def __enter__(self) -> str:
        from apache_beam.io.filesystems import FileSystems

        local = os.path.join(self.folder.name, os.path.basename(self.path))
        with FileSystems.open(self.path) as source, open(local, "wb") as target:
            target.write(source.read())
        return local

    def __exit__(self, *exc: object) -> None:
        self.folder.cleanup()


def preflight(options, check_output: bool = True) -> list[SourceFeed]:
    """Check a run's inputs (``MarsadOptions``); return the validated feeds."""
    check_option_ranges(options)
    if not options.sources or not options.output:
        missing = [f"--{n}" for n in ("sources", "output") if not getattr(options, n)]
        raise InputError(
            f"{' and '.join(missing)} required",
            reason="option_missing",
            hint="e.g. marsad run --sources marsad/sources/default.yaml --output data/",
        )
    feeds = load_sources(options.sources)
    check_topic(options.topic, threshold=options.topic_threshold)
    if check_output:
        check_output_folder(options.output)
    return feeds
