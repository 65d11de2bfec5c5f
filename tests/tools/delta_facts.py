#!/usr/bin/env python3
"""Independent facts about Delta Lake tables, and an independent replication checker.

This script shares nothing with the C++ Delta engine: it reads `_delta_log` itself, with the
Python standard library only, so that the numbers it prints can be used as expected values
in the C++ tests (see docs/fixtures.md) and so that replicas can be verified by a second
implementation of the protocol rules (/work/shared/DELTA_NOTES.md, /work/shared/DESIGN.md).

Subcommands:
  facts TABLE_DIR [--version N] [--json] [--all-versions]
      Head version, checkpoints, `_last_checkpoint`, and at version N (default: head) the live
      files, bytes, rows, partitions, protocol, metaData, txns, domains, DV files, commit
      timestamps and files referenced by the log but missing on disk.
  check SOURCE_DIR TARGET_DIR [--version T]
      Replication invariants R1-R3 plus the torn-copy checks of DELTA_NOTES section 9. One
      violation per line on stdout. Exit 0: none; 1: violations; 2: usage error.
      --version T additionally requires the target's head to be exactly T.
  snapshot-check SOURCE_DIR SNAPSHOT_DIR --version N [--shallow] [--manifest FILE]
      A lakesync snapshot (one commit, version 0) against the source at version N: protocol,
      metaData (fresh id), domains, txns, and the live files (paths, sizes, partition values,
      stats, deletion vectors) equal; deep snapshots hold byte-identical copies of exactly the
      live data and DV files; shallow ones point at the source's files by file: URI. With
      --manifest, the manifest's version, files, bytes and rows too. Exit codes as check.
  selftest
      Builds tiny tables in a temporary directory and checks that the checker accepts an
      exact copy and rejects a missing data file, an altered commit byte, a gap, a torn
      commit, and more; also checks the Z85 decoder against DELTA_NOTES section 2.

Known limits (stated, not hidden): Parquet checkpoints are not decoded (only JSON commits are
replayed); a table whose commits do not start at 0 is reported as not JSON-replayable and its
live-file facts are not computed. Parquet *footers* are decoded (Thrift compact protocol) to
give an independent physical row count per data file.
"""

import argparse
import filecmp
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import urllib.parse
import uuid
import zlib

# --------------------------------------------------------------------------------------------
# _delta_log listing
# --------------------------------------------------------------------------------------------

COMMIT_RE = re.compile(r"^(\d{20})\.json$")
CRC_RE = re.compile(r"^(\d{20})\.crc$")
CLASSIC_CP_RE = re.compile(r"^(\d{20})\.checkpoint\.parquet$")
MULTI_CP_RE = re.compile(r"^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$")
UUID_CP_RE = re.compile(
    r"^(\d{20})\.checkpoint\.([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12})\.(json|parquet)$")
COMPACTED_RE = re.compile(r"^(\d{20})\.(\d{20})\.compacted\.json$")


def log_dir(table):
    return os.path.join(table, "_delta_log")


def commit_name(v):
    return "%020d.json" % v


def list_log(table):
    """Classifies the regular files directly inside _delta_log (never subdirectories)."""
    out = {"commits": {}, "crc": {}, "classic": {}, "multi": {}, "uuid": {}, "compacted": [],
           "last_checkpoint": None, "other": []}
    d = log_dir(table)
    if not os.path.isdir(d):
        return out
    for name in sorted(os.listdir(d)):
        full = os.path.join(d, name)
        if not os.path.isfile(full):
            continue
        m = COMMIT_RE.match(name)
        if m:
            out["commits"][int(m.group(1))] = full
            continue
        m = CRC_RE.match(name)
        if m:
            out["crc"][int(m.group(1))] = full
            continue
        m = CLASSIC_CP_RE.match(name)
        if m:
            out["classic"][int(m.group(1))] = full
            continue
        m = MULTI_CP_RE.match(name)
        if m:
            v, p, n = int(m.group(1)), int(m.group(2)), int(m.group(3))
            out["multi"].setdefault((v, n), {})[p] = full
            continue
        m = UUID_CP_RE.match(name)
        if m:
            out["uuid"].setdefault(int(m.group(1)), []).append(full)
            continue
        m = COMPACTED_RE.match(name)
        if m:
            out["compacted"].append((int(m.group(1)), int(m.group(2)), full))
            continue
        if name == "_last_checkpoint":
            out["last_checkpoint"] = full
            continue
        out["other"].append(name)
    return out


def contiguous_head(versions):
    """(start, head, gaps): the run of consecutive versions from the lowest one present, and
    every version missing between the lowest and the highest present."""
    if not versions:
        return None, -1, []
    vs = sorted(versions)
    start = vs[0]
    head = start
    while head + 1 in versions:
        head += 1
    gaps = [v for v in range(start, vs[-1] + 1) if v not in versions]
    return start, head, gaps


def complete_checkpoints(listing):
    """Versions with a complete checkpoint (non-empty files; all parts of a multi-part set)."""
    out = {}
    for v, path in listing["classic"].items():
        if os.path.getsize(path) > 0:
            out.setdefault(v, []).append(("classic", [path]))
    for (v, n), parts in listing["multi"].items():
        if len(parts) == n and all(os.path.getsize(p) > 0 for p in parts.values()):
            out.setdefault(v, []).append(("multi-part", [parts[i] for i in sorted(parts)]))
    for v, paths in listing["uuid"].items():
        for p in paths:
            if os.path.getsize(p) > 0:
                out.setdefault(v, []).append(("uuid", [p]))
    return out


# --------------------------------------------------------------------------------------------
# Paths, Z85, deletion vectors
# --------------------------------------------------------------------------------------------

Z85_CHARS = ("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
             ".-:+=^!/*?&<>()[]{}@%$#")
Z85_INDEX = {c: i for i, c in enumerate(Z85_CHARS)}


def z85_decode(s):
    if len(s) % 5:
        raise ValueError("Z85 text length %d is not a multiple of 5" % len(s))
    out = bytearray()
    for i in range(0, len(s), 5):
        acc = 0
        for c in s[i:i + 5]:
            if c not in Z85_INDEX:
                raise ValueError("invalid Z85 character %r" % c)
            acc = acc * 85 + Z85_INDEX[c]
        if acc > 0xFFFFFFFF:
            raise ValueError("Z85 group %r overflows 32 bits" % s[i:i + 5])
        out += struct.pack(">I", acc)
    return bytes(out)


def decode_path(p):
    """Percent-decodes a log path exactly once ('+' stays '+')."""
    return urllib.parse.unquote(p)


def is_absolute_uri(p):
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", p) is not None


def dv_relative_file(dv):
    """Relative path of the file a DV descriptor names, or None for inline DVs.
    For 'p' descriptors returns the decoded absolute URI."""
    st = dv.get("storageType")
    pod = dv.get("pathOrInlineDv", "")
    if st == "u":
        if len(pod) < 20:
            raise ValueError("'u' DV pathOrInlineDv %r is shorter than 20 characters" % pod)
        prefix, enc = pod[:-20], pod[-20:]
        u = uuid.UUID(bytes=z85_decode(enc))
        name = "deletion_vector_%s.bin" % u
        return prefix + "/" + name if prefix else name
    if st == "p":
        return decode_path(pod)
    return None


def dv_id(dv):
    if not dv:
        return None
    s = str(dv.get("storageType", "")) + str(dv.get("pathOrInlineDv", ""))
    if "offset" in dv and dv["offset"] is not None:
        s += "@" + str(dv["offset"])
    return s


def local_file(table, rel_or_uri):
    """Local filesystem path for a decoded log path, or None when it is a remote URI."""
    if is_absolute_uri(rel_or_uri):
        if rel_or_uri.startswith("file:"):
            p = rel_or_uri[len("file:"):]
            if p.startswith("//"):
                p = p[2:]
                # file://host/path: only an empty host or localhost is local.
                host, _, rest = p.partition("/")
                if host not in ("", "localhost"):
                    return None
                p = "/" + rest
            return p
        return None
    return os.path.join(table, rel_or_uri)


def dv_file_problem(path, dv):
    """Checks a DV file against its descriptor. Returns an error text or None."""
    off = dv.get("offset")
    size = dv.get("sizeInBytes")
    if off is None or size is None:
        return None
    need = off + 4 + size + 4
    have = os.path.getsize(path)
    if have < need:
        return "is %d bytes, shorter than offset %d + 4 + sizeInBytes %d + 4 = %d" % (
            have, off, size, need)
    with open(path, "rb") as f:
        data = f.read()
    if data[0] != 1:
        return "starts with version byte %d, expected 1" % data[0]
    (rec,) = struct.unpack(">I", data[off:off + 4])
    if rec != size:
        return "record at offset %d has size %d, descriptor says %d" % (off, rec, size)
    body = data[off + 4:off + 4 + size]
    (crc,) = struct.unpack(">I", data[off + 4 + size:off + 8 + size])
    if zlib.crc32(body) & 0xFFFFFFFF != crc:
        return "record at offset %d fails its CRC-32" % off
    return None


def dv_cardinality_from_file(path, dv):
    """Decodes the RoaringBitmapArray at the descriptor's offset and returns the number of
    deleted rows, read from the container headers (independent of `cardinality`)."""
    with open(path, "rb") as f:
        data = f.read()
    off, size = dv["offset"], dv["sizeInBytes"]
    body = data[off + 4:off + 4 + size]
    magic, = struct.unpack_from("<I", body, 0)
    if magic != 1681511377:
        raise ValueError("unexpected RoaringBitmapArray magic %d" % magic)
    n_bitmaps, = struct.unpack_from("<q", body, 4)
    pos = 12
    total = 0
    for _ in range(n_bitmaps):
        pos += 4  # high 32 bits key
        cookie, = struct.unpack_from("<I", body, pos)
        pos += 4
        if cookie & 0xFFFF == 12347:  # SERIAL_COOKIE: run containers present
            n = (cookie >> 16) + 1
            run_bytes = (n + 7) // 8
            run_flags = body[pos:pos + run_bytes]
            pos += run_bytes
        elif cookie == 12346:  # SERIAL_COOKIE_NO_RUNCONTAINER
            n, = struct.unpack_from("<I", body, pos)
            pos += 4
            run_flags = b""
        else:
            raise ValueError("unexpected roaring cookie %d" % cookie)
        cards = []
        for i in range(n):
            _key, card_m1 = struct.unpack_from("<HH", body, pos + 4 * i)
            cards.append(card_m1 + 1)
        pos += 4 * n
        has_offsets = cookie == 12346 or n >= 4
        if has_offsets:
            pos += 4 * n
        for i in range(n):
            is_run = bool(run_flags) and (run_flags[i // 8] >> (i % 8)) & 1
            if is_run:
                nruns, = struct.unpack_from("<H", body, pos)
                pos += 2 + 4 * nruns
            elif cards[i] > 4096:
                pos += 8192
            else:
                pos += 2 * cards[i]
        total += sum(cards)
    return total


# --------------------------------------------------------------------------------------------
# Parquet footer: num_rows (Thrift compact protocol), independent physical row count
# --------------------------------------------------------------------------------------------

class _Thrift:
    def __init__(self, buf):
        self.b = buf
        self.p = 0

    def byte(self):
        v = self.b[self.p]
        self.p += 1
        return v

    def varint(self):
        shift = 0
        out = 0
        while True:
            c = self.byte()
            out |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return out

    def zigzag(self):
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, t):
        if t in (1, 2):
            return
        if t == 3:
            self.p += 1
        elif t in (4, 5, 6):
            self.varint()
        elif t == 7:
            self.p += 8
        elif t == 8:
            n = self.varint()  # read first: `self.p += self.varint()` would lose the advance
            self.p += n
        elif t in (9, 10):
            h = self.byte()
            n = h >> 4
            et = h & 0x0F
            if n == 15:
                n = self.varint()
            for _ in range(n):
                if et in (1, 2):
                    self.p += 1
                else:
                    self.skip(et)
        elif t == 11:
            n = self.varint()
            if n:
                kv = self.byte()
                for _ in range(n):
                    self.skip(kv >> 4)
                    self.skip(kv & 0x0F)
        elif t == 12:
            self.struct_fields(lambda fid, ft: False)
        else:
            raise ValueError("unknown thrift type %d" % t)

    def struct_fields(self, handler):
        last = 0
        while True:
            h = self.byte()
            if h == 0:
                return
            t = h & 0x0F
            delta = h >> 4
            fid = last + delta if delta else self.zigzag()
            last = fid
            if not handler(fid, t):
                self.skip(t)


def parquet_num_rows(path):
    with open(path, "rb") as f:
        f.seek(-8, os.SEEK_END)
        tail = f.read(8)
        if tail[4:] != b"PAR1":
            raise ValueError("not a Parquet file (no PAR1 footer)")
        (meta_len,) = struct.unpack("<I", tail[:4])
        f.seek(-8 - meta_len, os.SEEK_END)
        meta = f.read(meta_len)
    r = _Thrift(meta)
    found = {}

    def handler(fid, t):
        if fid == 3 and t == 6:
            found["num_rows"] = r.zigzag()
            return True
        return False

    r.struct_fields(handler)
    return found.get("num_rows")


# --------------------------------------------------------------------------------------------
# Commit parsing and replay
# --------------------------------------------------------------------------------------------

def parse_commit(path):
    """Returns (actions, error). Every non-empty line must be a JSON object."""
    with open(path, "rb") as f:
        raw = f.read()
    actions = []
    lines = raw.split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            return actions, "line %d of %d does not parse as JSON (%s)" % (
                i + 1, len(lines), e)
        if not isinstance(obj, dict):
            return actions, "line %d is not a JSON object" % (i + 1)
        actions.append(obj)
    return actions, None


def file_mtime_ms(path):
    st = os.stat(path)
    return st.st_mtime_ns // 1_000_000


class Replay:
    """State after replaying JSON commits start..version."""

    def __init__(self):
        self.live = {}  # (path, dvId) -> add action (path decoded in "_path")
        self.protocol = None
        self.metadata = None
        self.txns = {}
        self.domains = {}
        self.cdc = []  # (version, decoded path, size)
        self.referenced = []  # (version, kind, decoded path or uri, extra) for R3
        self.timestamps = {}
        self.removed_keys = []
        self.tombstones = {}  # (path, dvId) -> remove action, dropped when the key is re-added
        self.removed_paths = set()

    def apply(self, version, actions, commit_path):
        ts = {"commitInfo.timestamp": None, "inCommitTimestamp": None,
              "file_mtime_ms": file_mtime_ms(commit_path)}
        for a in actions:
            if "commitInfo" in a and isinstance(a["commitInfo"], dict):
                ci = a["commitInfo"]
                ts["commitInfo.timestamp"] = ci.get("timestamp")
                ts["inCommitTimestamp"] = ci.get("inCommitTimestamp")
            if "protocol" in a:
                self.protocol = a["protocol"]
            if "metaData" in a:
                self.metadata = a["metaData"]
            if "txn" in a:
                self.txns[a["txn"]["appId"]] = a["txn"]
            if "domainMetadata" in a:
                dm = a["domainMetadata"]
                if dm.get("removed"):
                    self.domains.pop(dm["domain"], None)
                else:
                    self.domains[dm["domain"]] = dm
            if "add" in a:
                add = dict(a["add"])
                add["_path"] = decode_path(add["path"])
                add["_version"] = version
                key = (add["_path"], dv_id(add.get("deletionVector")))
                self.live[key] = add
                self.tombstones.pop(key, None)
                self.referenced.append((version, "add", add["_path"], add))
                dv = add.get("deletionVector")
                if dv and dv_relative_file(dv) is not None:
                    self.referenced.append((version, "dv", dv_relative_file(dv), dv))
            if "remove" in a:
                rm = a["remove"]
                key = (decode_path(rm["path"]), dv_id(rm.get("deletionVector")))
                if key in self.live:
                    del self.live[key]
                    self.removed_keys.append((version, key))
                self.tombstones[key] = rm
                self.removed_paths.add(key[0])
                dv = rm.get("deletionVector")
                if dv and dv_relative_file(dv) is not None:
                    self.referenced.append((version, "dv", dv_relative_file(dv), dv))
            if "cdc" in a:
                c = a["cdc"]
                p = decode_path(c["path"])
                self.cdc.append((version, p, c.get("size")))
                self.referenced.append((version, "cdc", p, c))
        self.timestamps[version] = ts


def replay(table, version, listing=None):
    """Replays JSON commits 0..version. Returns (Replay, error)."""
    listing = listing or list_log(table)
    commits = listing["commits"]
    r = Replay()
    if 0 not in commits:
        return None, "00000000000000000000.json is absent: not replayable from JSON alone"
    for v in range(0, version + 1):
        if v not in commits:
            return None, "commit %s is absent: not replayable from JSON alone" % commit_name(v)
        actions, err = parse_commit(commits[v])
        if err:
            return None, "%s: %s" % (commit_name(v), err)
        r.apply(v, actions, commits[v])
    return r, None


def stats_num_records(add):
    s = add.get("stats")
    if not s:
        return None
    try:
        obj = json.loads(s) if isinstance(s, str) else s
    except ValueError:
        return None
    n = obj.get("numRecords")
    return int(n) if n is not None else None


def schema_physical_names(metadata):
    """logical top-level name -> physical name (column mapping), from schemaString."""
    out = {}
    try:
        schema = json.loads(metadata.get("schemaString", "{}"))
    except ValueError:
        return out
    for f in schema.get("fields", []):
        phys = (f.get("metadata") or {}).get("delta.columnMapping.physicalName")
        if phys:
            out[f["name"]] = phys
    return out


def facts_at(table, version, r, listing):
    live = sorted(r.live.values(), key=lambda a: (a["_path"], dv_id(a.get("deletionVector"))
                                                  or ""))
    f = {"version": version}
    f["num_live_files"] = len(live)
    f["bytes"] = sum(int(a.get("size", 0)) for a in live)
    missing_stats = [a["_path"] for a in live if stats_num_records(a) is None]
    f["adds_without_numRecords"] = missing_stats
    f["sum_numRecords"] = sum(stats_num_records(a) or 0 for a in live)
    dvs = [a for a in live if a.get("deletionVector")]
    f["num_live_with_dv"] = len(dvs)
    f["sum_dv_cardinality"] = sum(int(a["deletionVector"].get("cardinality", 0)) for a in dvs)
    f["rows"] = (f["sum_numRecords"] - f["sum_dv_cardinality"]) if not missing_stats else None
    md = r.metadata or {}
    pcols = md.get("partitionColumns", [])
    phys = schema_physical_names(md)
    f["partition_columns"] = pcols
    f["physical_names"] = phys
    pvals = {}
    for c in pcols:
        key = phys.get(c, c)
        vals = set()
        for a in live:
            pv = a.get("partitionValues") or {}
            vals.add(pv.get(key, pv.get(c)))
        pvals[c] = sorted(vals, key=lambda x: (x is None, x or ""))
    f["partition_values"] = pvals
    f["protocol"] = r.protocol
    f["metaData"] = {"id": md.get("id"), "partitionColumns": pcols,
                     "configuration": md.get("configuration", {})}
    f["txns"] = {k: {"version": t.get("version"), "lastUpdated": t.get("lastUpdated")}
                 for k, t in sorted(r.txns.items())}
    f["domains"] = {k: {"configuration": d.get("configuration")}
                    for k, d in sorted(r.domains.items())}
    files = []
    for a in live:
        entry = {"path": a["_path"], "size": a.get("size"),
                 "numRecords": stats_num_records(a), "added_in": a["_version"],
                 "partitionValues": a.get("partitionValues") or {}}
        lp = local_file(table, a["_path"])
        entry["on_disk"] = lp is not None and os.path.isfile(lp)
        if entry["on_disk"]:
            entry["disk_size"] = os.path.getsize(lp)
            try:
                entry["parquet_footer_rows"] = parquet_num_rows(lp)
            except (ValueError, OSError, IndexError, struct.error) as e:
                entry["parquet_footer_rows"] = "unreadable: %s" % e
        dv = a.get("deletionVector")
        if dv:
            rel = dv_relative_file(dv)
            entry["dv"] = {"descriptor": dv, "file": rel}
            if rel is not None:
                dp = local_file(table, rel)
                entry["dv"]["on_disk"] = dp is not None and os.path.isfile(dp)
                if entry["dv"]["on_disk"]:
                    entry["dv"]["file_size"] = os.path.getsize(dp)
                    entry["dv"]["problem"] = dv_file_problem(dp, dv)
                    try:
                        entry["dv"]["cardinality_from_file"] = dv_cardinality_from_file(dp, dv)
                    except (ValueError, struct.error, IndexError) as e:
                        entry["dv"]["cardinality_from_file"] = "undecodable: %s" % e
        files.append(entry)
    f["live_files"] = files
    f["commit_timestamps"] = {v: r.timestamps[v] for v in sorted(r.timestamps)}
    f["num_tombstones"] = len(r.tombstones)
    # What a checkpoint at this version would hold, one row per action: protocol, metaData,
    # live adds, tombstones, txns, domains. Compared with a real checkpoint's footer row count.
    f["expected_checkpoint_action_rows"] = (
        (1 if r.protocol else 0) + (1 if r.metadata else 0) + len(live) + len(r.tombstones)
        + len(r.txns) + len(r.domains))
    footer = [e.get("parquet_footer_rows") for e in files]
    f["footer_rows"] = sum(footer) if footer and all(isinstance(x, int) for x in footer) else (
        0 if not files else None)
    # Missing on disk.
    f["missing_live_files"] = [e["path"] for e in files if not e["on_disk"]]
    f["missing_live_dv_files"] = sorted({e["dv"]["file"] for e in files
                                        if "dv" in e and e["dv"]["file"] is not None
                                        and not e["dv"].get("on_disk")})
    f["cdc_files"] = [{"version": v, "path": p, "size": s} for v, p, s in r.cdc]
    f["missing_cdc_files"] = [p for v, p, s in r.cdc
                              if not os.path.isfile(local_file(table, p) or "")]
    hist = sorted({p for v, k, p, x in r.referenced if k in ("add", "dv")})
    live_paths = {e["path"] for e in files} | {e["dv"]["file"] for e in files if "dv" in e}
    f["missing_removed_files"] = [p for p in hist if p not in live_paths
                                  and not os.path.isfile(local_file(table, p) or "")]
    # Files on disk that no commit 0..version names (hidden files and *.crc side files aside).
    named = {p for _v, _k, p, _x in r.referenced} | r.removed_paths
    orphans = []
    for dirpath, dirnames, filenames in os.walk(table):
        rel_dir = os.path.relpath(dirpath, table)
        if rel_dir == "_delta_log" or rel_dir.startswith("_delta_log" + os.sep):
            dirnames[:] = []
            continue
        for n in filenames:
            if n.startswith(".") or n.endswith(".crc"):
                continue
            rel = os.path.normpath(os.path.join(rel_dir, n)).replace(os.sep, "/")
            if rel not in named:
                orphans.append(rel)
    f["unreferenced_on_disk"] = sorted(orphans)
    return f


def table_facts(table, version=None):
    listing = list_log(table)
    start, head, gaps = contiguous_head(set(listing["commits"]))
    out = {"table": os.path.basename(os.path.normpath(table)),
           "commits_present": sorted(listing["commits"]),
           "head_version": head,
           "json_replayable_from_0": start == 0,
           "gaps_after_head": gaps}
    cps = []
    for v, p in sorted(listing["classic"].items()):
        try:
            rows = parquet_num_rows(p)
        except (ValueError, OSError, IndexError, struct.error) as e:
            rows = "unreadable: %s" % e
        cps.append({"version": v, "kind": "classic", "files": [os.path.basename(p)],
                    "sizes": [os.path.getsize(p)], "footer_action_rows": rows})
    for (v, n), parts in sorted(listing["multi"].items()):
        cps.append({"version": v, "kind": "multi-part", "parts_expected": n,
                    "files": [os.path.basename(parts[i]) for i in sorted(parts)],
                    "complete": len(parts) == n})
    for v, paths in sorted(listing["uuid"].items()):
        for p in paths:
            cps.append({"version": v, "kind": "uuid", "files": [os.path.basename(p)]})
    out["checkpoints"] = cps
    out["crc_files"] = sorted(listing["crc"])
    out["compacted"] = [(a, b) for a, b, _ in listing["compacted"]]
    out["ignored_in_delta_log"] = listing["other"]
    lc = None
    if listing["last_checkpoint"]:
        with open(listing["last_checkpoint"], "rb") as fh:
            raw = fh.read()
        try:
            lc = json.loads(raw)
        except ValueError:
            lc = {"unparseable": raw.decode("utf-8", "replace")}
    out["_last_checkpoint"] = lc
    v = head if version is None else version
    out["requested_version"] = v
    if start != 0:
        out["error"] = "not replayable from JSON (first commit %s); a Parquet checkpoint is " \
                       "needed and this tool does not decode checkpoints" % start
        return out
    if v > head or v < 0:
        out["error"] = "version %d is outside 0..%d" % (v, head)
        return out
    r, err = replay(table, v, listing)
    if err:
        out["error"] = err
        return out
    out["at"] = facts_at(table, v, r, listing)
    return out


# --------------------------------------------------------------------------------------------
# facts output
# --------------------------------------------------------------------------------------------

def print_facts(fx, out=sys.stdout):
    w = out.write
    w("table: %s\n" % fx["table"])
    w("head version (highest contiguous JSON commit): %d\n" % fx["head_version"])
    w("commits present: %s\n" % fx["commits_present"])
    w("JSON-replayable from version 0: %s\n" % ("yes" if fx["json_replayable_from_0"] else "no"))
    if fx["gaps_after_head"]:
        w("gaps: %s\n" % fx["gaps_after_head"])
    w("checkpoints: %s\n" % (json.dumps(fx["checkpoints"]) if fx["checkpoints"] else "none"))
    w("_last_checkpoint: %s\n" % (json.dumps(fx["_last_checkpoint"])
                                  if fx["_last_checkpoint"] is not None else "absent"))
    w("crc files: %s; compacted: %s; ignored in _delta_log: %s\n" % (
        fx["crc_files"], fx["compacted"], fx["ignored_in_delta_log"]))
    if "error" in fx:
        w("ERROR: %s\n" % fx["error"])
        return
    a = fx["at"]
    w("--- at version %d ---\n" % a["version"])
    w("live files: %d\n" % a["num_live_files"])
    w("bytes (sum of add.size): %d\n" % a["bytes"])
    w("sum numRecords: %d; live adds with DV: %d; sum DV cardinality: %d\n" % (
        a["sum_numRecords"], a["num_live_with_dv"], a["sum_dv_cardinality"]))
    if a["adds_without_numRecords"]:
        w("rows: UNKNOWN from the log: %d live adds lack stats.numRecords\n"
          % len(a["adds_without_numRecords"]))
    else:
        w("rows (numRecords - DV cardinality): %d\n" % a["rows"])
    if a["footer_rows"] is not None:
        w("rows from Parquet footers (physical, before DVs): %d\n" % a["footer_rows"])
    w("partition columns: %s\n" % a["partition_columns"])
    if a["physical_names"]:
        w("column mapping physical names: %s\n" % json.dumps(a["physical_names"]))
    for c, vals in a["partition_values"].items():
        w("  distinct values of %s: %s\n" % (c, json.dumps(vals)))
    w("protocol: %s\n" % json.dumps(a["protocol"]))
    w("metaData: %s\n" % json.dumps(a["metaData"]))
    w("txns: %s\n" % json.dumps(a["txns"]))
    w("domains: %s\n" % json.dumps(a["domains"]))
    w("tombstones: %d; a checkpoint here would hold %d action rows\n" % (
        a["num_tombstones"], a["expected_checkpoint_action_rows"]))
    w("live files:\n")
    for e in a["live_files"]:
        w("  %s size=%s numRecords=%s added_in=v%d on_disk=%s%s\n" % (
            e["path"], e["size"], e["numRecords"], e["added_in"], e["on_disk"],
            (" footer_rows=%s" % e["parquet_footer_rows"]) if "parquet_footer_rows" in e
            else ""))
        if "dv" in e:
            w("    DV %s -> %s on_disk=%s file_size=%s problem=%s cardinality_from_file=%s\n" % (
                json.dumps(e["dv"]["descriptor"]), e["dv"]["file"], e["dv"].get("on_disk"),
                e["dv"].get("file_size"), e["dv"].get("problem"),
                e["dv"].get("cardinality_from_file")))
    w("cdc files (commits <= %d): %d, bytes %d\n" % (
        a["version"], len(a["cdc_files"]), sum(c["size"] or 0 for c in a["cdc_files"])))
    for c in a["cdc_files"]:
        w("  v%d %s size=%s\n" % (c["version"], c["path"], c["size"]))
    w("commit timestamps (version: commitInfo.timestamp / inCommitTimestamp / file mtime ms):\n")
    for v, t in a["commit_timestamps"].items():
        w("  %d: %s / %s / %s\n" % (v, t["commitInfo.timestamp"], t["inCommitTimestamp"],
                                    t["file_mtime_ms"]))
    w("missing on disk: live files %s; live DV files %s; cdc files %s; "
      "removed (history) files %s\n" % (
          json.dumps(a["missing_live_files"]), json.dumps(a["missing_live_dv_files"]),
          json.dumps(a["missing_cdc_files"]), json.dumps(a["missing_removed_files"])))
    w("on disk but not named by commits 0..%d: %s\n" % (
        a["version"], json.dumps(a["unreferenced_on_disk"])))


def print_all_versions(table, out=sys.stdout):
    listing = list_log(table)
    start, head, _ = contiguous_head(set(listing["commits"]))
    if start != 0:
        out.write("not replayable from JSON\n")
        return
    out.write("version files bytes rows(numRecords-dv) footer_rows(before-dv) missing_live "
              "tombstones cdc_files_in_commit\n")
    for v in range(0, head + 1):
        r, err = replay(table, v, listing)
        if err:
            out.write("%d ERROR %s\n" % (v, err))
            continue
        a = facts_at(table, v, r, listing)
        out.write("%d %d %d %s %s %d %d %d\n" % (
            v, a["num_live_files"], a["bytes"], a["rows"] if a["rows"] is not None else "unknown",
            a["footer_rows"] if a["footer_rows"] is not None else "n/a",
            len(a["missing_live_files"]), a["num_tombstones"],
            sum(1 for c in a["cdc_files"] if c["version"] == v)))


# --------------------------------------------------------------------------------------------
# check: replication invariants
# --------------------------------------------------------------------------------------------

def same_bytes(a, b):
    return os.path.getsize(a) == os.path.getsize(b) and filecmp.cmp(a, b, shallow=False)


def first_diff(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        x, y = fa.read(), fb.read()
    for i in range(min(len(x), len(y))):
        if x[i] != y[i]:
            return i
    return min(len(x), len(y))


def check(source, target, want_version=None):
    """Returns the list of violations (strings). Empty list: the target is a valid replica."""
    v = []
    src = list_log(source)
    tgt = list_log(target)
    tcommits = tgt["commits"]
    scommits = src["commits"]

    # R1: contiguous, byte-identical prefix of the source's commits.
    if not tcommits:
        head = -1
    else:
        tstart, head, gaps = contiguous_head(set(tcommits))
        for g in gaps:
            v.append("R1: target commit %s is missing (gap): the target has commits %d..%d "
                     "but not this one" % (commit_name(g), tstart, max(tcommits)))
        if gaps:
            head = max(tcommits)
        if tstart != 0:
            cps = complete_checkpoints(tgt)
            if tstart not in cps:
                v.append("R1: target commits start at %d, not 0, and the target has no complete "
                         "checkpoint at %d to start from" % (tstart, tstart))
        s_start, s_head, _ = contiguous_head(set(scommits))
        for ver in sorted(tcommits):
            if ver in scommits:
                if not same_bytes(tcommits[ver], scommits[ver]):
                    v.append("R1: target commit %s differs from the source (first differing "
                             "byte at offset %d)" % (commit_name(ver),
                                                     first_diff(tcommits[ver], scommits[ver])))
            elif s_start is not None and ver < s_start:
                pass  # expired from the source by log retention; cannot compare
            else:
                v.append("R1: target commit %s does not exist in the source (source head %d)"
                         % (commit_name(ver), s_head))
    if want_version is not None and head != want_version:
        v.append("R1: target head is %d, expected %d" % (head, want_version))

    # Torn-copy: every target commit parses to its last line.
    for ver in sorted(tcommits):
        _, err = parse_commit(tcommits[ver])
        if err:
            v.append("TORN: target commit %s: %s" % (commit_name(ver), err))
    if os.path.isdir(os.path.join(log_dir(target), "_staged_commits")):
        v.append("TORN: target has _delta_log/_staged_commits/, which must never be copied")

    # Checkpoints, crc, compaction, sidecars in the target: only for versions <= head, complete,
    # and byte-identical to the source's when the source still has them.
    tcps = complete_checkpoints(tgt)
    for (cv, n), parts in sorted(tgt["multi"].items()):
        if len(parts) != n:
            # An incomplete set is ignored by readers; it is still a half-done copy.
            v.append("TORN: target multi-part checkpoint at %d has %d of %d parts"
                     % (cv, len(parts), n))
    all_cp_files = [p for p in tgt["classic"].values()]
    all_cp_files += [p for parts in tgt["multi"].values() for p in parts.values()]
    all_cp_files += [p for ps in tgt["uuid"].values() for p in ps]
    for p in sorted(all_cp_files):
        name = os.path.basename(p)
        cv = int(name[:20])
        if cv > head:
            v.append("TORN: target checkpoint %s is beyond the target head %d" % (name, head))
        sp = os.path.join(log_dir(source), name)
        if os.path.isfile(sp) and not same_bytes(p, sp):
            v.append("TORN: target checkpoint %s differs from the source" % name)
    for cv, p in sorted(tgt["crc"].items()):
        if cv > head:
            v.append("TORN: target %s is beyond the target head %d" % (os.path.basename(p), head))
        sp = os.path.join(log_dir(source), os.path.basename(p))
        if os.path.isfile(sp) and not same_bytes(p, sp):
            v.append("TORN: target %s differs from the source" % os.path.basename(p))
    for a, b, p in tgt["compacted"]:
        if b > head:
            v.append("TORN: target compaction %s covers commits beyond the target head %d"
                     % (os.path.basename(p), head))
    sc_dir = os.path.join(log_dir(target), "_sidecars")
    if os.path.isdir(sc_dir):
        for name in sorted(os.listdir(sc_dir)):
            tp = os.path.join(sc_dir, name)
            sp = os.path.join(log_dir(source), "_sidecars", name)
            if os.path.isfile(tp) and os.path.isfile(sp) and not same_bytes(tp, sp):
                v.append("TORN: target sidecar _sidecars/%s differs from the source" % name)
    if tgt["last_checkpoint"]:
        try:
            with open(tgt["last_checkpoint"], "rb") as fh:
                lc = json.loads(fh.read())
            lv = int(lc["version"])
            if lv > head:
                v.append("TORN: target _last_checkpoint names version %d beyond the target "
                         "head %d" % (lv, head))
            if lv not in tcps:
                v.append("TORN: target _last_checkpoint names version %d but the target has no "
                         "complete checkpoint there" % lv)
        except (ValueError, KeyError, TypeError) as e:
            v.append("TORN: target _last_checkpoint does not parse (%s)" % e)

    if head < 0:
        return v

    # Replay the source's commits 0..head (identical to the target's when R1 holds, and still
    # usable when the target itself is torn); fall back to the target's own commits when the
    # source has expired its early commits.
    r, err = replay(source, head)
    if err:
        r, err = replay(target, head)
    if err:
        v.append("R2: cannot compute the live files at version %d (%s); this tool does not "
                 "decode Parquet checkpoints" % (head, err))
        return v

    # R2 + torn: every live file (and its DV file) at the head exists with the same bytes and
    # the size the log declares.
    for key, add in sorted(r.live.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        rel = add["_path"]
        tp = local_file(target, rel)
        sp = local_file(source, rel)
        if tp is None:
            continue  # absolute remote URI: nothing to copy
        if is_absolute_uri(rel):
            continue  # absolute file: URI points outside both tables
        if not os.path.isfile(tp):
            v.append("R2: live file '%s' (added in version %d) is missing in the target%s"
                     % (rel, add["_version"],
                        "" if sp and os.path.isfile(sp) else
                        " (it is missing in the source too: the source is partial and no "
                        "replica can reach version %d)" % head))
            continue
        if add.get("size") is not None and os.path.getsize(tp) != int(add["size"]):
            v.append("TORN: live file '%s' is %d bytes in the target, the log says %d"
                     % (rel, os.path.getsize(tp), int(add["size"])))
        if sp and os.path.isfile(sp) and not same_bytes(tp, sp):
            v.append("R2: live file '%s' differs from the source" % rel)
        dv = add.get("deletionVector")
        if dv and dv.get("storageType") == "u":
            drel = dv_relative_file(dv)
            dtp, dsp = local_file(target, drel), local_file(source, drel)
            if not os.path.isfile(dtp):
                v.append("R2: deletion-vector file '%s' of live file '%s' is missing in the "
                         "target" % (drel, rel))
            else:
                prob = dv_file_problem(dtp, dv)
                if prob:
                    v.append("TORN: deletion-vector file '%s' in the target %s" % (drel, prob))
                if os.path.isfile(dsp) and not same_bytes(dtp, dsp):
                    v.append("R2: deletion-vector file '%s' differs from the source" % drel)

    # R3: every file referenced by commits <= head that still exists in the source.
    seen = set()
    for ver, kind, rel, _x in r.referenced:
        if rel in seen or is_absolute_uri(rel):
            continue
        seen.add(rel)
        sp = local_file(source, rel)
        tp = local_file(target, rel)
        if not os.path.isfile(sp):
            continue
        if not os.path.isfile(tp):
            v.append("R3: %s file '%s' referenced by version %d exists in the source but is "
                     "missing in the target" % (kind, rel, ver))
        elif not same_bytes(tp, sp):
            v.append("R3: %s file '%s' referenced by version %d differs from the source"
                     % (kind, rel, ver))
    # De-duplicate (R2 and R3 may name the same missing file; keep both, they are distinct
    # invariants, but never the same line twice).
    out = []
    for line in v:
        if line not in out:
            out.append(line)
    return out


# --------------------------------------------------------------------------------------------
# snapshot-check: a lakesync snapshot (a standalone table whose only commit is version 0)
# against its source at a version. Written from the protocol rules, not from lakesync's code.
# --------------------------------------------------------------------------------------------

# Table properties a snapshot may legitimately drop (the new table has ICT from version 0).
SNAPSHOT_DROPPABLE_PROPERTIES = {"delta.inCommitTimestampEnablementVersion",
                                 "delta.inCommitTimestampEnablementTimestamp"}


def _file_uri_to_path(uri):
    p = local_file("/", uri)
    return urllib.parse.unquote(p) if p is not None else None


def snapshot_check(source, snap, version, shallow=False, manifest=None):
    """Violations (one text each) of a snapshot of `source` at `version` stored in `snap`."""
    out = []
    listing = list_log(snap)
    if sorted(listing["commits"]) != [0]:
        out.append("SNAP: the snapshot's log holds commits %s, expected exactly [0]"
                   % sorted(listing["commits"]))
        return out
    r_src, err = replay(source, version)
    if err:
        return ["SNAP: source not replayable at version %d: %s" % (version, err)]
    r_snap, err = replay(snap, 0, listing)
    if err:
        return ["SNAP: snapshot not replayable: %s" % err]
    c0, _ = parse_commit(listing["commits"][0])
    if not c0 or "commitInfo" not in c0[0]:
        out.append("SNAP: commit 0 does not start with commitInfo")
    if r_snap.removed_keys or r_snap.tombstones:
        out.append("SNAP: commit 0 holds remove actions")
    if r_snap.cdc:
        out.append("SNAP: commit 0 holds cdc actions")
    if r_snap.protocol != r_src.protocol:
        out.append("SNAP: protocol %s differs from the source's %s"
                   % (r_snap.protocol, r_src.protocol))
    ms, mt = r_src.metadata or {}, r_snap.metadata or {}
    for k in ("schemaString", "partitionColumns", "format", "name", "description"):
        if ms.get(k) != mt.get(k):
            out.append("SNAP: metaData.%s differs from the source's" % k)
    if mt.get("id") == ms.get("id"):
        out.append("SNAP: metaData.id equals the source's (a new table needs a fresh id)")
    cs = {k: v for k, v in (ms.get("configuration") or {}).items()
          if k not in SNAPSHOT_DROPPABLE_PROPERTIES}
    ct = mt.get("configuration") or {}
    if cs != ct:
        out.append("SNAP: metaData.configuration %s differs from the source's %s" % (ct, cs))
    ict = (ct.get("delta.enableInCommitTimestamps") == "true")
    if ict and (not c0 or "inCommitTimestamp" not in c0[0].get("commitInfo", {})):
        out.append("SNAP: in-commit timestamps are enabled but commit 0 has no inCommitTimestamp")
    dom_s = {k: d.get("configuration") for k, d in r_src.domains.items()}
    dom_t = {k: d.get("configuration") for k, d in r_snap.domains.items()}
    if dom_s != dom_t:
        out.append("SNAP: domains %s differ from the source's %s" % (dom_t, dom_s))
    txn_s = {k: t.get("version") for k, t in r_src.txns.items()}
    txn_t = {k: t.get("version") for k, t in r_snap.txns.items()}
    if txn_s != txn_t:
        out.append("SNAP: txns %s differ from the source's %s" % (txn_t, txn_s))
    row_tracking = "rowTracking" in ((r_src.protocol or {}).get("writerFeatures") or [])

    # Live files: the source's at `version`, matched by data path.
    src_live = {a["_path"]: a for a in r_src.live.values()}
    snap_live = {}
    for a in r_snap.live.values():
        p = a["_path"]
        if shallow:
            if not p.startswith("file:"):
                out.append("SNAP: shallow add %r is not an absolute file: URI" % p)
                continue
            lp = _file_uri_to_path(a["path"])
            rel = os.path.relpath(lp, os.path.abspath(source)).replace(os.sep, "/")
            p = rel
        snap_live[p] = a
    for p in sorted(set(src_live) - set(snap_live)):
        out.append("SNAP: source live file %r is missing from the snapshot's log" % p)
    for p in sorted(set(snap_live) - set(src_live)):
        out.append("SNAP: snapshot's log adds %r, which is not live in the source at version %d"
                   % (p, version))
    expected_files = {os.path.join("_delta_log", commit_name(0))}
    for p in sorted(set(src_live) & set(snap_live)):
        a, b = src_live[p], snap_live[p]
        for k in ("size", "partitionValues", "stats", "tags", "baseRowId", "dataChange"):
            if a.get(k) != b.get(k):
                out.append("SNAP: %s: %s is %r in the snapshot, %r in the source"
                           % (p, k, b.get(k), a.get(k)))
        want_drcv = a.get("defaultRowCommitVersion")
        if row_tracking and want_drcv is not None:
            want_drcv = 0
        if b.get("defaultRowCommitVersion") != want_drcv:
            out.append("SNAP: %s: defaultRowCommitVersion is %r, expected %r"
                       % (p, b.get("defaultRowCommitVersion"), want_drcv))
        dva, dvb = a.get("deletionVector"), b.get("deletionVector")
        if (dva is None) != (dvb is None):
            out.append("SNAP: %s: deletion vector present in one table only" % p)
        elif dva is not None:
            for k in ("offset", "sizeInBytes", "cardinality"):
                if dva.get(k) != dvb.get(k):
                    out.append("SNAP: %s: deletionVector.%s differs" % (p, k))
            if shallow and dva.get("storageType") == "u":
                want = os.path.join(os.path.abspath(source), dv_relative_file(dva))
                got = _file_uri_to_path(dvb.get("pathOrInlineDv", "")) \
                    if dvb.get("storageType") == "p" else None
                if got != want:
                    out.append("SNAP: %s: shallow DV should point at %s, got %s" % (p, want, dvb))
            elif dva != dvb:
                out.append("SNAP: %s: deletionVector %s differs from the source's %s"
                           % (p, dvb, dva))
        # Bytes on disk.
        rels = [(p, "data file")]
        if dva is not None and dv_relative_file(dva) is not None and dva.get("storageType") == "u":
            rels.append((dv_relative_file(dva), "deletion-vector file"))
        for rel, what in rels:
            src_file = os.path.join(source, rel)
            if shallow:
                continue
            expected_files.add(os.path.normpath(rel))
            snap_file = os.path.join(snap, rel)
            if not os.path.isfile(snap_file):
                out.append("SNAP: %s %r is missing from the snapshot" % (what, rel))
            elif not os.path.isfile(src_file):
                out.append("SNAP: %s %r is missing from the source" % (what, rel))
            elif not same_bytes(src_file, snap_file):
                out.append("SNAP: %s %r differs from the source's bytes" % (what, rel))
    # Nothing else in the snapshot directory (no stray copies, no history).
    for dirpath, _dirnames, filenames in os.walk(snap):
        for n in filenames:
            rel = os.path.normpath(os.path.relpath(os.path.join(dirpath, n), snap))
            if rel not in expected_files:
                out.append("SNAP: unexpected file %r in the snapshot directory" % rel)
    if manifest is not None:
        try:
            with open(manifest) as f:
                m = json.load(f)
        except (OSError, ValueError) as e:
            out.append("SNAP: manifest %s unreadable: %s" % (manifest, e))
            return out
        fx = facts_at(source, version, r_src, list_log(source))
        want = {"version": version, "files": fx["num_live_files"], "bytes": fx["bytes"]}
        if fx["rows"] is not None:
            want["rows"] = fx["rows"]
        for k, v in want.items():
            if m.get(k) != v:
                out.append("SNAP: manifest %s is %r, expected %r" % (k, m.get(k), v))
        if m.get("table_id") != mt.get("id"):
            out.append("SNAP: manifest table_id %r is not the snapshot's metaData.id %r"
                       % (m.get("table_id"), mt.get("id")))
    return out


def _selftest_snapshot(tmp, src, expect):
    """Builds a correct snapshot of the selftest source at version 1 by hand; checks it is
    accepted and that damage is reported."""
    snap = os.path.join(tmp, "snap")
    with open(os.path.join(src, "_delta_log", commit_name(0))) as f:
        c0 = [json.loads(x) for x in f if x.strip()]
    r, _ = replay(src, 1)
    md = dict(r.metadata)
    md["id"] = "fresh"
    actions = [{"commitInfo": {"timestamp": 1}}, {"protocol": r.protocol}, {"metaData": md}]
    for a in sorted(r.live.values(), key=lambda a: a["_path"]):
        a = {k: v for k, v in a.items() if not k.startswith("_")}
        actions.append({"add": a})
    _write(os.path.join(snap, "_delta_log", commit_name(0)),
           "\n".join(json.dumps(a) for a in actions) + "\n")
    for rel in ("a.parquet", os.path.join("x=A%2FA", "b.parquet"),
                os.path.join("ab", "deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin")):
        os.makedirs(os.path.dirname(os.path.join(snap, rel)), exist_ok=True)
        shutil.copyfile(os.path.join(src, rel), os.path.join(snap, rel))
    got = snapshot_check(src, snap, 1)
    expect(got == [], "snapshot-check accepts a correct snapshot, got %s" % got)
    got = snapshot_check(src, snap, 2)
    expect(any("not live in the source at version 2" in x for x in got),
           "snapshot-check notices the wrong version, got %s" % got)
    os.remove(os.path.join(snap, "a.parquet"))
    got = snapshot_check(src, snap, 1)
    expect(any("data file 'a.parquet' is missing from the snapshot" in x for x in got),
           "snapshot-check notices a missing data file, got %s" % got)
    del c0


# --------------------------------------------------------------------------------------------
# selftest
# --------------------------------------------------------------------------------------------

def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def _z85_encode(b):
    out = []
    for i in range(0, len(b), 4):
        (acc,) = struct.unpack(">I", b[i:i + 4])
        chunk = []
        for _ in range(5):
            chunk.append(Z85_CHARS[acc % 85])
            acc //= 85
        out.append("".join(reversed(chunk)))
    return "".join(out)


def _build_source(root):
    """A tiny source table: v0 adds a.parquet and 'x=A%2FA/b.parquet' (double-escaped in the
    log), v1 adds a DV to a.parquet and a cdc file, v2 removes b."""
    u = uuid.UUID("61d16c75-6994-46b7-a15b-8b538852e50e")
    body = b"0123456789"
    dvfile = b"\x01" + struct.pack(">I", len(body)) + body + struct.pack(
        ">I", zlib.crc32(body) & 0xFFFFFFFF)
    _write(os.path.join(root, "ab", "deletion_vector_%s.bin" % u), dvfile)
    _write(os.path.join(root, "a.parquet"), b"A" * 11)
    _write(os.path.join(root, "x=A%2FA", "b.parquet"), b"B" * 7)
    _write(os.path.join(root, "_change_data", "c.parquet"), b"C" * 5)
    dv = {"storageType": "u", "pathOrInlineDv": "ab" + _z85_encode(u.bytes), "offset": 1,
          "sizeInBytes": len(body), "cardinality": 3}
    c0 = [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
          {"metaData": {"id": "t", "partitionColumns": [], "configuration": {},
                        "schemaString": "{}", "format": {"provider": "parquet"}}},
          {"add": {"path": "a.parquet", "size": 11, "partitionValues": {}, "dataChange": True,
                   "stats": "{\"numRecords\":10}"}},
          {"add": {"path": "x=A%252FA/b.parquet", "size": 7, "partitionValues": {},
                   "dataChange": True, "stats": "{\"numRecords\":4}"}}]
    c1 = [{"remove": {"path": "a.parquet", "dataChange": True}},
          {"add": {"path": "a.parquet", "size": 11, "partitionValues": {}, "dataChange": True,
                   "stats": "{\"numRecords\":10}", "deletionVector": dv}},
          {"cdc": {"path": "_change_data/c.parquet", "size": 5, "partitionValues": {},
                   "dataChange": False}}]
    c2 = [{"remove": {"path": "x=A%252FA/b.parquet", "dataChange": True}}]
    for i, c in enumerate([c0, c1, c2]):
        _write(os.path.join(root, "_delta_log", commit_name(i)),
               "\n".join(json.dumps(a) for a in c) + "\n")


def selftest():
    failures = []

    def expect(cond, what):
        if not cond:
            failures.append(what)

    # Z85 against DELTA_NOTES section 2.
    expect(dv_relative_file({"storageType": "u", "pathOrInlineDv": "vBn[lx{q8@P<9BNH/isA"})
           == "deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin", "z85 example 1")
    expect(dv_relative_file({"storageType": "u", "pathOrInlineDv": "ab^-aqEH.-t@S}K{vb[*k^"})
           == "ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin", "z85 example 2")
    expect(decode_path("x=A%252FA/b.parquet") == "x=A%2FA/b.parquet", "decode exactly once")
    expect(decode_path("a+b%20c") == "a+b c", "plus stays plus")

    tmp = tempfile.mkdtemp(prefix="delta_facts_selftest_")
    try:
        src = os.path.join(tmp, "src")
        _build_source(src)
        fx = table_facts(src)
        a = fx["at"]
        expect(fx["head_version"] == 2, "head 2")
        expect(a["num_live_files"] == 1 and a["bytes"] == 11, "one live file of 11 bytes")
        expect(a["rows"] == 7, "rows 10 - 3 = 7, got %s" % a["rows"])
        expect(a["missing_live_files"] == [] and a["missing_cdc_files"] == [], "nothing missing")
        fx1 = table_facts(src, version=1)["at"]
        expect(fx1["num_live_files"] == 2 and fx1["bytes"] == 18 and fx1["rows"] == 11,
               "time travel to v1: 2 files, 18 bytes, 11 rows")
        expect(a["live_files"][0]["dv"]["problem"] is None, "DV file well formed")

        def case(name, mutate, want_substrings, want_version=None):
            tgt = os.path.join(tmp, name)
            shutil.copytree(src, tgt)
            mutate(tgt)
            got = check(src, tgt, want_version)
            if not want_substrings:
                expect(got == [], "%s: expected no violations, got %s" % (name, got))
            for s in want_substrings:
                expect(any(s in line for line in got),
                       "%s: expected a violation containing %r, got %s" % (name, s, got))

        log = lambda t, v: os.path.join(t, "_delta_log", commit_name(v))  # noqa: E731
        case("exact", lambda t: None, [])
        case("exact_v2", lambda t: None, [], want_version=2)
        case("wrong_head", lambda t: None, ["R1: target head is 2, expected 1"], want_version=1)
        case("prefix", lambda t: os.remove(log(t, 2)), [])  # v1 replica: b is live, present
        case("missing_data", lambda t: os.remove(os.path.join(t, "a.parquet")),
             ["R2: live file 'a.parquet' (added in version 1) is missing in the target"])
        case("missing_history",
             lambda t: os.remove(os.path.join(t, "x=A%2FA", "b.parquet")),
             ["R3: add file 'x=A%2FA/b.parquet' referenced by version 0 exists in the source "
              "but is missing in the target"])
        case("missing_cdc",
             lambda t: os.remove(os.path.join(t, "_change_data", "c.parquet")),
             ["R3: cdc file '_change_data/c.parquet' referenced by version 1"])
        case("missing_dv",
             lambda t: shutil.rmtree(os.path.join(t, "ab")),
             ["R2: deletion-vector file 'ab/deletion_vector_61d16c75-6994-46b7-a15b-"
              "8b538852e50e.bin' of live file 'a.parquet' is missing in the target"])

        def alter(t):
            p = log(t, 1)
            with open(p, "rb") as f:
                d = bytearray(f.read())
            d[5] ^= 0x01
            with open(p, "wb") as f:
                f.write(bytes(d))
        case("altered_commit", alter,
             ["R1: target commit 00000000000000000001.json differs from the source "
              "(first differing byte at offset 5)"])
        case("gap", lambda t: os.remove(log(t, 1)),
             ["R1: target commit 00000000000000000001.json is missing (gap)"])

        def torn(t):
            p = log(t, 2)
            with open(p, "rb") as f:
                d = f.read()
            with open(p, "wb") as f:
                f.write(d[:len(d) // 2])
        case("torn_commit", torn, ["TORN: target commit 00000000000000000002.json: line 1",
                                   "R1: target commit 00000000000000000002.json differs"])

        def wrong_size(t):
            with open(os.path.join(t, "a.parquet"), "ab") as f:
                f.write(b"!")
        case("wrong_size", wrong_size,
             ["TORN: live file 'a.parquet' is 12 bytes in the target, the log says 11",
              "R2: live file 'a.parquet' differs from the source"])
        case("last_checkpoint_ahead",
             lambda t: _write(os.path.join(t, "_delta_log", "_last_checkpoint"),
                              '{"version":5,"size":1}'),
             ["TORN: target _last_checkpoint names version 5 beyond the target head 2"])
        case("extra_commit",
             lambda t: _write(log(t, 3), '{"commitInfo":{}}\n'),
             ["R1: target commit 00000000000000000003.json does not exist in the source"])

        _selftest_snapshot(tmp, src, expect)

        # Command-line exit codes.
        me = os.path.abspath(__file__)
        rc_ok = os.system("%s %s check %s %s >/dev/null" % (
            sys.executable, me, src, os.path.join(tmp, "exact")))
        rc_bad = os.system("%s %s check %s %s >/dev/null" % (
            sys.executable, me, src, os.path.join(tmp, "gap")))
        rc_usage = os.system("%s %s check %s %s >/dev/null 2>&1" % (
            sys.executable, me, src, os.path.join(tmp, "does-not-exist")))
        expect(os.WEXITSTATUS(rc_ok) == 0, "exit 0 for an exact copy")
        expect(os.WEXITSTATUS(rc_bad) == 1, "exit 1 for violations")
        expect(os.WEXITSTATUS(rc_usage) == 2, "exit 2 for a usage error")
    finally:
        shutil.rmtree(tmp)

    for f in failures:
        print("SELFTEST FAIL: %s" % f)
    if failures:
        return 1
    print("selftest: all checks passed")
    return 0


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write("%s: error: %s\n" % (self.prog, message))
        sys.exit(2)


def main(argv):
    p = _Parser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd")
    pf = sub.add_parser("facts", help="facts about one table")
    pf.add_argument("table")
    pf.add_argument("--version", type=int)
    pf.add_argument("--json", action="store_true")
    pf.add_argument("--all-versions", action="store_true",
                    help="one summary line per version (files, bytes, rows)")
    pc = sub.add_parser("check", help="check a replica against its source")
    pc.add_argument("source")
    pc.add_argument("target")
    pc.add_argument("--version", type=int)
    ps = sub.add_parser("snapshot-check",
                        help="check a lakesync snapshot against its source at a version")
    ps.add_argument("source")
    ps.add_argument("snapshot")
    ps.add_argument("--version", type=int, required=True)
    ps.add_argument("--shallow", action="store_true")
    ps.add_argument("--manifest")
    sub.add_parser("selftest")
    args = p.parse_args(argv)
    if args.cmd == "facts":
        if not os.path.isdir(log_dir(args.table)):
            sys.stderr.write("error: %s has no _delta_log directory; pass the table root\n"
                             % args.table)
            return 2
        if args.all_versions:
            print_all_versions(args.table)
            return 0
        fx = table_facts(args.table, args.version)
        if args.json:
            json.dump(fx, sys.stdout, indent=2, sort_keys=True, default=str)
            sys.stdout.write("\n")
        else:
            print_facts(fx)
        return 1 if "error" in fx else 0
    if args.cmd == "check":
        for d, what in ((args.source, "source"), (args.target, "target")):
            if not os.path.isdir(d):
                sys.stderr.write("error: %s directory %s does not exist; pass the table root\n"
                                 % (what, d))
                return 2
        if not os.path.isdir(log_dir(args.source)):
            sys.stderr.write("error: source %s has no _delta_log directory; pass the table "
                             "root\n" % args.source)
            return 2
        violations = check(args.source, args.target, args.version)
        for line in violations:
            print(line)
        return 1 if violations else 0
    if args.cmd == "snapshot-check":
        for d in (args.source, args.snapshot):
            if not os.path.isdir(log_dir(d)):
                sys.stderr.write("error: %s has no _delta_log directory; pass the table root\n"
                                 % d)
                return 2
        violations = snapshot_check(args.source, args.snapshot, args.version, args.shallow,
                                    args.manifest)
        for line in violations:
            print(line)
        return 1 if violations else 0
    if args.cmd == "selftest":
        return selftest()
    p.print_usage(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
