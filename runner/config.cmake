# Configuration loader and cron engine. yaml-cpp is linked PRIVATE: no yaml-cpp header may
# appear in config.h, so nothing above this target sees it.
add_library(runner_config config.cc cron.cc)
target_link_libraries(runner_config PUBLIC common PRIVATE yaml-cpp)

lakesync_test(runner_config_test
  SOURCES config_test.cc cron_test.cc
  LIBS runner_config
  LABELS unit)
