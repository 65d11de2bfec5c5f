"""The fault storm's workload: an independent writer of real Delta commits.

It shares no code with lakesync (Python standard library only) and writes tables the way a
real Delta writer does (/work/shared/DELTA_NOTES.md):
  * data and deletion-vector files are written to a temporary name and renamed into place
    before the commit that references them;
  * commits are published with link() (put-if-absent: never overwrites a commit), so a reader
    never sees a partial commit file;
  * operations: appends (adds with stats), deletes with deletion vectors (remove of the old
    (path, DV) + add with a new DV file), compactions (dataChange=false: remove several files,
    add one), and VACUUM-style deletion of files that the latest version no longer references
    and that were removed more than a (short) retention ago.

Every file written is recorded in a ledger (relative path -> sha256, size), so that a checker
can compare copies with what was written even after VACUUM deleted the source's file.

Thread-safety: each Table has a lock; operations and the fault injector's availability switch
(`set_available`) take it, so a table's _delta_log is never renamed away in the middle of a
commit.
"""

import hashlib
import json
import os
import random
import struct
import threading
import time
import uuid
import zlib

Z85_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
SCHEMA = json.dumps({"type": "struct", "fields": [
    {"name": "id", "type": "long", "nullable": True, "metadata": {}},
    {"name": "k", "type": "string", "nullable": True, "metadata": {}}]}, separators=(",", ":"))
AWAY_SUFFIX = ".chaos-away"  # _delta_log renamed to _delta_log.chaos-away: source unreadable


def z85_encode(data):
    out = []
    for i in range(0, len(data), 4):
        acc = struct.unpack(">I", data[i:i + 4])[0]
        chunk = []
        for _ in range(5):
            chunk.append(Z85_CHARS[acc % 85])
            acc //= 85
        out.append("".join(reversed(chunk)))
    return "".join(out)


def dv_file_bytes(cardinality):
    """A DV file with one RoaringBitmapArray deleting rows 0..cardinality-1 (<= 4096).

    Layout: version byte 1; at offset 1: size (big-endian), the bitmap, CRC-32 of the bitmap
    (big-endian). The bitmap: magic, one 32-bit bitmap (portable format, one array container).
    """
    body = struct.pack("<IqI", 1681511377, 1, 0)
    body += struct.pack("<II", 12346, 1)
    body += struct.pack("<HH", 0, cardinality - 1)
    body += struct.pack("<I", 16)
    body += b"".join(struct.pack("<H", r) for r in range(cardinality))
    return b"\x01" + struct.pack(">I", len(body)) + body + \
        struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF), len(body)


def now_ms():
    return int(time.time() * 1000)


def compact_json(obj):
    return json.dumps(obj, separators=(",", ":"))


class Table:
    """One source table written by the workload (single writer)."""

    def __init__(self, root, rng, ledger, partitioned):
        self.root = root
        self.rng = rng
        self.ledger = ledger  # shared dict: "<root>/<rel>" -> (sha256, size)
        self.partitioned = partitioned
        self.version = -1
        self.live = {}  # rel path -> add action (dict)
        self.unreferenced = []  # (removed at, rel path): VACUUM candidates
        self.dv_files = {}  # pathOrInlineDv -> relative path of the DV file
        self.lock = threading.Lock()
        self.available = True
        self.counts = {"append": 0, "dv_delete": 0, "compaction": 0, "vacuum": 0,
                       "vacuumed_files": 0}

    # -- files ---------------------------------------------------------------------------------

    def _tmp_dir(self):
        d = os.path.join(self.root, "_chaos_tmp")
        os.makedirs(d, exist_ok=True)
        return d

    def _publish_file(self, rel, data):
        tmp = os.path.join(self._tmp_dir(), "%s.tmp" % uuid.uuid4().hex)
        with open(tmp, "wb") as f:
            f.write(data)
        full = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        os.rename(tmp, full)
        self.ledger[os.path.join(self.root, rel)] = (hashlib.sha256(data).hexdigest(), len(data))

    def _uuid(self):
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _commit(self, actions, operation):
        v = self.version + 1
        info = {"commitInfo": {"timestamp": now_ms(), "operation": operation,
                               "engineInfo": "lakesync-chaos-workload"}}
        data = "".join(compact_json(a) + "\n" for a in [info] + actions).encode()
        tmp = os.path.join(self._tmp_dir(), "%020d.%s.tmp" % (v, uuid.uuid4().hex))
        with open(tmp, "wb") as f:
            f.write(data)
        try:
            os.link(tmp, os.path.join(self.root, "_delta_log", "%020d.json" % v))
        finally:
            os.unlink(tmp)
        self.version = v

    def _new_data_file(self, partition, size, rows, data_change):
        prefix = "k=%s/" % partition if self.partitioned else ""
        rel = "%spart-%05d-%s.parquet" % (prefix, self.version + 1, self._uuid())
        self._publish_file(rel, self.rng.randbytes(size))
        return {"path": rel, "partitionValues": {"k": partition} if self.partitioned else {},
                "size": size, "modificationTime": now_ms(), "dataChange": data_change,
                "stats": compact_json({"numRecords": rows})}

    @staticmethod
    def _rows(add):
        return json.loads(add["stats"])["numRecords"]

    def _dv_rel(self, dv):
        return self.dv_files[dv["pathOrInlineDv"]]

    def _remove_of(self, add, data_change):
        r = {"path": add["path"], "deletionTimestamp": now_ms(), "dataChange": data_change,
             "extendedFileMetadata": True, "partitionValues": add["partitionValues"],
             "size": add["size"]}
        if "deletionVector" in add:
            r["deletionVector"] = add["deletionVector"]
        return {"remove": r}

    def _unreference(self, add):
        t = time.monotonic()
        self.unreferenced.append((t, add["path"]))
        if "deletionVector" in add:
            self.unreferenced.append((t, self._dv_rel(add["deletionVector"])))

    # -- operations ----------------------------------------------------------------------------

    def create(self):
        os.makedirs(os.path.join(self.root, "_delta_log"), exist_ok=True)
        actions = [
            {"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
                          "readerFeatures": ["deletionVectors"],
                          "writerFeatures": ["deletionVectors"]}},
            {"metaData": {"id": str(uuid.uuid4()), "format": {"provider": "parquet",
                                                             "options": {}},
                          "schemaString": SCHEMA,
                          "partitionColumns": ["k"] if self.partitioned else [],
                          "configuration": {"delta.enableDeletionVectors": "true"},
                          "createdTime": now_ms()}}]
        for _ in range(2):
            size = self._size()
            add = self._new_data_file(self._partition(), size, size // 8, True)
            actions.append({"add": add})
            self.live[add["path"]] = add
        self._commit(actions, "CREATE TABLE")

    def _partition(self):
        return str(self.rng.randrange(3))

    def _size(self):
        return self.rng.randrange(1024, 24 * 1024)

    def append(self):
        actions = []
        for _ in range(self.rng.randrange(1, 4)):
            size = self._size()
            add = self._new_data_file(self._partition(), size, size // 8, True)
            actions.append({"add": add})
        self._commit(actions, "WRITE")
        for a in actions:
            self.live[a["add"]["path"]] = a["add"]
        self.counts["append"] += 1

    def dv_delete(self):
        candidates = [a for a in self.live.values()
                      if a.get("deletionVector", {}).get("cardinality", 0) <
                      min(self._rows(a), 4096)]
        if not candidates:
            return self.append()
        old = self.rng.choice(sorted(candidates, key=lambda a: a["path"]))
        old_card = old.get("deletionVector", {}).get("cardinality", 0)
        card = min(old_card + self.rng.randrange(1, 9), self._rows(old), 4096)
        u = self._uuid()
        prefix = self.rng.choice(["", "%02x" % self.rng.randrange(256)])
        data, body_size = dv_file_bytes(card)
        dv = {"storageType": "u", "pathOrInlineDv": prefix + z85_encode(u.bytes), "offset": 1,
              "sizeInBytes": body_size, "cardinality": card}
        name = "deletion_vector_%s.bin" % u
        self.dv_files[dv["pathOrInlineDv"]] = prefix + "/" + name if prefix else name
        self._publish_file(self._dv_rel(dv), data)
        new = dict(old)
        new["deletionVector"] = dv
        new["modificationTime"] = now_ms()
        new["dataChange"] = True
        self._commit([self._remove_of(old, True), {"add": new}], "DELETE")
        self.live[new["path"]] = new
        if "deletionVector" in old:
            self.unreferenced.append((time.monotonic(), self._dv_rel(old["deletionVector"])))
        self.counts["dv_delete"] += 1

    def compaction(self):
        by_part = {}
        for a in self.live.values():
            by_part.setdefault(a["partitionValues"].get("k", ""), []).append(a)
        groups = [sorted(g, key=lambda a: a["path"]) for g in by_part.values() if len(g) >= 2]
        if not groups:
            return self.append()
        group = self.rng.choice(sorted(groups, key=lambda g: g[0]["path"]))
        victims = group[:self.rng.randrange(2, min(4, len(group)) + 1)]
        rows = sum(self._rows(a) - a.get("deletionVector", {}).get("cardinality", 0)
                   for a in victims)
        part = victims[0]["partitionValues"].get("k", "0")
        new = self._new_data_file(part, self._size(), max(rows, 1), False)
        self._commit([self._remove_of(a, False) for a in victims] + [{"add": new}], "OPTIMIZE")
        for a in victims:
            del self.live[a["path"]]
            self._unreference(a)
        self.live[new["path"]] = new
        self.counts["compaction"] += 1

    def vacuum(self, retention_seconds):
        """Deletes files unreferenced by the latest version for longer than the retention."""
        cutoff = time.monotonic() - retention_seconds
        keep, gone = [], 0
        for t, rel in self.unreferenced:
            if t <= cutoff:
                try:
                    os.unlink(os.path.join(self.root, rel))
                    gone += 1
                except FileNotFoundError:
                    pass
            else:
                keep.append((t, rel))
        self.unreferenced = keep
        self.counts["vacuum"] += 1
        self.counts["vacuumed_files"] += gone

    def step(self, vacuum_retention):
        """One random operation, unless the table is unavailable. Returns its name or None.
        A VACUUM keeps files unreferenced for less than a random 0..vacuum_retention seconds."""
        with self.lock:
            if not self.available:
                return None
            op = self.rng.choices(["append", "dv_delete", "compaction", "vacuum"],
                                  weights=[5, 3, 2, 1])[0]
            if op == "vacuum":
                # Sometimes RETAIN 0: files the replicas may not have copied yet disappear, and
                # the replicator must skip that history (or fail a run naming a live file).
                self.vacuum(self.rng.uniform(0.0, vacuum_retention))
            else:
                getattr(self, op)()
            return op

    def set_available(self, available):
        """Renames _delta_log away (unreadable source) or back. Waits for a running op."""
        log = os.path.join(self.root, "_delta_log")
        with self.lock:
            if available == self.available:
                return
            if available:
                os.rename(log + AWAY_SUFFIX, log)
            else:
                os.rename(log, log + AWAY_SUFFIX)
            self.available = available


class Workload:
    """Keeps committing to its tables from one thread until stop()."""

    def __init__(self, tables, seed, vacuum_retention=3.0, pause=(0.05, 0.25)):
        self.tables = tables  # name -> Table
        self.rng = random.Random(seed)
        self.vacuum_retention = vacuum_retention
        self.pause = pause
        self.commits = 0
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="workload", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()

    def _loop(self):
        names = sorted(self.tables)
        while not self._stop.is_set():
            table = self.tables[self.rng.choice(names)]
            try:
                op = table.step(self.vacuum_retention)
                if op not in (None, "vacuum"):
                    self.commits += 1
            except OSError as e:  # a workload failure is reported, never hidden
                self.errors.append("%s: %s" % (table.root, e))
                return
            self._stop.wait(self.rng.uniform(*self.pause))
