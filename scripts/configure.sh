#!/usr/bin/env bash
# Configures the build directory DIR (cmake -S . -B DIR ARGS...), the one way every script
# does: with Ninja when it is installed (scripts/install-deps.sh installs it; ~7% faster than
# Makefiles here), else Makefiles. A directory configured earlier with the other generator loses
# its CMake cache first (CMake refuses to switch generators in place; everything else in it,
# such as a fuzzing corpus, stays).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/configure.sh DIR [CMAKE_ARGS...]}
shift
generator="Unix Makefiles"
if command -v ninja >/dev/null; then generator=Ninja; fi
if [ -f "$dir/CMakeCache.txt" ] &&
  ! grep -qx "CMAKE_GENERATOR:INTERNAL=$generator" "$dir/CMakeCache.txt"; then
  rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
fi
exec cmake -S . -B "$dir" -G "$generator" "$@"
