"""``marsad demo`` and ``marsad serve-sample``: the bundled sample site on a usable port.

Article ids derive from canonical URLs, and the sample site's URLs carry its port
(``http://127.77.0.2:PORT/...``). So the demo remembers the port it used in the
output folder (``state/sample_site.json``) and serves on that port again next
time: a second demo on the same output then finds every article "already stored"
instead of storing the sample a second time under new ids. A fresh output gets
the default port if it is free, otherwise a free one the system hands out.
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import socket
from pathlib import Path

from marsad.errors import OutputError, UsageError
from marsad.samplesite import SampleSite
from marsad.samplesite.server import DEFAULT_HOST_PREFIX, DEFAULT_PORT

STATE_FILE = os.path.join("state", "sample_site.json")
_FREE_PORT_TRIES = 20
_log = logging.getLogger(__name__)


def remembered_port(output: str) -> int | None:
    try:
        data = json.loads(Path(output, STATE_FILE).read_text(encoding="utf-8"))
        return int(data["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember_port(output: str, port: int) -> None:
    path = Path(output, STATE_FILE)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"port": port}) + "\n", encoding="utf-8")
    except OSError as error:
        raise OutputError(
            f"--output {output}: cannot write {STATE_FILE} ({error.strerror})",
            reason="output_not_writable",
            hint="choose an output folder you can write to",
        ) from None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _try_start(port: int) -> SampleSite | None:
    """The site serving on ``port``, or None when the port is taken on some outlet."""
    site = SampleSite(port=port)
    try:
        site.start()
    except OSError as error:
        cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
        if cause.errno == errno.EADDRNOTAVAIL:
            raise UsageError(
                f"cannot listen on {DEFAULT_HOST_PREFIX}.x: this system does not route all of "
                "127.0.0.0/8 to the loopback interface",
                reason="loopback_unavailable",
                hint="on macOS add the aliases: for i in 1 2 3 4 5 6 7; do sudo ifconfig lo0 "
                f"alias {DEFAULT_HOST_PREFIX}.$i up; done",
            ) from None
        if cause.errno != errno.EADDRINUSE:
            raise
        return None
    return site


def _busy(port: int, why: str, hint: str) -> UsageError:
    return UsageError(
        f"port {port} is in use on {DEFAULT_HOST_PREFIX}.x{why}", reason="port_busy", hint=hint
    )


def start_sample_site(port: int | None, output: str | None = None) -> SampleSite:
    """Serve the sample site: on ``port`` if given, else the one ``output`` remembers,
    else the default port or any free one. The caller stops it."""
    if port is not None:
        site = _try_start(port)
        if site is None:
            raise _busy(port, "", "leave --port out and marsad picks a free port")
        earlier = remembered_port(output) if output else None
        if earlier is not None and earlier != port:
            _log.warning(
                "earlier demo runs on %s used port %s: article URLs (and ids) differ, so the "
                "sample articles are stored again",
                output,
                earlier,
            )
        return site
    earlier = remembered_port(output) if output else None
    if earlier is not None:
        site = _try_start(earlier)
        if site is not None:
            return site
        from pipeline.lock import OutputLockedError, read_lock

        holder = read_lock(output)
        if holder is not None:
            raise OutputLockedError(
                f"output {output} is in use by demo run {holder.run_id} (pid {holder.pid})"
            )
        raise _busy(
            earlier,
            f", which earlier demo runs on {output} used (article ids include it)",
            "stop the program using it, or give another --output; --port N also works but "
            "stores the sample articles again under new ids",
        )
    host = f"{DEFAULT_HOST_PREFIX}.1"
    free = (_free_port(host) for _ in range(_FREE_PORT_TRIES))
    for candidate in itertools.chain([DEFAULT_PORT], free):
        site = _try_start(candidate)
        if site is not None:
            return site
    raise _busy(DEFAULT_PORT, " and no free port was found", "free some ports and retry")
