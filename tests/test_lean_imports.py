"""A local command starts without the Google Cloud clients; a cloud one loads them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from pipeline.lean_imports import needs_cloud_clients

CLOUD_INSTALLED = importlib.util.find_spec("google.cloud.storage") is not None


@pytest.mark.parametrize(
    ("argv", "needed"),
    [
        (["run", "--sources", "s.yaml", "--output", "out"], False),
        (["run", "--sources", "s.yaml", "--output", "out", "--runner", "DirectRunner"], False),
        (["run", "--output", "out", "--runner=apache_beam.runners.direct.DirectRunner"], False),
        (["report", "out", "--out", "r.html"], False),
        (["run", "--sources", "s.yaml", "--output", "gs://bucket/out"], True),
        (["run", "--sources", "gs://bucket/s.yaml", "--output", "out"], True),
        (["run", "--output", "out", "--temp_location=gs://bucket/tmp"], True),
        (["run", "--output", "out", "--runner", "DataflowRunner"], True),
        (["stream", "--output", "out", "--runner=dataflow"], True),
        (["run", "--output", "out", "--runner", "FlinkRunner"], True),  # not known local
        (["run", "--output", "out", "--runner"], False),  # the parser reports it
    ],
)
def test_which_commands_may_use_google_cloud(argv, needed):
    assert needs_cloud_clients(argv) is needed


def _python(script: str) -> str:
    """stdout of ``script`` in a fresh interpreter, which must exit 0."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _modules_after_beam(argv: list[str]) -> list[str]:
    """[marked, how many cloud client modules, whether Cloud Storage's] in a fresh
    interpreter after marking for ``argv`` and importing Beam and its FileSystems."""
    script = (
        "import sys\n"
        "from pipeline.lean_imports import skip_cloud_clients\n"
        f"marked = skip_cloud_clients({argv!r})\n"
        "import apache_beam\n"
        "from apache_beam.io.filesystems import FileSystems\n"
        "assert FileSystems.exists('/tmp')\n"
        "loaded = [n for n, m in sys.modules.items() if m is not None\n"
        "          and n.startswith(('google.cloud.', 'google.auth', 'pymongo'))]\n"
        "print(marked, len(loaded), 'google.cloud.storage' in loaded)\n"
    )
    return _python(script).split()


@pytest.mark.skipif(not CLOUD_INSTALLED, reason="the gcp extra is not installed")
def test_a_local_command_imports_beam_without_the_clients_and_a_gs_one_with_them():
    local = _modules_after_beam(["run", "--sources", "s.yaml", "--output", "out"])
    assert local == ["True", "0", "False"]
    marked, loaded, storage = _modules_after_beam(["run", "--output", "gs://bucket/out"])
    assert (marked, storage) == ("False", "True") and int(loaded) > 10


@pytest.mark.skipif(not CLOUD_INSTALLED, reason="the gcp extra is not installed")
def test_the_marsad_command_marks_them_for_a_local_command(tmp_path):
    """Through the entry point itself: ``console`` marks them before Beam is imported."""
    marker = tmp_path / "loaded"
    script = (
        "import atexit, sys, pipeline.cli as cli\n"
        f"marker = {str(marker)!r}\n"
        "atexit.register(lambda: open(marker, 'w').write(str(\n"
        "    sys.modules.get('google.cloud.storage') is not None)\n"
        "    + ' ' + str('apache_beam' in sys.modules)))\n"
        "sys.argv = ['marsad', 'schema', 'articles']\n"
        "cli.console()\n"
    )
    _python(script)
    assert marker.read_text() == "False True"
