#!/usr/bin/env python3
"""Checks of the shipped monitoring files that need no Prometheus server.

  check_monitoring.py check [--promtool PATH]
      - every alert in charts/rules/lakesync.rules.yml has a `promtool test rules` case in
        charts/rules/tests/*.yml in which it fires (non-empty exp_alerts);
      - every PromQL expression of charts/dashboards/lakesync.json (Grafana variables replaced)
        is valid PromQL (promtool check rules on a generated rule file) and aggregates away the
        `runner` label (starts with an aggregation), so that several runners never double-count;
      - every lakesync_* metric the dashboard and the rules use is documented in docs/metrics.md,
        and every panel has a datasource and at least one query.
  check_monitoring.py exprs [--rate-interval 30s]
      prints the dashboard's expressions, Grafana variables replaced, one per line (used by the
      end-to-end test, which evaluates each against a real Prometheus).

Exit 0 ok, 1 with the failures listed, 77 when promtool is missing (ctest SKIP_RETURN_CODE).
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CHARTS = os.path.dirname(HERE)
ROOT = os.path.dirname(CHARTS)
RULES = os.path.join(CHARTS, "rules", "lakesync.rules.yml")
DASHBOARD = os.path.join(CHARTS, "dashboards", "lakesync.json")
DOC = os.path.join(ROOT, "docs", "metrics.md")


def dashboard_exprs(rate_interval="30s"):
    """(panel title, expression with Grafana variables replaced) for every query."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            e = t["expr"]
            e = e.replace("$__rate_interval", rate_interval).replace("$__interval", rate_interval)
            e = e.replace("$__range", "1h")
            e = e.replace('=~"$job"', '=~".+"')
            if "$" in e:
                raise ValueError(f"panel {p['title']!r}: unknown variable in {t['expr']}")
            out.append((p["title"], e))
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((\w+), *\w+\)", v["query"]["query"])
            if not m:
                raise ValueError(f"variable {v['name']}: unsupported query {v['query']}")
            out.append((f"variable {v['name']}", m.group(1)))
    return out


def check(promtool):
    failures = []
    with open(RULES) as f:
        rules = yaml.safe_load(f)
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    fired = set()
    for path in glob.glob(os.path.join(CHARTS, "rules", "tests", "*.yml")):
        with open(path) as f:
            t = yaml.safe_load(f)
        for case in t.get("tests", []):
            for a in case.get("alert_rule_test", []):
                if a.get("exp_alerts"):
                    fired.add(a["alertname"])
    for a in sorted(alerts - fired):
        failures.append(f"alert {a} has no promtool test case in which it fires")

    with open(DASHBOARD) as f:
        dash = json.load(f)
    for p in dash["panels"]:
        if p["type"] == "row":
            continue
        if not p.get("datasource") or not p.get("targets"):
            failures.append(f"panel {p['title']!r} has no datasource or no query")
    exprs = dashboard_exprs()
    aggregations = ("max by", "sum by", "sum(", "count(", "count by", "min by",
                    "histogram_quantile(", "time() - max by")
    for title, e in exprs:
        if title.startswith("variable"):
            continue
        if not e.startswith(aggregations):
            failures.append(f"panel {title!r}: {e} does not aggregate across runners")

    with open(DOC) as f:
        doc = f.read()
    used = set(re.findall(r"\blakesync_[a-z_]+", json.dumps(dash) + open(RULES).read()))
    for name in sorted(used):
        base = re.sub(r"_(bucket|sum|count)$", "", name) if name.startswith(
            "lakesync_run_duration_seconds") else name
        if f"`{base}" not in doc:
            failures.append(f"{name} is used by the dashboard or rules but not documented in docs/metrics.md")

    # Valid PromQL: promtool parses every expression as a recording rule.
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:expr_{i}", "expr": e} for i, (_, e) in enumerate(exprs)]}]}, f)
        name = f.name
    try:
        p = subprocess.run([promtool, "check", "rules", name], capture_output=True, text=True)
        if p.returncode != 0:
            failures.append(f"dashboard PromQL rejected by promtool:\n{p.stdout}{p.stderr}")
    finally:
        os.unlink(name)

    if failures:
        print("check_monitoring: FAILED")
        for f in failures:
            print("  - " + f)
        return 1
    print(f"check_monitoring: ok ({len(alerts)} alerts all tested, {len(exprs)} dashboard "
          f"expressions valid and aggregated, {len(used)} metric names documented)")
    return 0


def main():
    args = sys.argv[1:]
    if args[:1] == ["exprs"]:
        ri = args[args.index("--rate-interval") + 1] if "--rate-interval" in args else "30s"
        for _, e in dashboard_exprs(ri):
            print(e)
        return 0
    if args[:1] == ["check"]:
        promtool = args[args.index("--promtool") + 1] if "--promtool" in args else (
            shutil.which("promtool") or "/usr/bin/promtool")
        if not os.path.exists(promtool):
            print(f"SKIPPED: {promtool} not found; scripts/install-deps.sh installs the "
                  f"prometheus package (promtool)")
            return 77
        return check(promtool)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
