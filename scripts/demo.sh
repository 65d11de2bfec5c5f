#!/usr/bin/env bash
# The README's demo command (`make demo`): installs what is missing, builds, starts a
# throwaway PostgreSQL unless LAKESYNC_DATABASE_URL is set (stopped again at the end), then
# shows lakesync at work on examples/demo.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"${JOBS:-2}" --target lakesync
ls=$root/build/runner/lakesync

pg_dir=$root/.lakesync/pg-demo
started_pg=0
cleanup() {
  if [ "$started_pg" = 1 ]; then bash scripts/pg.sh stop "$pg_dir" || true; fi
}
trap cleanup EXIT
if [ -z "${LAKESYNC_DATABASE_URL:-}" ]; then
  echo "== starting a throwaway PostgreSQL in $pg_dir"
  eval "$(bash scripts/pg.sh start "$pg_dir")"
  started_pg=1
fi

step() { echo; echo "\$ $*"; "$@"; }

# The demo's regions live under .lakesync/demo.
export LAKESYNC_DEMO_ROOT=$root/.lakesync/demo
mkdir -p "$LAKESYNC_DEMO_ROOT"/{eastus,westus,global}

# production.yaml reads its webhook from the environment; give the validation a stand-in.
export SLACK_WEBHOOK_URL=${SLACK_WEBHOOK_URL:-https://hooks.example.invalid/services/demo}
for f in examples/*.yaml; do step "$ls" validate -c "$f"; done
step "$ls" db migrate
step "$ls" status -c examples/demo.yaml
if [ -d "$root/../shared/fixtures/delta/simple_table" ]; then
  step "$ls" inspect "$root/../shared/fixtures/delta/simple_table"
fi
