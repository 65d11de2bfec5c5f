# db/ sources and tests of the daemon area (target_sources(db PRIVATE ...), lakesync_test(...)).
target_sources(db PRIVATE coordination.cc lease_keeper.cc)

# Leases, run requests and LISTEN/NOTIFY against a real PostgreSQL (LAKESYNC_TEST_DATABASE_URL).
lakesync_test(db_coordination_test
  SOURCES coordination_test.cc
  LIBS db test_pg_fixture
  LABELS integration)
