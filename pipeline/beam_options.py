"""Two costs of Beam's graph construction that grow with the number of transforms.

1. ``PipelineOptions.view_as(cls)`` builds a new argparse parser for ``cls`` and parses
   the flags again on every call, about 1 ms each. Beam calls it several times per
   transform while the graph is built (type checking asks ``TypeOptions`` at every
   apply, result type inference and ``is_consistent_with`` again): a run's ~240
   transforms cost about 900 calls. A view holds no values of its own (every view of
   one options object reads and writes the same ``_all_options`` dict), so
   ``CachedViewOptions`` hands back the view built the first time: a subclass of ours.

2. ``apache_beam.transforms.userstate.get_dofn_specs(dofn)`` runs ``inspect.signature``
   on every method of the DoFn (about thirty, most of them ``DoFn``'s own) to find state
   and timer parameters, and Beam asks it three times per ParDo while building and
   translating the graph (``is_stateful_dofn``, ``validate_stateful_dofn``,
   ``to_runner_api``), then again in every bundle processor: about 0.5–1 s of a run's
   start-up. The answer depends only on the DoFn's methods, which do not change, so
   ``cache_dofn_specs()`` remembers it per DoFn instance (weakly: not on the instance,
   whose pickled copy must not carry copies of its specs, since Beam keys timer
   methods by spec identity). This replaces a Beam function, so it is
   installed only on the Beam versions it was checked against (``CHECKED_BEAM``), and
   ``tests/test_beam_options.py`` checks that it gives Beam's own answers.

``pipeline_options(argv)`` is the one place a run's options are made (batch, streaming,
the dedup command): with both, and a local runner named when none is.

docs/performance.md (third round) has the measurements.
"""

from __future__ import annotations

import weakref

import apache_beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.transforms import userstate

__all__ = ["CHECKED_BEAM", "LOCAL_RUNNER", "CachedViewOptions", "cache_dofn_specs",
           "pipeline_options"]  # fmt: skip

LOCAL_RUNNER = "FnApiRunner"

_VIEWS = "_marsad_views"


class CachedViewOptions(PipelineOptions):
    """``PipelineOptions`` whose ``view_as(cls)`` returns one view per class."""

    def view_as(self, cls):
        views = self.__dict__.get(_VIEWS)
        if views is None:
            views = {}
            object.__setattr__(self, _VIEWS, views)
        view = views.get(cls)
        if view is None or view._all_options is not self._all_options:
            view = views[cls] = super().view_as(cls)
        return view

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop(_VIEWS, None)  # views are rebuilt on demand
        return state


# Beam versions (major, minor) whose get_dofn_specs was read and tested against the cache.
CHECKED_BEAM = ((2, 77),)
_specs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_original_get_dofn_specs = userstate.get_dofn_specs


def _beam_version() -> tuple[int, int]:
    major, minor = apache_beam.__version__.split(".")[:2]
    return int(major), int(minor)


def _cached_get_dofn_specs(dofn):
    """``userstate.get_dofn_specs``, computed once per DoFn instance (fresh sets each
    call, so a caller that changes them changes nothing here)."""
    try:
        specs = _specs.get(dofn)
    except TypeError:  # not weakly referable or not hashable: not cached
        return _original_get_dofn_specs(dofn)
    if specs is None:
        specs = _specs[dofn] = _original_get_dofn_specs(dofn)
    state_specs, timer_specs = specs
    return set(state_specs), set(timer_specs)


def cache_dofn_specs() -> bool:
    """Install the per-DoFn cache of ``get_dofn_specs`` (idempotent). False, and nothing
    changed, on a Beam version it was not checked against."""
    if _beam_version() not in CHECKED_BEAM:
        return False
    userstate.get_dofn_specs = _cached_get_dofn_specs
    return True


def pipeline_options(argv: list[str]) -> PipelineOptions:
    """Beam options from argv; local runs name the runner (no Prism download attempt).
    Each view is built once, and DoFn specs are inspected once (see the module doc)."""
    cache_dofn_specs()
    options = CachedViewOptions(argv)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = LOCAL_RUNNER
    return options
