# The scheduler's pure decision logic (no threads, no I/O): which job runs when, retries with
# backoff, timeouts. The daemon drives it.
add_library(runner_scheduler ${CMAKE_CURRENT_LIST_DIR}/scheduler.cc)
target_link_libraries(runner_scheduler PUBLIC runner_config db common)

lakesync_test(runner_scheduler_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/scheduler_test.cc
  LIBS runner_scheduler
  LABELS unit)
