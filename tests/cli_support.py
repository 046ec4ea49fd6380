"""Running the real ``marsad`` command in tests: plain pipes, or a pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = Path(sys.executable).with_name("marsad")
MARSAD = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pipeline.cli"]
# The fetcher refuses loopback unless told; tests serve everything on loopback.
LOOPBACK = ["--allow_network", "127.0.0.0/8"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def marsad(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run ``marsad ARGS`` with pipes (not a terminal), capturing text output."""
    return subprocess.run(
        [*MARSAD, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def assert_user_error(result: subprocess.CompletedProcess, code: int, reason: str) -> str:
    """Exactly ``marsad: error [reason]: ...`` and a hint on stderr, no traceback."""
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything, everything
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(f"marsad: error [{reason}]: "), result.stderr
    assert lines[1].startswith("  hint: ") and len(lines[1]) > len("  hint: "), result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    return lines[0] + "\n" + lines[1]


@dataclass
class TerminalRun:
    returncode: int
    raw: str

    @property
    def text(self) -> str:
        """What the terminal received, without colour and cursor sequences."""
        return ANSI.sub("", self.raw)


def marsad_in_terminal(*args: str, timeout: float = 300, env: dict | None = None) -> TerminalRun:
    """Run ``marsad ARGS`` with stdout and stderr on a pseudo-terminal (as a person would)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 220, 0, 0))
    environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "220", **(env or {})}
    environment.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [*MARSAD, *args], stdin=slave, stdout=slave, stderr=slave, env=environment, close_fds=True
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        else:
            process.kill()
            raise AssertionError(f"marsad {' '.join(args)} did not finish in {timeout}s")
        process.wait(timeout=30)
    finally:
        os.close(master)
    return TerminalRun(process.returncode, b"".join(chunks).decode("utf-8", "replace"))
