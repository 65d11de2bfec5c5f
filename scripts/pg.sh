#!/usr/bin/env bash
# A throwaway local PostgreSQL for the demo and the tests.
#
#   scripts/pg.sh start [DIR]   initdb (first time) + start on a free loopback port; prints
#                               export LAKESYNC_DATABASE_URL=... (also written to DIR/env)
#   scripts/pg.sh stop  [DIR]   stop it (fast shutdown); the data directory stays
#   scripts/pg.sh url   [DIR]   print the URL of the running instance
#   scripts/pg.sh destroy [DIR] stop and remove the data directory
#
# DIR defaults to .lakesync/pg in the project. The server listens on 127.0.0.1 only, with
# password authentication (a random password, so the tests can check it never leaks).
# PostgreSQL refuses to run as root: as root the server runs as the `postgres` user.
set -euo pipefail

cmd=${1:-}
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-$here/.lakesync/pg}
data=$dir/data

find_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  if command -v pg_ctl >/dev/null; then dirname "$(command -v pg_ctl)"; return 0; fi
  echo "pg.sh: PostgreSQL server binaries not found; run scripts/install-deps.sh" >&2
  return 1
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  echo "pg.sh: no free port found" >&2
  return 1
}

is_running() {
  [ -f "$data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

bindir=$(find_bindir)

case "$cmd" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
    if ! as_owner test -w "$dir"; then
      echo "pg.sh: $dir is not writable by the postgres user; pass another DIR" >&2
      exit 1
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
      password=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)
      pwfile=$(mktemp)
      echo "$password" >"$pwfile"
      chmod 644 "$pwfile"
      as_owner "$bindir/initdb" -D "$data" -U lakesync --pwfile="$pwfile" \
        --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; rm -f "$pwfile"; exit 1; }
      rm -f "$pwfile"
      echo "$password" >"$dir/password"
      chmod 600 "$dir/password"
    fi
    password=$(cat "$dir/password")
    if is_running; then
      port=$(sed -n 4p "$data/postmaster.pid")
    else
      port=$(free_port)
      as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$dir' -c max_connections=200 -c fsync=off" \
        start >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
      PGPASSWORD=$password "$bindir/psql" -h 127.0.0.1 -p "$port" -U lakesync -d postgres -qtA \
        -c "SELECT 1 FROM pg_database WHERE datname='lakesync'" | grep -q 1 ||
        PGPASSWORD=$password "$bindir/createdb" -h 127.0.0.1 -p "$port" -U lakesync lakesync
    fi
    url="postgresql://lakesync:$password@127.0.0.1:$port/lakesync"
    echo "LAKESYNC_DATABASE_URL=$url" >"$dir/env"
    echo "export LAKESYNC_DATABASE_URL=$url"
    ;;
  stop)
    if is_running; then as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
    ;;
  url)
    is_running || { echo "pg.sh: not running (scripts/pg.sh start)" >&2; exit 1; }
    sed -n 's/^LAKESYNC_DATABASE_URL=//p' "$dir/env"
    ;;
  destroy)
    if is_running; then as_owner "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null; fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: scripts/pg.sh start|stop|url|destroy [DIR]" >&2
    exit 2
    ;;
esac
