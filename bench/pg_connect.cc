// pg_connect: the floor under a fresh `lakesync run`: a process that only loads libpq, opens
// one connection to the state store and closes it (no configuration, no engine, no query).
// No process that links libpq and connects the same way can be faster; bench/run.sh times it
// beside `lakesync run` so the report says how much of the fresh run is lakesync's own.
//
//   pg_connect URL      exit 0 after PQconnectdb(URL) succeeded and PQfinish; 1 (with libpq's
//                       message on stderr) when the connection failed
#include <libpq-fe.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: pg_connect URL\n");
    return 2;
  }
  PGconn* conn = PQconnectdb(argv[1]);
  const bool ok = PQstatus(conn) == CONNECTION_OK;
  if (!ok) std::fprintf(stderr, "pg_connect: %s", PQerrorMessage(conn));
  PQfinish(conn);
  return ok ? 0 : 1;
}
