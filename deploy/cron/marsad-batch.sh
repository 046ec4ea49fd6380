#!/usr/bin/env bash
# Scheduled incremental batch run of marsad (cron, systemd timer, or a CI scheduler).
#
# Each run reads what earlier runs wrote to $MARSAD_OUTPUT and adds only new
# articles, so running it hourly is safe. flock keeps two runs from overlapping
# on the same output folder (a slow run simply makes the next one skip).
#
# Environment:
#   MARSAD_HOME     checkout with a built .venv          (default: this script's repo)
#   MARSAD_SOURCES  sources file (.yaml or .opml)        (default: bundled default.yaml)
#   MARSAD_OUTPUT   output folder, local or gs://        (default: /var/lib/marsad/out)
#   MARSAD_LOG_DIR  where each run's summary is appended (default: /var/log/marsad)
set -euo pipefail

MARSAD_HOME=${MARSAD_HOME:-$(cd "$(dirname "$0")/../.." && pwd)}
MARSAD_SOURCES=${MARSAD_SOURCES:-$MARSAD_HOME/marsad/sources/default.yaml}
MARSAD_OUTPUT=${MARSAD_OUTPUT:-/var/lib/marsad/out}
MARSAD_LOG_DIR=${MARSAD_LOG_DIR:-/var/log/marsad}
LOCK=${MARSAD_LOCK:-/tmp/marsad-$(echo "$MARSAD_OUTPUT" | md5sum | cut -c1-12).lock}

mkdir -p "$MARSAD_LOG_DIR"
exec 9>"$LOCK"
if ! flock -n 9; then
    echo "$(date -u +%FT%TZ) marsad: a run on $MARSAD_OUTPUT is still going; skipping" >>"$MARSAD_LOG_DIR/marsad.log"
    exit 0
fi

"$MARSAD_HOME/.venv/bin/marsad" run \
    --sources "$MARSAD_SOURCES" \
    --output "$MARSAD_OUTPUT" \
    --runner FnApiRunner \
    >>"$MARSAD_LOG_DIR/marsad.log" 2>&1
