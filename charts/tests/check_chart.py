#!/usr/bin/env python3
"""Structural check of the lakesync Helm chart without helm (not installable here).

Renders charts/lakesync/templates with a small emulation of the Go-template subset the chart
uses (if/with/else/end, include of the chart's own helpers, toYaml, nindent, default, quote,
required, .Files.Get, sha256sum), parses every manifest with PyYAML, and checks what the chart
promises: replicas, probes on /healthz and /readyz, the database URL from a Secret as
LAKESYNC_DATABASE_URL, resource requests, the jobs file in a ConfigMap with runner.listen on the
metrics port, a Service and ServiceMonitor (honorLabels, port names that match), a
PrometheusRule carrying exactly charts/rules/lakesync.rules.yml, and the Grafana dashboard
ConfigMap with the sidecar label. Also: every .Values path the templates use exists in
values.yaml, and the files/ links resolve.

Usage: check_chart.py [--values FILE] [--lakesync BINARY] [--print] [CHART_DIR]
  --values FILE      merged over values.yaml (as helm -f does), e.g. tests/values-full.yaml
  --lakesync BINARY  also run `BINARY validate` on the rendered jobs file
  --print            show the rendered manifests
Exit 0 ok, 1 with the failures listed. An emulation cannot prove Helm renders the same; `helm lint` and
`helm template` are the real check where helm exists.
"""

import copy
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

RELEASE = {"Name": "prod", "Namespace": "data", "Service": "Helm"}
ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
failures = []


def fail(msg):
    failures.append(msg)


class Renderer:
    def __init__(self, chart_dir, values):
        self.dir = chart_dir
        self.values = values
        with open(os.path.join(chart_dir, "Chart.yaml")) as f:
            self.chart = yaml.safe_load(f)
        self.used_paths = set()

    # --- expressions ---------------------------------------------------------------------
    def lookup(self, path, dot):
        if path == ".":
            return dot
        parts = path.lstrip(".").split(".")
        if parts[0] == "Values":
            self.used_paths.add(".".join(parts[1:]))
            v = self.values
            for p in parts[1:]:
                if not isinstance(v, dict) or p not in v:
                    fail(f"template uses .Values.{'.'.join(parts[1:])}, not in values.yaml")
                    return None
                v = v[p]
            return v
        if parts[0] == "Chart":
            return {"Name": self.chart["name"], "Version": self.chart["version"],
                    "AppVersion": self.chart["appVersion"]}[parts[1]]
        if parts[0] == "Release":
            return RELEASE[parts[1]]
        # a field of the `with` value
        v = dot
        for p in parts:
            v = v[p]
        return v

    def include(self, name):
        chart = self.chart["name"]
        if name == "lakesync.fullname":
            r = RELEASE["Name"]
            return r if chart in r else f"{r}-{chart}"[:63].rstrip("-")
        if name == "lakesync.selectorLabels":
            return yaml.safe_dump({"app.kubernetes.io/name": chart,
                                   "app.kubernetes.io/instance": RELEASE["Name"]}).strip()
        if name == "lakesync.labels":
            sel = yaml.safe_load(self.include("lakesync.selectorLabels"))
            sel.update({"app.kubernetes.io/version": str(self.values["image"]["tag"] or
                                                         self.chart["appVersion"]),
                        "app.kubernetes.io/managed-by": RELEASE["Service"],
                        "helm.sh/chart": f"{chart}-{self.chart['version']}"})
            return yaml.safe_dump(sel).strip()
        if name == "lakesync.config":
            cfg = copy.deepcopy(self.values["config"])
            runner = cfg.get("runner") or {}
            runner["listen"] = f"0.0.0.0:{self.values['metricsPort']}"
            cfg["runner"] = runner
            return yaml.safe_dump(cfg, sort_keys=True).strip()
        raise ValueError(f"unknown include {name}")

    def command(self, text, dot):
        m = re.fullmatch(r'include "([^"]+)" \.', text)
        if m:
            return self.include(m.group(1))
        m = re.fullmatch(r'\.Files\.Get "([^"]+)"', text)
        if m:
            with open(os.path.join(self.dir, m.group(1))) as f:
                return f.read()
        m = re.fullmatch(r"toYaml (\S+)", text)
        if m:
            return yaml.safe_dump(self.lookup(m.group(1), dot), sort_keys=False).strip()
        m = re.fullmatch(r'required "[^"]*" (\S+)', text)
        if m:
            v = self.lookup(m.group(1), dot)
            if not v:
                fail(f"required value {m.group(1)} is empty")
            return v
        m = re.fullmatch(r"not (\S+)", text)
        if m:
            return not self.lookup(m.group(1), dot)
        if re.fullmatch(r"\.[A-Za-z0-9_.]*|\.", text):
            return self.lookup(text, dot)
        raise ValueError(f"unsupported template command: {text}")

    def pipeline(self, text, dot):
        stages = [s.strip() for s in text.split("|")]
        v = self.command(stages[0], dot)
        for s in stages[1:]:
            if s.startswith("default "):
                v = v or self.command(s[len("default "):], dot)
            elif s == "quote":
                v = json.dumps("" if v is None else str(v))
            elif s == "sha256sum":
                v = hashlib.sha256(str(v).encode()).hexdigest()
            elif s.startswith("nindent "):
                n = int(s.split()[1])
                v = "\n" + "\n".join((" " * n + l) if l else l for l in str(v).split("\n"))
            else:
                raise ValueError(f"unsupported pipeline function: {s}")
        return v

    # --- templates -----------------------------------------------------------------------
    def render(self, text):
        text = re.sub(r"\{\{/\*.*?\*/\}\}\n?", "", text, flags=re.S)
        out = []
        stack = []  # (active, dot, branch_taken)
        active, dot = True, None
        for line in text.split("\n"):
            acts = ACTION.findall(line)
            only = len(acts) == 1 and ACTION.sub("", line).strip() == ""
            head = acts[0].split()[0] if only and acts[0] else ""
            if only and head in ("if", "with"):
                expr = acts[0][len(head):].strip()
                val = self.pipeline(expr, dot) if active else None
                stack.append((active, dot, bool(val)))
                if head == "with" and val:
                    dot = val
                active = active and bool(val)
                continue
            if only and head == "else":
                outer_active, outer_dot, taken = stack[-1]
                active = outer_active and not taken
                dot = outer_dot
                continue
            if only and head == "end":
                active, dot, _ = stack.pop()
                continue
            if not active:
                continue
            if only and "nindent" in acts[0] and line.lstrip().startswith("{{-"):
                # `{{- X | nindent N }}`: trims the preceding newline, then a newline + block.
                out.append(str(self.pipeline(acts[0], dot)).lstrip("\n"))
                continue

            def sub(m):
                v = self.pipeline(m.group(1), dot)
                return str(v).lstrip("\n") if "nindent" in m.group(1) else str(v)
            out.append(ACTION.sub(sub, line))
        return "\n".join(out)


def merge(base, over):
    """helm's values merge: maps merge key by key, anything else replaces."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
    return base


def check(chart_dir, show, values_file=None, lakesync=None):
    with open(os.path.join(chart_dir, "values.yaml")) as f:
        values = yaml.safe_load(f)
    if values_file:
        with open(values_file) as f:
            merge(values, yaml.safe_load(f))
    r = Renderer(chart_dir, values)
    docs = {}
    tdir = os.path.join(chart_dir, "templates")
    for name in sorted(os.listdir(tdir)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(tdir, name)) as f:
            rendered = r.render(f.read())
        if show:
            print(f"--- # {name}\n{rendered}")
        try:
            doc = yaml.safe_load(rendered)
        except yaml.YAMLError as e:
            fail(f"{name}: rendered YAML does not parse: {e}")
            continue
        if doc is None:
            continue
        for key in ("apiVersion", "kind", "metadata"):
            if key not in doc:
                fail(f"{name}: no {key}")
        docs[doc["kind"]] = docs.get(doc["kind"], []) + [doc]

    def one(kind, pred=lambda d: True):
        found = [d for d in docs.get(kind, []) if pred(d)]
        if len(found) != 1:
            fail(f"expected one {kind}, found {len(found)}")
            return {}
        return found[0]

    full = r.include("lakesync.fullname")
    dep = one("Deployment")
    spec = dep.get("spec", {})
    if spec.get("replicas") != values["replicaCount"]:
        fail(f"Deployment replicas {spec.get('replicas')} != values.replicaCount")
    if spec.get("selector", {}).get("matchLabels", {}).items() - \
            spec.get("template", {}).get("metadata", {}).get("labels", {}).items():
        fail("Deployment selector does not match the pod labels")
    pod = spec.get("template", {}).get("spec", {})
    c = (pod.get("containers") or [{}])[0]
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    if ports.get("metrics") != values["metricsPort"]:
        fail(f"container port 'metrics' is {ports.get('metrics')}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ("metrics", values["metricsPort"]):
            fail(f"{probe} is not GET {path} on the metrics port: {get}")
    env = {e["name"]: e for e in c.get("env", [])}
    ref = env.get("LAKESYNC_DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
    if ref != {"name": values["database"]["existingSecret"], "key": values["database"]["key"]}:
        fail(f"LAKESYNC_DATABASE_URL does not come from the Secret: {ref}")
    if "POD_NAME" not in env:
        fail("POD_NAME (the runner id) is not set")
    if not c.get("resources", {}).get("requests"):
        fail("no resource requests")
    if c.get("args", [])[-1:] != ["daemon"] or "/etc/lakesync/lakesync.yaml" not in c.get("args", []):
        fail(f"the container does not run `lakesync -c /etc/lakesync/lakesync.yaml daemon`: {c.get('args')}")
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    if mounts.get("config") != "/etc/lakesync" or vols.get("config", {}).get("configMap", {}).get("name") != full:
        fail("the configuration ConfigMap is not mounted at /etc/lakesync")

    cm = one("ConfigMap", lambda d: d["metadata"]["name"] == full)
    cfg = yaml.safe_load(cm.get("data", {}).get("lakesync.yaml", "") or "{}")
    if cfg.get("runner", {}).get("listen") != f"0.0.0.0:{values['metricsPort']}":
        fail(f"runner.listen in the jobs file is {cfg.get('runner', {}).get('listen')}")
    if "jobs" not in cfg:
        fail("the jobs file has no jobs key")
    if "state" in cfg:
        fail("the jobs file must not carry state: the URL comes from the Secret")
    if lakesync:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(cm.get("data", {}).get("lakesync.yaml", ""))
            f.flush()
            env = dict(os.environ, POD_NAME="prod-lakesync-abc12", SLACK_WEBHOOK_URL="https://hooks.example/x")
            p = subprocess.run([lakesync, "validate", f.name], env=env, capture_output=True, text=True)
            if p.returncode != 0:
                fail(f"lakesync validate rejects the rendered jobs file: {p.stdout}{p.stderr}")
    for key, want in (("podLabels", spec.get("template", {}).get("metadata", {}).get("labels", {})),
                      ("podAnnotations", spec.get("template", {}).get("metadata", {}).get("annotations", {})),
                      ("nodeSelector", pod.get("nodeSelector") or {})):
        if values[key].items() - want.items():
            fail(f"values.{key} does not reach the pod")
    if len(pod.get("volumes", [])) != 2 + len(values["extraVolumes"]):
        fail("extraVolumes do not reach the pod")
    if len(c.get("env", [])) != 2 + len(values["extraEnv"]):
        fail("extraEnv does not reach the container")

    svc = one("Service")
    sport = {p["name"]: p for p in svc.get("spec", {}).get("ports", [])}
    if sport.get("metrics", {}).get("targetPort") != "metrics":
        fail("Service port 'metrics' does not target the container port 'metrics'")
    if svc.get("spec", {}).get("selector") != spec.get("selector", {}).get("matchLabels"):
        fail("Service selector differs from the Deployment's")

    sm = one("ServiceMonitor")
    ep = (sm.get("spec", {}).get("endpoints") or [{}])[0]
    if ep.get("port") != "metrics" or ep.get("path") != "/metrics" or ep.get("honorLabels") is not True:
        fail(f"ServiceMonitor endpoint must scrape port metrics at /metrics with honorLabels: {ep}")
    job_label = sm.get("spec", {}).get("jobLabel")
    if svc.get("metadata", {}).get("labels", {}).get(job_label) != "lakesync":
        fail(f"the scrape job (Service label {job_label}) is not 'lakesync', which the rules expect")

    pr = one("PrometheusRule")
    with open(os.path.join(os.path.dirname(chart_dir.rstrip("/")), "rules", "lakesync.rules.yml")) as f:
        rules = yaml.safe_load(f)
    if pr.get("spec") != rules:
        fail("PrometheusRule spec differs from charts/rules/lakesync.rules.yml")

    dash_cm = one("ConfigMap", lambda d: d["metadata"]["name"] == f"{full}-dashboard")
    if dash_cm.get("metadata", {}).get("labels", {}).get("grafana_dashboard") != "1":
        fail("the dashboard ConfigMap lacks the sidecar label grafana_dashboard: \"1\"")
    with open(os.path.join(os.path.dirname(chart_dir.rstrip("/")), "dashboards", "lakesync.json")) as f:
        dashboard = json.load(f)
    try:
        if json.loads(dash_cm.get("data", {}).get("lakesync.json", "")) != dashboard:
            fail("the dashboard ConfigMap differs from charts/dashboards/lakesync.json")
    except ValueError as e:
        fail(f"the dashboard ConfigMap's JSON does not parse: {e}")

    for link in ("files/lakesync.json", "files/lakesync.rules.yml"):
        if not os.path.exists(os.path.join(chart_dir, link)):
            fail(f"{link} does not resolve")
    return r


def main():
    args = sys.argv[1:]
    opts = {"--values": None, "--lakesync": None}
    rest = []
    while args:
        a = args.pop(0)
        if a in opts:
            opts[a] = args.pop(0)
        elif a != "--print":
            rest.append(a)
    chart_dir = rest[0] if rest else os.path.join(os.path.dirname(__file__), "..", "lakesync")
    try:
        check(chart_dir, "--print" in sys.argv, opts["--values"], opts["--lakesync"])
    except (ValueError, KeyError, TypeError, OSError) as e:
        fail(f"rendering failed: {type(e).__name__}: {e}")
    if failures:
        print("check_chart: FAILED")
        for f in failures:
            print("  - " + f)
        return 1
    print("check_chart: ok (templates rendered by emulation; helm itself was not run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
