# The fault-storm suite (issue 10): tests/chaos/. Owned by the chaos work.
#
# chaos_checker_selftest: the storm's independent observer accepts a correct replica and catches
# a file missing before its commit, a changed commit byte, a torn commit, a gap, an overwritten
# commit and a visible incomplete snapshot.
add_test(NAME chaos_checker_selftest
         COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/chaos/checker.py selftest)
set_tests_properties(chaos_checker_selftest PROPERTIES LABELS unit)

# chaos_storm: the short storm (≈45 s of faults, ≈1.5-2 min in all) against the real binary.
# Needs LAKESYNC_TEST_DATABASE_URL (skipped loudly, exit 77, when unset); starts its own
# throwaway PostgreSQL so that it can restart it. `--long SECONDS`: see tests/chaos/README.md.
add_test(NAME chaos_storm
         COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/chaos/storm.py
                 --lakesync $<TARGET_FILE:lakesync>)
# The longest test: started first (COST) so that the others run beside it.
set_tests_properties(chaos_storm PROPERTIES LABELS e2e SKIP_RETURN_CODE 77 TIMEOUT 600 COST 100)
