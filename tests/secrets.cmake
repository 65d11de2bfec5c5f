# Secret-leak end-to-end tests (issue 10). Owned by the limits work.
# The password of the database URL and the webhook URL's path never appear in any output of the
# real binary (every command, the daemon's log, notifications, HTTP endpoints, error paths).
lakesync_test(secrets_test
  SOURCES secrets_test.cc
  LIBS test_pg_fixture Poco::Net
  LABELS e2e)
target_compile_definitions(secrets_test PRIVATE DELTA_GEN_BINARY="$<TARGET_FILE:delta_gen>")
add_dependencies(secrets_test lakesync delta_gen)

# Enormous single commits (issue 10): runner.max_commit_actions / max_commit_bytes refuse them
# naming the key; under the limits a million-action commit replicates with bounded memory.
lakesync_test(big_commit_test
  SOURCES big_commit_test.cc
  LIBS test_pg_fixture
  LABELS e2e)
add_dependencies(big_commit_test lakesync)
