# jobs/ sources and tests of the consolidation area: several regional tables into one global
# table (consolidation.h), its schema/protocol rules (consolidation_schema.h).
target_sources(jobs PRIVATE consolidation.cc consolidation_schema.cc)
target_link_libraries(jobs PRIVATE simdjson::simdjson)

lakesync_test(jobs_consolidation_test
  SOURCES consolidation_test.cc
  LIBS jobs delta storage PkgConfig::XXHASH
  LABELS unit)
