"""A fake Dataflow service (the v1b3 REST API) on loopback, for launch tests.

Beam's Dataflow runner talks REST to ``--dataflow_endpoint`` when it names localhost:
it stages the pipeline to ``--staging_location`` (here a local Cloud Storage emulator),
creates the job, and, when asked to wait, polls the job, its messages and its metrics.
This server answers those calls the way the service does (field names, states,
metric updates with tentative and committed values), records every job it is sent,
and lets a test decide how each job progresses. It runs nothing: the tests check
what marsad submits and how it handles the service's answers.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The REST client sends enums as numbers (``$alt=json;enum-encoding=int``).
_JOB_TYPES = {0: "JOB_TYPE_UNKNOWN", 1: "JOB_TYPE_BATCH", 2: "JOB_TYPE_STREAMING"}
_JOBS = re.compile(r"^/v1b3/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/jobs")


class FakeDataflow:
    """``with FakeDataflow() as service:`` → ``service.endpoint`` for ``--dataflow_endpoint``.

    Each created job starts ``JOB_STATE_PENDING``; ``script`` (states returned by
    successive GETs, the last one repeating) defaults to running forever. ``metrics``
    are user counters reported for every job as ``{name: value}`` in namespace marsad.
    """

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.scripts: dict[str, list[str]] = {}
        self.default_script = ["JOB_STATE_RUNNING"]
        self.metrics: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        self.reject = ""  # when set, job creation answers 400 with this message
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _reply(self, status: int, document: dict) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                service.requests.append(("POST", self.path))
                length = int(self.headers.get("Content-Length") or 0)
                job = json.loads(self.rfile.read(length) or b"{}")
                if service.reject:
                    error = {"code": 400, "message": service.reject, "status": "INVALID_ARGUMENT"}
                    self._reply(400, {"error": error})
                    return
                match = _JOBS.match(self.path.split("?")[0])
                if not match or self.path.split("?")[0] != match.group(0):
                    self._reply(404, {"error": {"code": 404, "message": "not found"}})
                    return
                self._reply(200, service._create(job, match["project"], match["region"]))

            def do_GET(self) -> None:
                service.requests.append(("GET", self.path))
                path = self.path.split("?")[0]
                match = _JOBS.match(path)
                rest = path[match.end() :] if match else ""
                parts = [p for p in rest.split("/") if p]
                if match and not parts:
                    self._reply(200, {"jobs": service._active()})
                    return
                if not match or parts[0] not in service.jobs:
                    self._reply(404, {"error": {"code": 404, "message": "no such job"}})
                    return
                job_id = parts[0]
                if len(parts) == 1:
                    self._reply(200, service._advance(job_id))
                elif parts[1] == "messages":
                    self._reply(200, {"jobMessages": []})
                elif parts[1] == "metrics":
                    self._reply(200, service._metrics())
                else:
                    self._reply(404, {"error": {"code": 404, "message": "unknown call"}})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        # "localhost" in the endpoint makes Beam use the REST transport over plain HTTP.
        return f"http://localhost:{self._server.server_address[1]}"

    def __enter__(self) -> FakeDataflow:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the service's behaviour -------------------------------------------------------
    def _create(self, job: dict, project: str, region: str) -> dict:
        with self._lock:
            job_id = f"2026-11-30_12_00_{next(self._ids):02d}-4242424242"
            created = {
                **job,
                "type": _JOB_TYPES.get(job.get("type"), job.get("type")),
                "id": job_id,
                "projectId": project,
                "location": region,
                "currentState": "JOB_STATE_PENDING",
                "createTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
            self.jobs[job_id] = created
            self.scripts.setdefault(job_id, list(self.default_script))
            return created

    def _advance(self, job_id: str) -> dict:
        with self._lock:
            script = self.scripts[job_id]
            state = script.pop(0) if len(script) > 1 else script[0]
            self.jobs[job_id]["currentState"] = state
            return self.jobs[job_id]

    def _active(self) -> list[dict]:
        """Jobs not in a terminal state (what ``filter=ACTIVE`` lists)."""
        ended = ("DONE", "FAILED", "CANCELLED", "DRAINED", "UPDATED", "STOPPED")
        with self._lock:
            return [
                job
                for job in self.jobs.values()
                if job["currentState"].removeprefix("JOB_STATE_") not in ended
            ]

    def add_running_job(self, name: str) -> str:
        """A job the service runs that was not created through this fake (a template's)."""
        job = self._create({"name": name, "type": "JOB_TYPE_BATCH"}, "marsad-test", "region")
        self.set_state(job["id"], "JOB_STATE_RUNNING")
        self.jobs[job["id"]]["currentState"] = "JOB_STATE_RUNNING"
        return job["id"]

    def set_state(self, job_id: str, state: str) -> None:
        with self._lock:
            self.scripts[job_id] = [state]
            self.jobs[job_id]["currentState"] = state

    def _metrics(self) -> dict:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        updates = []
        for name, value in self.metrics.items():
            for tentative in ("true", "false"):
                context = {"namespace": "marsad", "step": "s1"}
                if tentative == "true":
                    context["tentative"] = "true"
                updates.append(
                    {
                        "name": {"origin": "user", "name": name, "context": context},
                        "scalar": value,
                        "kind": "Sum",
                        "updateTime": now,
                    }
                )
        return {"metricTime": now, "metrics": updates}
