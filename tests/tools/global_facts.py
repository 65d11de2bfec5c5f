#!/usr/bin/env python3
"""global_facts.py: an independent judge of a consolidated global Delta table.

It shares no code with lakesync: it parses the Delta logs itself, with the read-only help of
tests/tools/delta_facts.py (imported as a module: JSON commit parsing, replay, DV file names).

    global_facts.py check GLOBAL --job JOB --source REGION=DIR [--source ...]
                    [--region-column COL] [--expect REGION=VERSION ...]

checks that GLOBAL is a valid consolidation of the sources (DESIGN.md C1, C2):
  * the global log replays from version 0 with contiguous JSON commits; version 0 carries
    protocol and metaData; the schema has COL (string, not null) and COL is the first
    partition column;
  * for every region, its consolidated source version v is the txn of appId
    `lakesync:JOB:REGION` (none: the region holds no file); v <= the source's head; with
    --expect, v is exactly the given version;
  * the global live files of the region are exactly the source's live files at v, each at
    `COL=REGION/<source path>`, with the source's partition values plus COL=REGION, the same
    size, deletionVector descriptors whose 'u' prefix became `COL=REGION` and the same bytes
    in every data and DV file (no lost file);
  * no live file outside the sources' region directories; no add of a logical file that is
    already live (a file added twice, C1); txn versions never go backwards; every commit
    that changes a region's files also advances its txn (a region is never half-added);
  * every change-data file the log names exists;
  * the global table can hold each region's files: every top-level column of the source at v
    is in the global schema with the same type, and every table feature the source's protocol
    needs (legacy versions expanded; inCommitTimestamp aside) is in the global protocol.
Exit 0 and a JSON summary on stdout when every check holds; exit 1 listing the problems.
`selftest` checks the checker on tables it builds itself.
"""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import delta_facts as d  # noqa: E402  (read-only use of the independent Delta reader)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def translate_dv(dv, region_dir):
    if not dv or dv.get("storageType") != "u":
        return dv
    out = dict(dv)
    # A DV prefix is one directory name: the region directory replaces the source's prefix.
    out["pathOrInlineDv"] = region_dir + dv["pathOrInlineDv"][-20:]
    return out


# The table features a protocol needs, legacy versions expanded (PROTOCOL.md "Table Features").
def protocol_features(p):
    p = p or {}
    reader, writer = p.get("minReaderVersion", 1), p.get("minWriterVersion", 2)
    out = set()
    if writer >= 7:
        out |= set(p.get("writerFeatures") or [])
    else:
        for since, names in ((2, ("appendOnly", "invariants")), (3, ("checkConstraints",)),
                             (4, ("changeDataFeed", "generatedColumns")), (5, ("columnMapping",)),
                             (6, ("identityColumns",))):
            if writer >= since:
                out |= set(names)
    if reader >= 3:
        out |= set(p.get("readerFeatures") or [])
    elif reader >= 2:
        out.add("columnMapping")
    return out


def schema_fields(metadata):
    try:
        return json.loads((metadata or {}).get("schemaString", "{}")).get("fields", [])
    except ValueError:
        return []


def region_column_physical(metadata, column):
    return d.schema_physical_names(metadata).get(column, column)


def check(global_dir, job, sources, column="source_region", expect=None):
    """Returns (problems, summary)."""
    expect = expect or {}
    problems = []
    summary = {"version": None, "regions": {}}
    listing = d.list_log(global_dir)
    if not listing["commits"]:
        # No table yet (a first run killed before its publish): valid, and empty.
        for region, v in expect.items():
            problems.append("region %s: no global table, expected version %s" % (region, v))
        return problems, summary
    start, head, _gaps = d.contiguous_head(set(listing["commits"]))
    if head < 0 or start != 0:
        return ["the global table has no contiguous JSON log from version 0"], summary
    summary["version"] = head

    # Replay commit by commit, checking C1 (no add of a live key) and the txn discipline.
    r = d.Replay()
    txn_seen = {}
    for v in range(0, head + 1):
        actions, err = d.parse_commit(listing["commits"][v])
        if err:
            problems.append("commit %d: %s" % (v, err))
            return problems, summary
        if v == 0:
            kinds = {k for a in actions for k in a}
            for need in ("protocol", "metaData"):
                if need not in kinds:
                    problems.append("version 0 has no %s action" % need)
        txns = {a["txn"]["appId"]: a["txn"]["version"] for a in actions if "txn" in a}
        touched = set()
        for a in actions:
            for kind in ("add", "remove", "cdc"):
                if kind not in a:
                    continue
                path = d.decode_path(a[kind]["path"])
                touched.add(path.split("/", 1)[0])
                if kind == "add":
                    key = (path, d.dv_id(a["add"].get("deletionVector")))
                    if key in r.live and a["add"].get("dataChange", True):
                        problems.append("C1: version %d adds %s again while it is live" %
                                        (v, key[0]))
        for region in sources:
            app = "lakesync:%s:%s" % (job, region)
            region_dir = "%s=%s" % (column, region)
            if app in txns:
                if app in txn_seen and txns[app] < txn_seen[app]:
                    problems.append("version %d moves the txn of %s back from %d to %d" %
                                    (v, region, txn_seen[app], txns[app]))
                changed = app not in txn_seen or txns[app] > txn_seen[app]
                if region_dir in touched and not changed:
                    problems.append("version %d changes files of %s without advancing its txn" %
                                    (v, region))
                txn_seen[app] = txns[app]
            elif region_dir in touched:
                problems.append("version %d changes files of %s without its txn" % (v, region))
        r.apply(v, actions, listing["commits"][v])

    md = r.metadata or {}
    parts = md.get("partitionColumns", [])
    if not parts or parts[0] != column:
        problems.append("partitionColumns %s do not start with %s" % (parts, column))
    fields = schema_fields(md)
    global_types = {f.get("name"): json.dumps(f.get("type"), sort_keys=True) for f in fields}
    global_features = protocol_features(r.protocol)
    rf = [f for f in fields if f.get("name") == column]
    if not rf or rf[0].get("type") != "string" or rf[0].get("nullable") is not False:
        problems.append("the schema has no `%s` string not null column" % column)
    phys = region_column_physical(md, column)

    by_region = {}
    for key, add in r.live.items():
        region = (add.get("partitionValues") or {}).get(phys)
        if region not in sources:
            problems.append("live file %s has region %r, not one of the sources" %
                            (key[0], region))
            continue
        if not key[0].startswith("%s=%s/" % (column, region)):
            problems.append("live file %s of region %s is outside its region directory" %
                            (key[0], region))
        by_region.setdefault(region, {})[key] = add

    for region, src_dir in sources.items():
        app = "lakesync:%s:%s" % (job, region)
        region_dir = "%s=%s" % (column, region)
        txn = r.txns.get(app, {}).get("version")
        info = {"txn": txn, "live_files": 0, "rows": 0}
        summary["regions"][region] = info
        if region in expect and expect[region] != txn:
            problems.append("region %s: consolidated version %s, expected %s" %
                            (region, txn, expect[region]))
        have = by_region.get(region, {})
        info["live_files"] = len(have)
        info["rows"] = sum(d.stats_num_records(a) or 0 for a in have.values())
        if txn is None:
            if have:
                problems.append("region %s has %d live files but no txn" % (region, len(have)))
            continue
        src_listing = d.list_log(src_dir)
        _s, src_head, _g = d.contiguous_head(set(src_listing["commits"]))
        if txn > src_head:
            problems.append("region %s: txn version %d is past the source's head %d" %
                            (region, txn, src_head))
            continue
        sr, err = d.replay(src_dir, txn, src_listing)
        if err:
            problems.append("region %s: the source does not replay to %d: %s" % (region, txn, err))
            continue
        for f in schema_fields(sr.metadata):
            name = f.get("name")
            if name not in global_types:
                problems.append("region %s: column %s of the source (at %d) is not in the global "
                                "schema" % (region, name, txn))
            elif global_types[name] != json.dumps(f.get("type"), sort_keys=True):
                problems.append("region %s: column %s is %s in the source (at %d) but %s in the "
                                "global schema" % (region, name, json.dumps(f.get("type")), txn,
                                                   global_types[name]))
        for feature in sorted(protocol_features(sr.protocol) - global_features -
                              {"inCommitTimestamp"}):
            problems.append("region %s: the source (at %d) needs table feature %s, which the "
                            "global protocol lacks" % (region, txn, feature))
        want = {}
        for (path, _dvid), add in sr.live.items():
            dv = translate_dv(add.get("deletionVector"), region_dir)
            want[(region_dir + "/" + path, d.dv_id(dv))] = (path, add, dv)
        for key in sorted(set(want) - set(have)):
            problems.append("region %s: source file %s (live at %d) is missing from the global "
                            "table" % (region, want[key][0], txn))
        for key in sorted(set(have) - set(want)):
            problems.append("region %s: global file %s is not live in the source at %d" %
                            (region, key[0], txn))
        for key in sorted(set(want) & set(have)):
            src_path, src_add, dv = want[key]
            g = have[key]
            pv = dict(src_add.get("partitionValues") or {})
            pv[phys] = region
            if (g.get("partitionValues") or {}) != pv:
                problems.append("region %s: %s has partition values %s, expected %s" %
                                (region, key[0], g.get("partitionValues"), pv))
            if g.get("size") != src_add.get("size"):
                problems.append("region %s: %s has size %s, the source says %s" %
                                (region, key[0], g.get("size"), src_add.get("size")))
            if g.get("deletionVector") != dv:
                problems.append("region %s: %s has DV %s, expected %s" %
                                (region, key[0], g.get("deletionVector"), dv))
            gpath = os.path.join(global_dir, key[0])
            spath = os.path.join(src_dir, src_path)
            if not os.path.exists(gpath):
                problems.append("region %s: data file %s is missing" % (region, key[0]))
            elif read_bytes(gpath) != read_bytes(spath):
                problems.append("region %s: data file %s differs from the source's" %
                                (region, key[0]))
            if dv and d.dv_relative_file(dv) is not None:
                grel = d.dv_relative_file(dv)
                srel = d.dv_relative_file(src_add["deletionVector"])
                gdv = os.path.join(global_dir, grel)
                if not os.path.exists(gdv):
                    problems.append("region %s: DV file %s is missing" % (region, grel))
                elif read_bytes(gdv) != read_bytes(os.path.join(src_dir, srel)):
                    problems.append("region %s: DV file %s differs from the source's" %
                                    (region, grel))
    for (v, p, _size) in r.cdc:
        if not os.path.exists(os.path.join(global_dir, p)):
            problems.append("version %d: change-data file %s is missing" % (v, p))
    return problems, summary


# --------------------------------------------------------------------------------------------
# selftest: the checker must accept a correct consolidation and catch damage to one.
# --------------------------------------------------------------------------------------------

def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _commit(table, v, actions):
    _write(os.path.join(table, "_delta_log", d.commit_name(v)),
           "".join(json.dumps(a) + "\n" for a in actions).encode())


def selftest():
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "east")
        schema = json.dumps({"type": "struct", "fields": [
            {"name": "id", "type": "long", "nullable": True, "metadata": {}}]})
        _write(os.path.join(src, "a.parquet"), b"AAAA")
        _commit(src, 0, [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
                         {"metaData": {"id": "x", "format": {"provider": "parquet"},
                                       "schemaString": schema, "partitionColumns": [],
                                       "configuration": {}}},
                         {"add": {"path": "a.parquet", "partitionValues": {}, "size": 4,
                                  "modificationTime": 1, "dataChange": True}}])
        glob = os.path.join(tmp, "global")
        gschema = json.dumps({"type": "struct", "fields": [
            {"name": "id", "type": "long", "nullable": True, "metadata": {}},
            {"name": "source_region", "type": "string", "nullable": False, "metadata": {}}]})
        _write(os.path.join(glob, "source_region=east", "a.parquet"), b"AAAA")
        add = {"add": {"path": "source_region=east/a.parquet",
                       "partitionValues": {"source_region": "east"}, "size": 4,
                       "modificationTime": 1, "dataChange": True}}
        _commit(glob, 0, [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
                          {"metaData": {"id": "y", "format": {"provider": "parquet"},
                                        "schemaString": gschema,
                                        "partitionColumns": ["source_region"],
                                        "configuration": {}}},
                          {"txn": {"appId": "lakesync:j:east", "version": 0}}, add])
        problems, _ = check(glob, "j", {"east": src}, expect={"east": 0})
        if problems:
            failures.append("a correct table was rejected: %s" % problems)
        # A rerun that adds the file again (C1).
        _commit(glob, 1, [{"txn": {"appId": "lakesync:j:east", "version": 0}}, add])
        problems, _ = check(glob, "j", {"east": src})
        if not any("C1" in p for p in problems):
            failures.append("a duplicated add was not caught: %s" % problems)
        os.remove(os.path.join(glob, "_delta_log", d.commit_name(1)))
        # The source gains a column and deletion vectors; the global table does not.
        schema2 = json.dumps({"type": "struct", "fields": [
            {"name": "id", "type": "long", "nullable": True, "metadata": {}},
            {"name": "w", "type": "string", "nullable": True, "metadata": {}}]})
        _commit(src, 1, [{"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
                                       "readerFeatures": ["deletionVectors"],
                                       "writerFeatures": ["deletionVectors"]}},
                         {"metaData": {"id": "x", "format": {"provider": "parquet"},
                                       "schemaString": schema2, "partitionColumns": [],
                                       "configuration": {}}}])
        _commit(glob, 1, [{"txn": {"appId": "lakesync:j:east", "version": 1}}])
        problems, _ = check(glob, "j", {"east": src})
        if not any("column w of the source" in p for p in problems) or \
                not any("needs table feature deletionVectors" in p for p in problems):
            failures.append("a global table that cannot hold the source was not caught: %s" %
                            problems)
        os.remove(os.path.join(glob, "_delta_log", d.commit_name(1)))
        os.remove(os.path.join(src, "_delta_log", d.commit_name(1)))
        # A lost file.
        os.remove(os.path.join(glob, "source_region=east", "a.parquet"))
        problems, _ = check(glob, "j", {"east": src})
        if not any("missing" in p for p in problems):
            failures.append("a missing data file was not caught: %s" % problems)
    for f in failures:
        print("selftest FAILED: " + f)
    if not failures:
        print("selftest ok")
    return 1 if failures else 0


def main(argv):
    if argv and argv[0] == "selftest":
        return selftest()
    if not argv or argv[0] != "check" or len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    global_dir = argv[1]
    job, column, sources, expect = None, "source_region", {}, {}
    i = 2
    while i < len(argv):
        flag = argv[i]
        if i + 1 >= len(argv):
            sys.stderr.write("%s needs a value\n" % flag)
            return 2
        value = argv[i + 1]
        if flag == "--job":
            job = value
        elif flag == "--region-column":
            column = value
        elif flag == "--source":
            name, _, path = value.partition("=")
            sources[name] = path
        elif flag == "--expect":
            name, _, v = value.partition("=")
            expect[name] = int(v)
        else:
            sys.stderr.write("unknown flag %s\n" % flag)
            return 2
        i += 2
    if job is None or not sources:
        sys.stderr.write("check needs --job and at least one --source\n")
        return 2
    problems, summary = check(global_dir, job, sources, column, expect)
    print(json.dumps(summary, sort_keys=True))
    for p in problems:
        print("PROBLEM: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
