"""The run lock on Cloud Storage, against fake-gcs-server (which enforces preconditions).

Races are real: several processes start together against the emulator and exactly one
may win. Skipped, with the reason, where the gcp extra or the emulator is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("google.cloud.storage", reason="needs apache-beam[gcp] (google-cloud-storage)")

from pipeline.lock import (
    GcsLockStore,
    OutputLockedError,
    acquire_run_lock,
    lock_store,
    read_lock,
)
from tests.gcs_emulators import EMULATOR_ENV, create_bucket, fake_gcs_server

BUCKET = "marsad-lock"
RACERS = 6

RACER = textwrap.dedent(
    """
    import sys, time
    from pipeline.lock import OutputLockedError, acquire_run_lock
    output, name, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        with acquire_run_lock(output, name, heartbeat_s=0):
            print("WON", flush=True)
            time.sleep(3)  # hold it while the others try
    except OutputLockedError as error:
        print("REFUSED", error.reason, flush=True)
    """
)


@pytest.fixture(scope="module")
def emulator():
    with fake_gcs_server() as endpoint:
        create_bucket(endpoint, BUCKET)
        yield endpoint


@pytest.fixture
def output(emulator, monkeypatch, request):
    monkeypatch.setenv(EMULATOR_ENV, emulator)
    return f"gs://{BUCKET}/{request.node.name}/out"


def _race(output: str, emulator: str) -> list[str]:
    start_at = time.time() + 3.0  # every interpreter is up and waiting by then
    env = {**os.environ, EMULATOR_ENV: emulator}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, output, f"racer-{i}", str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(RACERS)
    ]
    outcomes = []
    for racer in racers:
        stdout, stderr = racer.communicate(timeout=120)
        assert racer.returncode == 0, stderr
        outcomes.append(stdout.strip())
    return outcomes


def test_gs_output_uses_the_precondition_store(output):
    assert isinstance(lock_store(output), GcsLockStore)


def test_exactly_one_of_simultaneous_launches_proceeds(output, emulator):
    outcomes = _race(output, emulator)
    assert sorted(outcomes).count("WON") == 1, outcomes
    assert all(o in ("WON", "REFUSED output_locked") for o in outcomes), outcomes
    assert read_lock(output) is None, "the winner released the lock"


def test_exactly_one_takes_over_a_stale_lock(output, emulator):
    from google.cloud import storage

    old = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    stale = {
        "run_id": "dead-run",
        "host": "gone",
        "pid": 1,
        "token": "deadbeef",
        "started_at": old,
        "heartbeat_at": old,
        "ttl_s": 60.0,
    }
    name = f"{output[len(f'gs://{BUCKET}/') :]}/_lock.json"
    storage.Client(project="t").bucket(BUCKET).blob(name).upload_from_string(
        json.dumps(stale).encode()
    )
    assert read_lock(output).run_id == "dead-run"
    outcomes = _race(output, emulator)
    assert sorted(outcomes).count("WON") == 1, outcomes


def test_live_lock_is_respected_and_release_spares_another_holder(output):
    with acquire_run_lock(output, "run-a", heartbeat_s=0) as held:
        with (
            pytest.raises(OutputLockedError, match="run-a"),
            acquire_run_lock(output, "run-b", pid=os.getppid()),
        ):
            pass
        assert read_lock(output).token == held.info.token
    assert read_lock(output) is None


def test_heartbeat_renews_and_a_takeover_is_noticed(output):
    from google.cloud import storage

    with acquire_run_lock(output, "run-a", heartbeat_s=0) as held:
        first = read_lock(output)
        time.sleep(0.01)
        assert held.refresh()
        renewed = read_lock(output)
        assert renewed.token == first.token and renewed.heartbeat_at > first.heartbeat_at
        # Someone judged us stale and replaced the lock: our next heartbeat must fail,
        # and our release must not delete their lock.
        name = f"{output[len(f'gs://{BUCKET}/') :]}/_lock.json"
        taker = {**json.loads(first.to_json()), "run_id": "taker", "token": "0123abcd"}
        storage.Client(project="t").bucket(BUCKET).blob(name).upload_from_string(
            json.dumps(taker).encode()
        )
        assert not held.refresh()
        assert held.lost
    assert read_lock(output).run_id == "taker"


def test_unreadable_lock_is_taken_over(output):
    from google.cloud import storage

    name = f"{output[len(f'gs://{BUCKET}/') :]}/_lock.json"
    storage.Client(project="t").bucket(BUCKET).blob(name).upload_from_string(b"{not json")
    with acquire_run_lock(output, "mine", heartbeat_s=0):
        assert read_lock(output).run_id == "mine"
