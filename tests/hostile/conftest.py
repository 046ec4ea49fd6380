"""The hostile suite: fast tests run in ``make test``; the ones marked ``hostile_slow``
(whole runs, kills, storage faults; minutes) only in ``make test-hostile``
(``MARSAD_HOSTILE_SLOW=1``), which CI runs too.

Every test here also runs under an audit hook that refuses any non-loopback
connection from this process (``audited.py``): a regression of the address guard
fails the test instead of sending traffic off the machine.
"""

from __future__ import annotations

import os

from tests.hostile import audited

audited.install(None)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "hostile_slow: whole-run hostile scenarios (make test-hostile)"
    )


def pytest_collection_modifyitems(config, items):
    if os.environ.get("MARSAD_HOSTILE_SLOW") == "1":
        return
    slow = [item for item in items if "hostile_slow" in item.keywords]
    if slow:  # deselected, not skipped: `make test-hostile` runs them
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if "hostile_slow" not in item.keywords]
