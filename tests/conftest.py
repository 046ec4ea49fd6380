import tempfile

import pytest

from marsad.samplesite import SampleSite
from pipeline.launch import REQUIREMENTS_CACHE


@pytest.fixture(scope="session")
def sample_site():
    """The bundled sample site on loopback, free ports, for the whole session."""
    with SampleSite(port=0) as site:
        yield site


@pytest.fixture
def launch_leftovers(tmp_path, monkeypatch):
    """The system's temp folder is a fresh one for this test; the fixture is a function
    listing what was left there, but Beam's requirements cache (kept on purpose)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return lambda: sorted(p.name for p in folder.iterdir() if p.name != REQUIREMENTS_CACHE)
