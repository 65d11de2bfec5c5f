# runner/ sources and tests of the consolidation area. kind_consolidation.cc (RunConsolidationJob,
# ProbeConsolidationLag) is listed in runner/CMakeLists.txt; its behaviour is tested end to end
# by tests/consolidation_test.cc.
