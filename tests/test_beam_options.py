"""Graph construction shortcuts (``pipeline/beam_options.py``): option views built once
behave as views built each time, and the per-DoFn cache of Beam's ``get_dofn_specs``
gives Beam's own answers, travels with no pickled DoFn, and stays off on a Beam version
it was not checked against."""

from __future__ import annotations

import pickle

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.options.pipeline_options import StandardOptions, TypeOptions
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec, on_timer

from pipeline import beam_options
from pipeline.beam_options import CachedViewOptions, cache_dofn_specs


class _Buffered(beam.DoFn):
    """Keyed: buffers values and emits their sum when the end-of-window timer fires."""

    BUFFER = BagStateSpec("buffer", VarIntCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)

    def process(
        self,
        element,
        window=beam.DoFn.WindowParam,
        buffer=beam.DoFn.StateParam(BUFFER),
        flush=beam.DoFn.TimerParam(FLUSH),
    ):
        buffer.add(element[1])
        flush.set(window.end)

    @on_timer(FLUSH)
    def emit(self, key=beam.DoFn.KeyParam, buffer=beam.DoFn.StateParam(BUFFER)):
        yield key, sum(buffer.read())
        buffer.clear()


class _Plain(beam.DoFn):
    def process(self, element):
        yield element


def _names(specs):
    state, timers = specs
    return sorted(s.name for s in state), sorted(t.name for t in timers)


def test_views_are_built_once_and_share_values():
    options = CachedViewOptions(["--runner", "FnApiRunner"])
    assert options.view_as(TypeOptions) is options.view_as(TypeOptions)
    standard = options.view_as(StandardOptions)
    assert standard.runner == "FnApiRunner"
    standard.streaming = True
    # A view built the ordinary way sees what the cached one set, and the other way round.
    fresh = super(CachedViewOptions, options).view_as(StandardOptions)
    assert fresh.streaming is True
    fresh.runner = "BundleBasedDirectRunner"
    assert options.view_as(StandardOptions).runner == "BundleBasedDirectRunner"
    copy = pickle.loads(pickle.dumps(options))
    assert "_marsad_views" not in copy.__dict__
    assert copy.view_as(StandardOptions).streaming is True


def test_cached_specs_are_beams_own(monkeypatch):
    original = beam_options._original_get_dofn_specs
    calls = []

    def counting(dofn):
        calls.append(dofn)
        return original(dofn)

    monkeypatch.setattr(beam_options, "_original_get_dofn_specs", counting)
    stateful, plain, mapped = _Buffered(), _Plain(), beam.Map(len).fn
    for dofn in (stateful, plain, mapped):
        expected = _names(original(dofn))
        assert _names(beam_options._cached_get_dofn_specs(dofn)) == expected
        assert _names(beam_options._cached_get_dofn_specs(dofn)) == expected
    assert _names(original(stateful)) == (["buffer"], ["ts-flush"])
    assert len(calls) == 3  # once per instance
    # The cache is not part of the DoFn: a pickled copy (a bundle processor's) asks again.
    copy = pickle.loads(pickle.dumps(stateful))
    assert _names(beam_options._cached_get_dofn_specs(copy)) == (["buffer"], ["ts-flush"])
    assert len(calls) == 4
    # Callers get fresh sets: changing one leaves the cache as it was.
    beam_options._cached_get_dofn_specs(stateful)[0].clear()
    assert _names(beam_options._cached_get_dofn_specs(stateful)) == (["buffer"], ["ts-flush"])


def test_stateful_pipeline_runs_with_the_cache():
    assert cache_dofn_specs()
    assert userstate.get_dofn_specs is beam_options._cached_get_dofn_specs
    options = CachedViewOptions(["--runner", "FnApiRunner"])
    with beam.Pipeline(options=options) as pipeline:
        sums = (
            pipeline
            | beam.Create([("a", 1), ("b", 2), ("a", 3)])
            | beam.ParDo(_Buffered())
            | "Plain" >> beam.ParDo(_Plain())
        )
        assert_that(sums, equal_to([("a", 4), ("b", 2)]))


def test_cache_stays_off_on_an_unchecked_beam(monkeypatch):
    monkeypatch.setattr(userstate, "get_dofn_specs", beam_options._original_get_dofn_specs)
    monkeypatch.setattr(beam_options.apache_beam, "__version__", "2.99.0")
    assert not cache_dofn_specs()
    assert userstate.get_dofn_specs is beam_options._original_get_dofn_specs


@pytest.mark.parametrize("version", ["2.77.0", "2.77.1rc1"])
def test_checked_versions_install(monkeypatch, version):
    monkeypatch.setattr(userstate, "get_dofn_specs", beam_options._original_get_dofn_specs)
    monkeypatch.setattr(beam_options.apache_beam, "__version__", version)
    assert cache_dofn_specs()
    assert userstate.get_dofn_specs is beam_options._cached_get_dofn_specs
