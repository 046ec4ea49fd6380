"""A local run starts without the Google Cloud client libraries.

Beam imports its Google Cloud connectors whenever they are installed (the ``gcp``
extra: the BigQuery, Pub/Sub, Cloud Storage and Dataflow clients and their auth and
gRPC stacks), and its MongoDB connector's driver, whatever the pipeline uses: about
1 s of CPU on every start of ``marsad`` (docs/performance.md, tenth round). A command
that names no ``gs://`` path and no remote runner cannot use them. For such a command
the ``marsad`` entry point marks them absent in ``sys.modules`` before Beam is imported
(the way Python documents to stop an import: it then raises ``ModuleNotFoundError``,
and ``importlib.util.find_spec`` answers None), so Beam starts as it does in an
install without the extra, the demo's. Anything else (a ``gs://`` path anywhere on the
command line, ``--runner DataflowRunner`` or any runner not known to be local) loads
them as before.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

# What the ``gcp`` extra brings that Beam imports eagerly, and the MongoDB driver (a
# dependency of Beam itself that marsad never uses). ``google.protobuf`` stays: Beam
# needs it.
CLOUD_CLIENT_PACKAGES = (
    "google.cloud",
    "google.auth",
    "google.oauth2",
    "google.api_core",
    "apitools",
    "pymongo",
)

# Runners that run in this process or its children (names as Beam accepts them,
# lower-cased; "" is no --runner at all, marsad's local FnApiRunner).
LOCAL_RUNNERS = frozenset(
    {
        "",
        "direct",
        "directrunner",
        "switchingdirectrunner",
        "fnapirunner",
        "bundlebaseddirectrunner",
    }
)


def _runner_names(argv: Sequence[str]) -> list[str]:
    names = []
    for position, argument in enumerate(argv):
        if argument == "--runner":
            names.append(argv[position + 1] if position + 1 < len(argv) else "")
        elif argument.startswith("--runner="):
            names.append(argument.split("=", 1)[1])
    return names


def needs_cloud_clients(argv: Sequence[str]) -> bool:
    """Whether the command ``argv`` (without the program name) may use Google Cloud."""
    if any("gs://" in argument for argument in argv):
        return True
    return any(name.rsplit(".", 1)[-1].lower() not in LOCAL_RUNNERS for name in _runner_names(argv))


def skip_cloud_clients(argv: Sequence[str]) -> bool:
    """Mark the cloud client packages absent unless ``argv`` may need them or one of them
    is already imported; True when they were marked. Call before importing Beam."""
    if needs_cloud_clients(argv):
        return False
    # A namespace package's ``*-nspkg.pth`` puts an empty ``google.cloud`` in
    # sys.modules at start-up: that is not an import of the clients, their modules are.
    prefixes = tuple(name + "." for name in CLOUD_CLIENT_PACKAGES)
    if any(loaded.startswith(prefixes) for loaded in sys.modules):
        return False  # too late: something imported them already
    for name in CLOUD_CLIENT_PACKAGES:
        sys.modules[name] = None  # type: ignore[assignment]
    return True
