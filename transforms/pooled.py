"""StageDoFns whose work on each element runs in the shared worker processes.

A pooled stage splits ``StageDoFn.handle`` in two: ``work()`` returns a pure, picklable
function of one element (module-level, or a ``functools.partial`` of one) that runs in
a worker process (``marsad.workers``), and ``outputs(element, result)`` turns its result
into outputs in the pipeline process, where counters and failure rows are made. With one
worker (``workers <= 1``, the default off a local runner) the function runs inline, so
the rows are the same whatever the number of workers.

A stage whose element was already worked in an earlier step's worker call (the Tag
stage after the batch graph's cleaning) returns that outcome from ``ahead(element)``:
its outputs and failure rows are then made as for a result of the pool.

Up to ``IN_FLIGHT_PER_WORKER * workers`` elements are in flight; results are emitted
oldest first as they complete (each with the timestamp and window of its own element),
the rest at the end of the bundle. A worker that dies (killed, or crashed in native
code) breaks the pool: it is replaced and each element that was in flight is tried once
more, then becomes a ``worker_crashed`` failure row.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.utils.windowed_value import WindowedValue

from marsad.errors import MarsadError
from marsad.workers import BrokenProcessPool, replace_pool, shared_pool
from schemas.records import Failure
from transforms.common import (
    FAILURES,
    StageDoFn,
    counter,
    error_fields,
    failure_from_fields,
)

# Elements handed to the pool per worker before the oldest result is waited for: enough
# that one slow page does not leave the other workers idle.
IN_FLIGHT_PER_WORKER = 8


@dataclass(frozen=True)
class Done:
    value: Any
    ms: int


@dataclass(frozen=True)
class Failed:
    fields: dict[str, Any]  # error_fields() of what the work raised
    ms: int


def run_measured(work: Callable[[Any], Any], element: Any) -> Done | Failed:
    """The result with its milliseconds, or the failure's fields (exceptions may not
    pickle): in a worker, or in an earlier step's worker call (``PooledStageDoFn.ahead``)."""
    started = time.perf_counter()
    try:
        value = work(element)
    except Exception as error:
        return Failed(error_fields(error), int((time.perf_counter() - started) * 1000))
    return Done(value, int((time.perf_counter() - started) * 1000))


@dataclass
class _InFlight:
    element: Any
    timestamp: Any
    window: Any
    future: Any
    retried: bool = False


class WorkerCrashed(MarsadError):
    reason = "worker_crashed"


class PooledStageDoFn(StageDoFn):
    """See the module doc. Subclasses set ``stage`` and implement ``work``, ``outputs``
    and ``describe``."""

    def __init__(self, run_id: str, workers: int = 1) -> None:
        super().__init__(run_id)
        self.workers = workers

    # -- for subclasses ----------------------------------------------------------------
    def work(self) -> Callable[[Any], Any]:
        raise NotImplementedError

    def outputs(self, element: Any, result: Any) -> Iterable[Any]:
        yield result

    def ahead(self, element: Any) -> Done | Failed | None:
        """The element's result if an earlier step worked it out already (its outputs and
        failure rows are made as for a result of the pool); None to work it here."""
        return None

    # -- inline: StageDoFn.process calls handle ----------------------------------------
    def handle(self, element: Any) -> Iterable[Any]:
        return self.outputs(element, self._work(element))

    # -- Beam --------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self._work = self.work()
        self._pool = shared_pool(self.workers)
        self._limit = IN_FLIGHT_PER_WORKER * max(self.workers, 1)

    def start_bundle(self) -> None:
        self._in_flight: deque[_InFlight] = deque()

    def process(
        self,
        element: Any,
        timestamp=beam.DoFn.TimestampParam,
        window=beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        ahead = self.ahead(element)
        if ahead is not None:
            counter(self.stage, "in")
            yield from self._emit_result(element, ahead, timestamp, window)
            return
        if self._pool is None:
            yield from super().process(element)
            return
        counter(self.stage, "in")
        future = self._submit(element)
        self._in_flight.append(_InFlight(element, timestamp, window, future))
        while self._in_flight and (
            len(self._in_flight) > self._limit or self._in_flight[0].future.done()
        ):
            yield from self._emit(self._in_flight.popleft())

    def finish_bundle(self) -> Iterator[Any]:
        while self._in_flight:
            yield from self._emit(self._in_flight.popleft())

    # -- plumbing ----------------------------------------------------------------------
    def _submit(self, element: Any):
        try:
            return self._pool.submit(run_measured, self._work, element)
        except (BrokenProcessPool, RuntimeError):  # broken, or shut down by a crash
            self._pool = replace_pool(self.workers, self._pool)
            return self._pool.submit(run_measured, self._work, element)

    def _result(self, flight: _InFlight) -> Done | Failed:
        while True:
            try:
                return flight.future.result()
            except BrokenProcessPool:
                if flight.retried:
                    error = WorkerCrashed(
                        "a worker process died while handling this element, twice "
                        "(killed for its memory, or crashed in native code)"
                    )
                    return Failed(error_fields(error), 0)
                self._pool = replace_pool(self.workers, self._pool)
                flight.future, flight.retried = self._submit(flight.element), True
            except Exception as error:  # the result could not cross the process boundary
                return Failed(error_fields(error), 0)

    def _emit(self, flight: _InFlight) -> Iterator[Any]:
        yield from self._emit_result(
            flight.element, self._result(flight), flight.timestamp, flight.window
        )

    def _emit_result(
        self, element: Any, result: Done | Failed, timestamp: Any, window: Any
    ) -> Iterator[Any]:
        self._ms.update(result.ms)
        if isinstance(result, Failed):
            outputs: list[Any] = [self._failure_from(element, result.fields)]
        else:
            try:
                outputs = list(self.outputs(element, result.value))
            except Exception as error:
                outputs = [self.failure_for(element, error)]
        for output in outputs:
            windowed = WindowedValue(output, timestamp, (window,))
            if isinstance(output, Failure):
                counter(output.stage, f"failed.{output.reason}")
                yield pvalue.TaggedOutput(FAILURES, windowed)
            else:
                counter(self.stage, "out")
                yield windowed

    def _failure_from(self, element: Any, fields: dict[str, Any]) -> Failure:
        try:
            url, context = self.describe(element)
        except Exception:
            url, context = "", {}
        return failure_from_fields(fields, self.stage, url, self.run_id, **context)


class InOrderPool:
    """``work(element)`` in the shared worker processes for a DoFn that is not a stage of
    its own (no failure rows): results come back in submission order, each with the
    context given (timestamp, window), and an exception of the work is raised here, as
    it would be by the same code in the DoFn. A worker that dies costs a retry, then the
    element is worked in this process. With ``workers <= 1`` the work runs inline.

    Call ``reset()`` in ``start_bundle`` and ``drain()`` in ``finish_bundle``.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = shared_pool(workers)
        self._limit = IN_FLIGHT_PER_WORKER * max(workers, 1)
        self._in_flight: deque[tuple[Callable[[Any], Any], Any, Any, Any]] = deque()

    def reset(self) -> None:
        self._in_flight.clear()

    def submit(self, work: Callable[[Any], Any], element: Any, context: Any) -> Iterator[Any]:
        """Hand ``element`` over; yields (result, context) of the oldest that are done."""
        if self._pool is None:
            yield work(element), context
            return
        self._in_flight.append((work, element, context, self._submit(work, element)))
        while self._in_flight and (
            len(self._in_flight) > self._limit or self._in_flight[0][3].done()
        ):
            yield self._result(*self._in_flight.popleft())

    def drain(self) -> Iterator[Any]:
        while self._in_flight:
            yield self._result(*self._in_flight.popleft())

    def _submit(self, work: Callable[[Any], Any], element: Any):
        try:
            return self._pool.submit(work, element)
        except (BrokenProcessPool, RuntimeError):  # broken, or shut down by a crash
            self._pool = replace_pool(self.workers, self._pool)
            return self._pool.submit(work, element)

    def _result(self, work: Callable[[Any], Any], element: Any, context: Any, future) -> Any:
        try:
            return future.result(), context
        except BrokenProcessPool:
            self._pool = replace_pool(self.workers, self._pool)
        try:
            return self._submit(work, element).result(), context
        except BrokenProcessPool:  # twice: this element is worked here, the pool replaced
            self._pool = replace_pool(self.workers, self._pool)
            return work(element), context
