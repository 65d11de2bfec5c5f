# End-to-end tests of the daemon area: `lakesync daemon` / `trigger` / `run` processes against a
# real PostgreSQL (LAKESYNC_TEST_DATABASE_URL), tables made by bench/delta_gen.
lakesync_test(daemon_test
  SOURCES daemon_test.cc
  LIBS test_pg_fixture Poco::Net
  LABELS e2e)
target_compile_definitions(daemon_test PRIVATE DELTA_GEN_BINARY="$<TARGET_FILE:delta_gen>")
add_dependencies(daemon_test lakesync delta_gen)
