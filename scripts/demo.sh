#!/usr/bin/env bash
# The README's demo command (`make demo`): installs what is missing, builds, starts a
# throwaway PostgreSQL unless LAKESYNC_DATABASE_URL is set (stopped again at the end), then
# shows lakesync at work on examples/demo.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/install-deps.sh
bash scripts/configure.sh build >/dev/null
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

echo
echo "== a point-in-time snapshot of the same table, listed from its manifests"
step "$ls" run sales_nightly -c examples/demo.yaml
step "$ls" snapshots sales_nightly -c examples/demo.yaml

echo
echo "== consolidation: two regional tables merged into one global table partitioned by region"
for region in eastus westus; do
  "$gen" --table "$LAKESYNC_DEMO_ROOT/$region/delta/regional_sales" --commits 3 --files-per-commit 2 \
    --file-size 16384 >/dev/null
done
step "$ls" run global_sales -c examples/demo.yaml
"$gen" --table "$LAKESYNC_DEMO_ROOT/westus/delta/regional_sales" --commits 2 --files-per-commit 2 \
  --file-size 16384 --remove-every 2 >/dev/null
step "$ls" run global_sales -c examples/demo.yaml
step "$ls" inspect "$LAKESYNC_DEMO_ROOT/global/delta/global_sales"

echo
echo "== the daemon: runs jobs on their schedules, takes manual triggers, serves /metrics"
daemon_log=$root/.lakesync/demo-daemon.log
"$ls" daemon -c examples/demo.yaml >"$daemon_log" 2>&1 &
daemon=$!
stop_daemon() { kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true; }
trap 'stop_daemon; cleanup' EXIT
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's|.* on http://[^ ]*:\([0-9][0-9]*\) .*|\1|p' "$daemon_log" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$daemon_log"; echo "demo: the daemon did not start" >&2; exit 1; }
"$gen" --table "$src" --commits 2 --files-per-commit 3 --file-size 32768 >/dev/null
step "$ls" trigger sales_dr --wait -c examples/demo.yaml
echo
echo "\$ curl -s http://127.0.0.1:$port/metrics | grep 'lakesync_lag'"
python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$port/metrics').read().decode())" |
  grep '^lakesync_lag' || true
stop_daemon
step "$ls" history sales_dr --limit 3 -c examples/demo.yaml
