#!/usr/bin/env bash
# clang-format over the project's C++ files. --check: fail (listing files) when any differs.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.h' '*.cc' 2>/dev/null; git ls-files --others --exclude-standard '*.h' '*.cc' 2>/dev/null)
[ ${#files[@]} -gt 0 ] || exit 0
if [ "${1:-}" = --check ]; then
  bad=()
  for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    clang-format --style=file "$f" | cmp -s - "$f" || bad+=("$f")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    echo "format.sh: not clang-formatted (run: make format):" >&2
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
  fi
else
  clang-format --style=file -i "${files[@]}"
fi
