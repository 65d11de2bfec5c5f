# jobs/ sources and tests of the snapshot area: snapshot jobs, retention and restores.
target_sources(jobs PRIVATE snapshot.cc snapshot_files.cc restore.cc)
target_link_libraries(jobs PRIVATE simdjson::simdjson)

# SnapshotFixturesTest.EveryFixtureAtSeveralVersions checks 38 snapshots with the Python
# checker (≈22 s): started early.
lakesync_test(jobs_snapshot_test
  SOURCES snapshot_test.cc restore_test.cc
  LIBS jobs delta storage
  LABELS unit
  COST 5)
