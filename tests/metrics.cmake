# Tests of the metrics area: the shipped rules, dashboard and Helm chart (unit), and a real
# Prometheus scraping a real `lakesync daemon` (e2e). promtool and prometheus come from the Debian
# `prometheus` package (scripts/install-deps.sh); without them the tests report SKIPPED (77).
set(LAKESYNC_CHARTS ${PROJECT_SOURCE_DIR}/charts)

# promtool check rules / test rules (every alert has a case: see check_monitoring.py).
add_test(NAME metrics_rules_check
  COMMAND sh -c "command -v promtool >/dev/null || { echo 'SKIPPED: promtool not installed (scripts/install-deps.sh installs the prometheus package)'; exit 77; }; exec promtool check rules \"$0\""
          ${LAKESYNC_CHARTS}/rules/lakesync.rules.yml)
add_test(NAME metrics_rules_unit
  COMMAND sh -c "command -v promtool >/dev/null || { echo 'SKIPPED: promtool not installed (scripts/install-deps.sh installs the prometheus package)'; exit 77; }; exec promtool test rules \"$@\"" promtool
          ${LAKESYNC_CHARTS}/rules/tests/lakesync_rules_test.yml)
# Dashboard PromQL valid and aggregated across runners, every alert tested, every metric documented.
add_test(NAME metrics_monitoring_check
  COMMAND python3 ${LAKESYNC_CHARTS}/tests/check_monitoring.py check)
# The Helm chart rendered by emulation (helm is not available here), with default values and with
# every optional block on; the rendered jobs file is validated by the real binary.
add_test(NAME metrics_chart_check
  COMMAND python3 ${LAKESYNC_CHARTS}/tests/check_chart.py --lakesync $<TARGET_FILE:lakesync>
          ${LAKESYNC_CHARTS}/lakesync)
add_test(NAME metrics_chart_check_full_values
  COMMAND python3 ${LAKESYNC_CHARTS}/tests/check_chart.py --lakesync $<TARGET_FILE:lakesync>
          --values ${LAKESYNC_CHARTS}/tests/values-full.yaml ${LAKESYNC_CHARTS}/lakesync)
set_tests_properties(metrics_rules_check metrics_rules_unit metrics_monitoring_check
                     metrics_chart_check metrics_chart_check_full_values
  PROPERTIES LABELS unit SKIP_RETURN_CODE 77)

# A real Prometheus scraping a real daemon (needs LAKESYNC_TEST_DATABASE_URL and
# /usr/bin/prometheus; skips loudly otherwise).
lakesync_test(metrics_e2e_test
  SOURCES metrics_test.cc
  LIBS test_pg_fixture Poco::Net Poco::Foundation simdjson::simdjson
  LABELS e2e)
target_compile_definitions(metrics_e2e_test PRIVATE DELTA_GEN_BINARY="$<TARGET_FILE:delta_gen>")
add_dependencies(metrics_e2e_test lakesync delta_gen)
