#!/usr/bin/env bash
# The README's test command (`make test`): installs what is missing, checks formatting,
# starts a throwaway PostgreSQL unless LAKESYNC_DATABASE_URL is set, builds under
# AddressSanitizer + UndefinedBehaviorSanitizer and runs every test, runs each fuzz target for
# a bounded time, then builds the plain (optimised) binaries with -Werror and runs every test
# again.
#
# Environment:
#   LAKESYNC_DATABASE_URL   use this PostgreSQL instead of a throwaway one (tests create and
#                           drop their own databases in it, so the role needs CREATEDB)
#   LAKESYNC_TEST_QUICK=1   skip the sanitizer pass and the fuzzers (a faster local loop)
#   LAKESYNC_FUZZ_SECONDS   seconds per fuzz target (default 30)
#   JOBS                    build parallelism (default 2)
#   TEST_JOBS               tests run at once (default 3: most of them wait on processes and
#                           PostgreSQL, so a 2-core machine runs 3 at a time without harm)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-2}
test_jobs=${TEST_JOBS:-3}

bash scripts/install-deps.sh

if [ ! -d "$root/../shared/fixtures/delta" ]; then
  echo "############################################################################" >&2
  echo "# ../shared/fixtures/delta is missing: tests that need the Delta fixtures" >&2
  echo "# will report themselves SKIPPED." >&2
  echo "############################################################################" >&2
fi

echo "== format check"
bash scripts/format.sh --check

pg_dir=$root/.lakesync/pg-test
started_pg=0
cleanup() {
  if [ "$started_pg" = 1 ]; then bash scripts/pg.sh destroy "$pg_dir" || true; fi
}
trap cleanup EXIT
if [ -z "${LAKESYNC_DATABASE_URL:-}" ]; then
  echo "== starting a throwaway PostgreSQL in $pg_dir"
  bash scripts/pg.sh destroy "$pg_dir" >/dev/null 2>&1 || true
  eval "$(bash scripts/pg.sh start "$pg_dir")"
  started_pg=1
fi
export LAKESYNC_TEST_DATABASE_URL=$LAKESYNC_DATABASE_URL
unset LAKESYNC_DATABASE_URL  # tests pass it explicitly where they want it

# Each phase says how long it took, so a slow machine's budget can be read off the log.
phase_start=0
took() {
  echo "== $1 took $((SECONDS - phase_start)) s (total $SECONDS s)"
  phase_start=$SECONDS
}

run_suite() {
  local dir=$1
  shift
  echo "== configure $dir ($*)"
  bash scripts/configure.sh "$dir" -DLAKESYNC_WERROR=ON "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; exit 1; }
  echo "== build $dir"
  cmake --build "$dir" -j"$jobs"
  took "build $dir"
  echo "== test $dir"
  ctest --test-dir "$dir" --output-on-failure -j"$test_jobs" --timeout 600
  took "test $dir"
}

took "set-up"
mkdir -p "$root/.lakesync"
if [ "${LAKESYNC_TEST_QUICK:-0}" != 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build-asan -DLAKESYNC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
  unset ASAN_OPTIONS UBSAN_OPTIONS
  if command -v clang++ >/dev/null; then
    echo "== fuzz"
    bash scripts/configure.sh build-fuzz -DLAKESYNC_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >build-fuzz.configure.log 2>&1 ||
      { cat build-fuzz.configure.log; exit 1; }
    bash scripts/fuzz.sh build-fuzz "${LAKESYNC_FUZZ_SECONDS:-30}"
    took "fuzz"
  fi
fi
# The plain (optimised) build runs last so its summary closes the output.
run_suite build
