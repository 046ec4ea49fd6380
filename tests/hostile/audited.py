"""Run the ``marsad`` CLI with an audit hook that refuses and logs any non-loopback socket.

``MARSAD_CONNECT_LOG`` names a file that receives one JSON line per connection
attempt (address, allowed). A connection to anything but 127.0.0.0/8 or ::1 is
aborted before it is made — so the hostile suite can neither send traffic off this
machine nor miss it if the SSRF guard ever regresses.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys


def _loopback(host: object) -> bool:
    try:
        address = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def install(log_path: str | None) -> None:
    log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115

    def hook(event: str, args: tuple) -> None:
        if event != "socket.connect":
            return
        address = args[1]
        if not isinstance(address, tuple):  # AF_UNIX paths
            return
        allowed = _loopback(address[0])
        if log is not None:
            log.write(json.dumps({"address": str(address[0]), "allowed": allowed}) + "\n")
            log.flush()
        if not allowed:
            raise ConnectionRefusedError(f"hostile suite: refusing non-loopback {address[0]}")

    sys.addaudithook(hook)


if __name__ == "__main__":
    install(os.environ.get("MARSAD_CONNECT_LOG"))
    from pipeline.cli import main

    sys.exit(main(sys.argv[1:]))
