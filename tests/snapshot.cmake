# End-to-end tests of snapshot jobs and restores: the real binary, real PostgreSQL, real
# SIGKILLs, judged by tools/delta_facts.py snapshot-check.
lakesync_test(snapshot_e2e_test
  SOURCES snapshot_test.cc
  LIBS test_pg_fixture
  LABELS e2e)
add_dependencies(snapshot_e2e_test lakesync)
