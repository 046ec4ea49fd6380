"""marsad core: Beam-free logic for feed ingestion, extraction, dedup and tagging.

Everything in this package is plain Python, testable without a pipeline; the
``transforms`` package wraps it as Beam composite transforms.
"""

__version__ = "0.1.0"
