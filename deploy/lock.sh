#!/usr/bin/env bash
# Regenerate deploy/requirements.lock: every dependency of marsad with the gcp extra,
# pinned, for the Flex Template image (Linux x86_64, CPython 3.11, Beam 2.77.0 to match
# the apache/beam_python3.11_sdk base image). Needs only PyPI.
#
#   deploy/lock.sh                 # uses uv (pip install uv) or, failing that, pip-compile
#   BEAM_VERSION=2.78.0 deploy/lock.sh   # after bumping the image's Beam version too
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BEAM_VERSION=${BEAM_VERSION:-2.77.0}
PYTHON_VERSION=${PYTHON_VERSION:-3.11}
OUT=${OUT:-$ROOT/deploy/requirements.lock}

cd "$ROOT"
UV=${UV:-$(command -v uv || echo "$ROOT/.venv/bin/uv")}
if [ -x "$UV" ]; then
    # The Beam pin comes in on stdin ("-"), which keeps the annotations stable.
    echo "apache-beam[gcp]==$BEAM_VERSION" | "$UV" pip compile pyproject.toml - \
        --extra gcp \
        --python-version "$PYTHON_VERSION" \
        --python-platform x86_64-manylinux_2_28 \
        --custom-compile-command "deploy/lock.sh" \
        --output-file "$OUT" --quiet
elif command -v pip-compile >/dev/null; then
    # pip-compile resolves for the running interpreter: run it from a Python 3.11 on Linux.
    PINS=$(mktemp -d)/beam.in
    echo "apache-beam[gcp]==$BEAM_VERSION" >"$PINS"
    CUSTOM_COMPILE_COMMAND="deploy/lock.sh" pip-compile pyproject.toml "$PINS" \
        --extra gcp --quiet --output-file "$OUT"
else
    echo "need uv or pip-tools: pip install uv" >&2
    exit 1
fi
echo "wrote $OUT ($(grep -c '==' "$OUT") pins)"
