# runner/ sources and tests of the daemon area (target_sources(runner PRIVATE ...), lakesync_test(...)).
# cmd_daemon.cc, cmd_trigger.cc and cmd_run.cc are listed in runner/CMakeLists.txt.
find_package(Poco REQUIRED COMPONENTS NetSSL)
target_sources(runner PRIVATE daemon.cc http_server.cc notifier.cc)
target_link_libraries(runner PRIVATE runner_scheduler metrics Poco::Net Poco::NetSSL)

# The HTTP adapter and the notifier against local servers (no database needed).
lakesync_test(runner_daemon_unit_test
  SOURCES http_server_test.cc notifier_test.cc
  LIBS runner simdjson::simdjson
  LABELS unit)
