#!/usr/bin/env bash
# Builds every libFuzzer target in BUILD_DIR and runs each for SECONDS, JOBS (default 2) at a
# time; any crash fails.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/fuzz.sh BUILD_DIR SECONDS}
seconds=${2:-30}
if ! grep -qx 'LAKESYNC_FUZZ:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  echo "fuzz.sh: $build is not configured with -DLAKESYNC_FUZZ=ON: no fuzz targets"
  exit 0
fi
# The targets, from the CMake files (whatever the generator): add_executable(NAME_fuzz ...).
targets=$(grep -rhoE --include=CMakeLists.txt --include='*.cmake' --exclude-dir='build*' \
  'add_executable\([A-Za-z0-9_]+_fuzz\b' . | sed 's/add_executable(//' | sort -u)
if [ -z "$targets" ]; then
  echo "fuzz.sh: no fuzz targets in the CMake files"
  exit 0
fi
# shellcheck disable=SC2086
cmake --build "$build" --target $targets -j"${JOBS:-2}" >/dev/null
# Undefined behaviour is a crash too.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
pids=()
names=()
for t in $targets; do
  bin=$(find "$build" -type f -name "$t" -perm -u+x | head -1)
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  # Seed inputs, when a module ships them, live in <module>/fuzz/corpus/<target>/.
  seeds=()
  for d in */fuzz/corpus/"$t"; do [ -d "$d" ] && seeds+=("$d"); done
  echo "== fuzz $t for ${seconds}s"
  "$bin" -max_total_time="$seconds" -print_final_stats=1 "$corpus" "${seeds[@]}" \
    >"$build/$t.log" 2>&1 &
  pids+=($!)
  names+=("$t")
  # At most JOBS at once.
  while [ "$(jobs -rp | wc -l)" -ge "${JOBS:-2}" ]; do sleep 1; done
done
failed=0
for i in "${!pids[@]}"; do
  t=${names[$i]}
  if wait "${pids[$i]}"; then
    echo "== fuzz $t: $(grep -m1 'stat::number_of_executed_units' "$build/$t.log" || true)"
  else
    tail -50 "$build/$t.log"
    echo "fuzz.sh: $t crashed" >&2
    failed=1
  fi
done
exit "$failed"
