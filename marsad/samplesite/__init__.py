"""The bundled offline sample news site: several outlets on loopback, for the demo and tests."""

from marsad.samplesite.server import SampleSite

__all__ = ["SampleSite"]
