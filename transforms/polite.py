"""Shared machinery of FetchFeeds and FetchArticles: group URLs by host, batch
hosts, and fetch each batch with a ``PoliteFetcher`` owned by the DoFn.

Grouping by host puts all of a host's URLs on one worker, so the per-host
limits hold for the whole job, not per worker. Results are yielded as they
complete, so downstream fused steps (parsing, extraction) run while the pool
keeps fetching.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.typehints import Tuple

from marsad.feeds.urls import host_of
from marsad.fetch.crawl import PoliteFetcher, PolitenessConfig
from marsad.fetch.http import FetchConfig, HttpClient, HttpResponse
from marsad.fetch.warc import WarcArchive
from schemas.records import Failure
from transforms.common import FAILURES, METRICS_NAMESPACE, counter, failure_from_error


class PoliteFetchFn(beam.DoFn):
    """Fetch a batch of elements; subclasses say what to request and what to emit."""

    stage = "fetch"
    accept = "*/*"

    def __init__(
        self,
        run_id: str,
        fetch: FetchConfig,
        politeness: PolitenessConfig,
        warc_dir: str | None = None,
    ) -> None:
        self.run_id = run_id
        self.fetch_config = fetch
        self.politeness = politeness
        self.warc_dir = warc_dir

    # -- for subclasses --------------------------------------------------------------
    def url_of(self, element: Any) -> str:
        raise NotImplementedError

    def headers_for(self, element: Any, side: Any) -> dict[str, str] | None:
        return None

    def on_response(self, element: Any, response: HttpResponse, side: Any) -> Iterable[Any]:
        raise NotImplementedError

    def describe(self, element: Any) -> dict[str, Any]:
        return {}

    # -- Beam ------------------------------------------------------------------------
    def setup(self) -> None:
        self.client = HttpClient(self.fetch_config)
        self.fetcher = PoliteFetcher(self.client, self.politeness)
        self._ms = Metrics.distribution(METRICS_NAMESPACE, f"{self.stage}.ms")

    def teardown(self) -> None:
        self.fetcher.close()
        self.client.close()

    def _open_archive(self) -> WarcArchive | None:
        """One WARC file per batch: bundle callbacks' order is not ours to rely on."""
        if not self.warc_dir:
            return None
        path = FileSystems.join(
            self.warc_dir, f"{self.stage}-{self.run_id}-{uuid.uuid4().hex[:12]}.warc.gz"
        )
        # warcio gzips each record itself; FileSystems must not compress again.
        return WarcArchive(
            lambda: FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)
        )

    def process(self, batch: list[tuple[str, list[Any]]], side: Any = None):
        self.archive = self._open_archive()
        try:
            yield from self._process_batch(batch, side)
        finally:
            if self.archive is not None:
                self.archive.close()

    def _process_batch(self, batch: list[tuple[str, list[Any]]], side: Any):
        elements = [element for _host, group in batch for element in group]
        requests = []
        for element in elements:
            counter(self.stage, "in")
            try:
                requests.append((self.url_of(element), element, self.headers_for(element, side)))
            except Exception as error:  # never lose the element: it becomes its failure row
                failure = self._failure(element, error)
                counter(failure.stage, f"failed.{failure.reason}")
                yield pvalue.TaggedOutput(FAILURES, failure)
        started = time.perf_counter()
        for element, result in self.fetcher.fetch_all(requests, self.accept):
            outputs: list[Any]
            if isinstance(result, HttpResponse):
                if self.archive is not None:
                    self.archive.write_response(
                        result.final_url, result.status, result.headers, result.body
                    )
                try:
                    outputs = list(self.on_response(element, result, side))
                except Exception as error:
                    outputs = [self._failure(element, error)]
            else:
                outputs = [self._failure(element, result)]
            for output in outputs:
                if isinstance(output, Failure):
                    counter(output.stage, f"failed.{output.reason}")
                    yield pvalue.TaggedOutput(FAILURES, output)
                elif isinstance(output, pvalue.TaggedOutput):
                    yield output
                else:
                    counter(self.stage, "out")
                    yield output
        if elements:
            elapsed_ms = (time.perf_counter() - started) * 1000
            self._ms.update(int(elapsed_ms / len(elements)))

    def _failure(self, element: Any, error: BaseException) -> Failure:
        try:
            url, context = self.url_of(element), self.describe(element)
        except Exception:  # a broken element still gets its row
            url, context = "", {}
        return failure_from_error(error, self.stage, url, self.run_id, **context)


def _safe_host(url_of, element: Any) -> str:
    """Host to group by; an element whose URL cannot be read fails later, in the fetch step."""
    try:
        return host_of(url_of(element))
    except Exception:
        return ""


class FetchPolitely(beam.PTransform):
    """Key by host, group, batch hosts, and fetch with ``fn``. Returns the tagged result."""

    def __init__(self, fn: PoliteFetchFn, side_input: Any = None, hosts_per_batch: int = 64):
        super().__init__()
        self.fn = fn
        self.side_input = side_input
        self.hosts_per_batch = hosts_per_batch

    def expand(self, pcoll):
        url_of = self.fn.url_of
        batched = (
            pcoll
            | "KeyByHost"
            >> beam.Map(lambda e: (_safe_host(url_of, e), e)).with_output_types(Tuple[str, Any])
            | "GroupByHost" >> beam.GroupByKey()
            | "BatchHosts"
            >> beam.BatchElements(
                min_batch_size=self.hosts_per_batch, max_batch_size=self.hosts_per_batch
            )
        )
        args = [self.side_input] if self.side_input is not None else []
        return batched | "Fetch" >> beam.ParDo(self.fn, *args).with_outputs(
            FAILURES, "state", main="main"
        )
