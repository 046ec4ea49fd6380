"""Write the Flex Template metadata files from marsad's option declarations.

    python deploy/flex/gen_metadata.py           # rewrite batch/stream.metadata.json
    python deploy/flex/gen_metadata.py --check   # exit 1 if they are out of date

Every marsad option (``pipeline/options.py`` for both templates, plus
``pipeline/stream.py`` for the streaming one) becomes a template parameter with
its help text, default and a validation regex, so the Dataflow console and
``gcloud dataflow flex-template run`` reject a bad value before a launcher VM
starts. tests/test_deploy.py fails when the files drift from the options.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]

from marsad_flex import pipeline_parameters  # noqa: E402

FILES = {"batch": HERE / "batch.metadata.json", "stream": HERE / "stream.metadata.json"}

# Regexes are Java regular expressions, checked by Dataflow against the whole value.
GCS_BUCKET = r"gs://[a-z0-9][-_.a-z0-9]{1,220}[a-z0-9]"
REGEX_BY_NAME = {
    "sources": [rf"^({GCS_BUCKET}|/)\S*\.(ya?ml|opml|xml)$"],
    "output": [rf"^{GCS_BUCKET}(/\S*)?$"],
    "topic": [rf"^({GCS_BUCKET}|/)\S*\.ya?ml$"],
    "run_id": [r"^[A-Za-z0-9][-_.A-Za-z0-9]{0,99}$"],
    "http_user_agent": [r"^[ -~]{1,300}$"],
}
PARAM_TYPE_BY_NAME = {
    "sources": "GCS_READ_FILE",
    "output": "GCS_WRITE_FOLDER",
    "topic": "GCS_READ_FILE",
}
REGEX_BY_TYPE = {
    int: r"^[0-9]{1,9}$",
    float: r"^[0-9]{1,9}(\.[0-9]+)?$",
    "flag": r"^(true|false|True|False)$",
    str: r"^[^\r\n]{1,1000}$",
}
OPTIONAL_NOTE = {
    "sources": " On Dataflow use a gs:// path (default: the outlet list bundled in the image).",
    "output": " On Dataflow this must be a gs:// folder.",
    "max_polls": " Leave at 0 on Dataflow: the job runs until drained.",
}
REQUIRED = {"output"}

TEMPLATES = {
    "batch": {
        "name": "marsad batch",
        "description": "One incremental marsad run: fetch every feed, fetch and extract new "
        "articles, deduplicate, tag, and append Hive-partitioned Parquet (articles/, "
        "failures/) to --output. Safe to schedule: each run adds only what is new.",
    },
    "stream": {
        "name": "marsad stream",
        "description": "marsad as a streaming job: poll the feeds every --poll_interval "
        "seconds with per-feed and dedup state in Beam state; Parquet written per window "
        "of --window_size seconds. Update in place with --update; stop with drain.",
        "streaming": True,
        "supportsAtLeastOnce": False,
        "supportsExactlyOnce": True,
        "defaultStreamingMode": "STREAMING_MODE_EXACTLY_ONCE",
    },
}


def _kind(action: argparse.Action) -> object:
    if isinstance(action, argparse._StoreTrueAction):
        return "flag"
    return action.type or str


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def parameter(action: argparse.Action) -> dict:
    name = action.dest
    kind = _kind(action)
    entry: dict = {
        "name": name,
        "label": _label(name),
        "helpText": (action.help or "") + OPTIONAL_NOTE.get(name, ""),
        "isOptional": name not in REQUIRED,
        "regexes": REGEX_BY_NAME.get(name, [REGEX_BY_TYPE[kind]]),
        "paramType": PARAM_TYPE_BY_NAME.get(name, "TEXT"),
    }
    if kind == "flag":
        entry["defaultValue"] = "false"
    elif action.default is not None:
        entry["defaultValue"] = str(action.default)
    return entry


def metadata(mode: str) -> dict:
    return {
        **TEMPLATES[mode],
        "parameters": [parameter(action) for action in pipeline_parameters(mode)],
    }


def render(mode: str) -> str:
    return json.dumps(metadata(mode), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for mode, path in FILES.items():
        text = render(mode)
        if "--check" in argv:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(
            f"out of date: {', '.join(stale)}; run python deploy/flex/gen_metadata.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
