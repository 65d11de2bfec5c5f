#!/usr/bin/env bash
# The README's demo command (`make demo`): installs what is missing, builds, starts a
# throwaway PostgreSQL unless LAKESYNC_DATABASE_URL is set (stopped again at the end), then
# shows lakesync at work on examples/demo.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"${JOBS:-2}" --target lakesync delta_gen
ls=$root/build/runner/lakesync
gen=$root/build/bench/delta_gen

pg_dir=$root/.lakesync/pg-demo
started_pg=0
cleanup() {
  if [ "$started_pg" = 1 ]; then bash scripts/pg.sh destroy "$pg_dir" || true; fi
}
trap cleanup EXIT
if [ -z "${LAKESYNC_DATABASE_URL:-}" ]; then
  echo "== starting a throwaway PostgreSQL in $pg_dir"
  bash scripts/pg.sh destroy "$pg_dir" >/dev/null 2>&1 || true  # each demo starts afresh
  eval "$(bash scripts/pg.sh start "$pg_dir")"
  started_pg=1
fi

step() { echo; echo "\$ $*"; "$@"; }

# The demo's regions live under .lakesync/demo.
export LAKESYNC_DEMO_ROOT=$root/.lakesync/demo
rm -rf "$LAKESYNC_DEMO_ROOT"
mkdir -p "$LAKESYNC_DEMO_ROOT"/{eastus,westus,global}

# production.yaml reads its webhook from the environment; give the validation a stand-in.
export SLACK_WEBHOOK_URL=${SLACK_WEBHOOK_URL:-https://hooks.example.invalid/services/demo}
for f in examples/*.yaml; do step "$ls" validate -c "$f"; done
step "$ls" db migrate
if [ -d "$root/../shared/fixtures/delta/simple_table" ]; then
  step "$ls" inspect "$root/../shared/fixtures/delta/simple_table"
fi

# The main job: replicate eastus:/delta/sales to westus while the source keeps receiving
# commits, and watch the lag return to 0.
src=$LAKESYNC_DEMO_ROOT/eastus/delta/sales
echo
echo "== a source table in eastus with 20 commits of 5 files each"
"$gen" --table "$src" --commits 20 --files-per-commit 5 --file-size 65536 --remove-every 4 >/dev/null
step "$ls" inspect "$src"
step "$ls" run sales_dr -c examples/demo.yaml
step "$ls" status -c examples/demo.yaml

echo
echo "== the source keeps receiving commits (a writer in the background) while lakesync replicates"
( for _ in $(seq 1 12); do
    "$gen" --table "$src" --commits 1 --files-per-commit 4 --file-size 32768 >/dev/null
    sleep 0.25
  done ) &
writer=$!
for round in 1 2 3 4; do
  sleep 0.6
  echo "-- round $round"
  "$ls" status -c examples/demo.yaml | sed -n '1,2p'
  step "$ls" run sales_dr -c examples/demo.yaml
done
wait "$writer"
echo
echo "== the writer stopped; one more run catches up and the lag is 0"
step "$ls" run sales_dr -c examples/demo.yaml
step "$ls" status -c examples/demo.yaml
step "$ls" verify sales_dr -c examples/demo.yaml
step "$ls" history sales_dr -c examples/demo.yaml
