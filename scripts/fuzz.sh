#!/usr/bin/env bash
# Builds and runs every libFuzzer target in BUILD_DIR for SECONDS each; any crash fails.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/fuzz.sh BUILD_DIR SECONDS}
seconds=${2:-30}
targets=$(cmake --build "$build" --target help | sed -n 's/^\.\.\. \(.*_fuzz\)$/\1/p')
if [ -z "$targets" ]; then
  echo "fuzz.sh: no fuzz targets in $build"
  exit 0
fi
# Undefined behaviour is a crash too.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
for t in $targets; do
  cmake --build "$build" --target "$t" -j"${JOBS:-2}" >/dev/null
  bin=$(find "$build" -type f -name "$t" -perm -u+x | head -1)
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  # Seed inputs, when a module ships them, live in <module>/fuzz/corpus/<target>/.
  seeds=()
  for d in */fuzz/corpus/"$t"; do [ -d "$d" ] && seeds+=("$d"); done
  echo "== fuzz $t for ${seconds}s"
  "$bin" -max_total_time="$seconds" -print_final_stats=1 "$corpus" "${seeds[@]}" \
    >"$build/$t.log" 2>&1 || { tail -50 "$build/$t.log"; echo "fuzz.sh: $t crashed" >&2; exit 1; }
  tail -1 "$build/$t.log"
done
