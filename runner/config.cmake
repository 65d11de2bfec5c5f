# Configuration loader and cron engine. yaml-cpp is linked PRIVATE: no yaml-cpp header may
# appear in config.h, so nothing above this target sees it.
add_library(runner_config config.cc cron.cc)
target_link_libraries(runner_config PUBLIC common PRIVATE yaml-cpp)

lakesync_test(runner_config_test
  SOURCES config_test.cc cron_test.cc
  LIBS runner_config
  LABELS unit)

if(LAKESYNC_FUZZ AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  add_executable(runner_config_fuzz ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/config_fuzz.cc)
  target_compile_options(runner_config_fuzz PRIVATE -fsanitize=fuzzer,address)
  target_link_options(runner_config_fuzz PRIVATE -fsanitize=fuzzer,address)
  target_link_libraries(runner_config_fuzz PRIVATE runner_config)
endif()
