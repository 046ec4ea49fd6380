"""What every stage shares: the metrics namespace, the failures tag, and a DoFn
base that turns any exception into a failure row instead of losing the element.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from marsad import live_counts
from marsad.errors import MarsadError, StorageError, bounded
from schemas.records import Failure

METRICS_NAMESPACE = "marsad"
FAILURES = "failures"


def ensure_folder(folder: str) -> None:
    """Create ``folder`` unless it exists; safe when another worker process creates it too.

    Beam's local ``mkdirs`` fails on an existing folder, and ``exists`` then ``mkdirs`` is a
    race between bundles running in separate processes (``multi_processing``).
    """
    if not folder or FileSystems.exists(folder):
        return
    try:
        FileSystems.mkdirs(folder)
    except OSError:
        if not FileSystems.exists(folder):
            raise


def read_state_file(
    path: str, loads: Callable[[bytes], dict], what: str, after_moving: str
) -> dict:
    """A state file under ``state/`` read through FileSystems (so gs:// works); absent is
    empty, unreadable is a StorageError that says how to recover."""
    if not FileSystems.exists(path):
        return {}
    with FileSystems.open(path) as handle:
        data = handle.read()
    try:
        return loads(data)
    except Exception as exc:
        raise StorageError(
            f"the {what} {path} is unreadable ({type(exc).__name__}: {exc}). "
            f"Move it aside (mv {path} {path}.bad) and rerun: {after_moving}; "
            "stored articles are not duplicated.",
            reason="state_corrupt",
        ) from exc


@functools.lru_cache(maxsize=4096)
def _metric(name: str):
    # A Beam counter finds the running step's metrics container when it is incremented,
    # so one object per name serves every step, bundle and run; making one per increment
    # was about a fifth of the cost of counting.
    return Metrics.counter(METRICS_NAMESPACE, name)


def counter(stage: str, outcome: str) -> None:
    """Increment ``<stage>.<outcome>`` in the one marsad namespace."""
    name = f"{stage}.{outcome}"
    _metric(name).inc()
    live_counts.record(name)  # the local progress display (no-op elsewhere)


_FAILURE_FIELDS = frozenset(f.name for f in dataclasses.fields(Failure))


def failure_from_error(
    error: BaseException, stage: str, url: str, run_id: str, /, **context: Any
) -> Failure:
    """A failure row for ``error``; never raises, whatever ``context`` holds.

    ``context`` (a stage's ``describe()``) fills the fields the error leaves open;
    what the error itself knows (its reason, message, HTTP status, attempts) wins.
    Keys that are not failure fields are ignored rather than crashing the run.
    """
    return failure_from_fields(error_fields(error), stage, url, run_id, **context)


def error_fields(error: BaseException) -> dict[str, Any]:
    """What ``error`` itself says of a failure row (plain values: they cross processes)."""
    if isinstance(error, MarsadError):
        own: dict[str, Any] = {
            "reason": error.reason,
            "message": bounded(error),
            "attempts": error.attempts,
        }
        if error.http_status is not None:
            own["http_status"] = error.http_status
        return own
    # Not ours: a bug or an unforeseen library error. Keep the element and the
    # last traceback line so the row is actionable.
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    return {
        "reason": "internal_error",
        "message": f"unexpected {type(error).__name__} (please report): {bounded(last, 500)}",
    }


def failure_from_fields(
    own: dict[str, Any], stage: str, url: str, run_id: str, /, **context: Any
) -> Failure:
    """``failure_from_error`` from an error's ``error_fields``."""
    fields: dict[str, Any] = {k: v for k, v in context.items() if k in _FAILURE_FIELDS}
    fields.update(own)
    fields.update(stage=stage, url=str(url or ""), run_id=run_id)
    try:
        return Failure(**fields)
    except Exception:  # a context value of the wrong kind: keep what is certain
        return Failure(**{k: fields[k] for k in ("stage", "reason", "message", "url", "run_id")})


class StageDoFn(beam.DoFn):
    """A DoFn whose elements end as outputs or as failure rows, never lost.

    Subclasses implement ``handle(element)`` yielding outputs, and ``describe``
    giving (url, context) for a failure row. Counters: ``<stage>.in``,
    ``<stage>.out``, ``<stage>.failed.<reason>``; a distribution of milliseconds
    per element as ``<stage>.ms``.
    """

    stage = "stage"

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def setup(self) -> None:
        self._ms = Metrics.distribution(METRICS_NAMESPACE, f"{self.stage}.ms")

    def describe(self, element: Any) -> tuple[str, dict[str, Any]]:
        return "", {}

    def handle(self, element: Any) -> Iterable[Any]:
        raise NotImplementedError

    def failure_for(self, element: Any, error: BaseException) -> Failure:
        """The failure row of ``element``; a ``describe`` that itself breaks costs context only."""
        try:
            url, context = self.describe(element)
        except Exception:
            url, context = "", {}
        return failure_from_error(error, self.stage, url, self.run_id, **context)

    def process(self, element: Any) -> Iterator[Any]:
        counter(self.stage, "in")
        started = time.perf_counter()
        try:
            outputs = list(self.handle(element))
        except Exception as error:  # every failure becomes a row, whatever raised it
            failure = self.failure_for(element, error)
            counter(self.stage, f"failed.{failure.reason}")
            yield pvalue.TaggedOutput(FAILURES, failure)
        else:
            for output in outputs:
                if isinstance(output, Failure):
                    counter(output.stage, f"failed.{output.reason}")
                    yield pvalue.TaggedOutput(FAILURES, output)
                else:
                    counter(self.stage, "out")
                    yield output
        self._ms.update(int((time.perf_counter() - started) * 1000))


def apply_stage(pcoll: beam.PCollection, label: str, dofn: StageDoFn) -> tuple[Any, Any]:
    """Apply a StageDoFn; return (main, failures) PCollections."""
    results = pcoll | label >> beam.ParDo(dofn).with_outputs(FAILURES, main="main")
    return results.main, results[FAILURES]
