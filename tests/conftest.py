import pytest

from marsad.samplesite import SampleSite


@pytest.fixture(scope="session")
def sample_site():
    """The bundled sample site on loopback, free ports, for the whole session."""
    with SampleSite(port=0) as site:
        yield site
