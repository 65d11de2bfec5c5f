# End-to-end tests of consolidation jobs: the real binary, PostgreSQL, regional tables from the
# fixtures and bench/delta_gen, judged by tools/global_facts.py (which tests itself first).
add_test(NAME global_facts_selftest
         COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/tools/global_facts.py selftest)
set_tests_properties(global_facts_selftest PROPERTIES LABELS unit)

lakesync_test(consolidation_test
  SOURCES consolidation_test.cc
  LIBS test_pg_fixture simdjson::simdjson
  LABELS e2e)
target_compile_definitions(consolidation_test PRIVATE
  DELTA_GEN_BINARY="$<TARGET_FILE:delta_gen>")
add_dependencies(consolidation_test lakesync delta_gen)
