"""The fault storm's independent checker: its own Delta log reading and byte comparison.

Shares no code with lakesync (it uses tests/tools/delta_facts.py, the independent Delta reader,
for DV file names and path decoding). Two parts:

* `Observer`: a reader of the targets WHILE the storm runs (DESIGN.md R4 "a reader of the
  target never sees a commit whose files are missing"): every commit it sees for the first time
  must parse to its last line, follow its predecessor, equal the source's commit byte for byte
  (R1), and every data / deletion-vector file it adds must already be in the target with the
  bytes the workload wrote (the workload's ledger) — unless the source no longer has that file
  (vacuumed history, which lakesync skips by design). A commit seen once must never change
  (never overwritten). A snapshot whose manifest is visible (and not being deleted) must be
  complete.
* the final checks after the storm (`final_checks`): tests/tools/delta_facts.py `check` for
  every incremental target, tests/tools/global_facts.py for the consolidation, `snapshot-check`
  for every visible snapshot, and the PostgreSQL records against the tables.

Every problem is one line starting with the invariant it breaks.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import threading

COMMIT_RE = re.compile(r"^(\d{20})\.json$")
HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(os.path.dirname(HERE), "tools")
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, TOOLS)
import delta_facts  # noqa: E402  (read-only use of the independent Delta reader: DV names)


class Ledger:
    """What the workload wrote: full path -> (sha256, size); also indexed by file name (every
    name the workload writes holds a fresh UUID, so a name identifies one file)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_path = {}
        self._by_name = {}

    def __setitem__(self, path, value):
        with self._lock:
            self._by_path[path] = value
            self._by_name[os.path.basename(path)] = (path, value)

    def by_name(self, name):
        with self._lock:
            return self._by_name.get(name)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_commits(table):
    """Versions -> path of the commit files directly in TABLE/_delta_log (empty if none)."""
    d = os.path.join(table, "_delta_log")
    out = {}
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for n in names:
        m = COMMIT_RE.match(n)
        if m:
            out[int(m.group(1))] = os.path.join(d, n)
    return out


def contiguous_head(table):
    """The highest version v such that commits 0..v all exist; -1 when there is no commit 0."""
    versions = set(list_commits(table))
    v = -1
    while v + 1 in versions:
        v += 1
    return v


def parse_commit_bytes(data):
    """(actions, error): a commit must be complete JSON lines ending with a newline."""
    if not data.endswith(b"\n"):
        return None, "does not end with a newline (torn)"
    actions = []
    for i, line in enumerate(data.split(b"\n")[:-1]):
        if not line.strip():
            continue
        try:
            actions.append(json.loads(line))
        except ValueError as e:
            return None, "line %d does not parse (%s)" % (i + 1, e)
    return actions, None


def dv_relative_path(dv):
    """The DV file a 'u' descriptor names (delta_facts' decoder), else None."""
    if not dv or dv.get("storageType") != "u":
        return None
    return delta_facts.dv_relative_file(dv)


def referenced_files(actions):
    """(relative path, declared size or None) of the data and DV files the commit's adds name."""
    out = []
    for a in actions:
        add = a.get("add")
        if not add:
            continue
        out.append((delta_facts.decode_path(add["path"]), add.get("size")))
        dv = dv_relative_path(add.get("deletionVector"))
        if dv:
            out.append((dv, None))
    return out


class Observer:
    """Reads the targets while the storm runs; collects violations (thread: its own)."""

    def __init__(self, ledger, replicas, snapshot_dirs, interval=0.3):
        # replicas: [(name, source dir, target dir)]; for the consolidation's global table the
        # source is None (files are matched to the regions' files through the ledger).
        self.ledger = ledger
        self.replicas = replicas
        self.snapshot_dirs = snapshot_dirs
        self.interval = interval
        self.violations = []
        self.commits_seen = 0
        self.snapshots_seen = 0
        self._seen = {}  # (target, version) -> sha256
        self._snap_seen = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="observer", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()
        self.poll()
        # Never overwritten: every commit seen keeps its bytes.
        for (target, v), digest in sorted(self._seen.items()):
            path = os.path.join(target, "_delta_log", "%020d.json" % v)
            try:
                now = sha256_file(path)
            except OSError as e:
                self.violations.append("R4: %s commit %d was seen during the storm and is gone "
                                       "now (%s)" % (target, v, e))
                continue
            if now != digest:
                self.violations.append("R4: %s commit %d changed after it was published "
                                       "(overwritten)" % (target, v))

    def _loop(self):
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception as e:  # a checker bug must not pass silently
                self.violations.append("CHECKER: observer failed: %r" % e)
                return

    def poll(self):
        for name, source, target in self.replicas:
            self._poll_replica(name, source, target)
        for name, source, sdir in self.snapshot_dirs:
            self._poll_snapshots(name, source, sdir)

    def _source_gone(self, rel):
        """True when the workload's file of that name no longer exists (vacuumed)."""
        hit = self.ledger.by_name(os.path.basename(rel))
        return hit is not None and not os.path.exists(hit[0])

    def _file_problem(self, table, rel, size):
        """None when TABLE/rel holds what the workload wrote, else the problem."""
        full = os.path.join(table, rel)
        hit = self.ledger.by_name(os.path.basename(rel))
        try:
            st = os.stat(full)
        except OSError:
            return "is missing"
        if size is not None and st.st_size != size:
            return "is %d bytes, the log says %d" % (st.st_size, size)
        if hit is None:
            return "was never written by the workload"
        if st.st_size != hit[1][1] or sha256_file(full) != hit[1][0]:
            return "differs from the bytes the workload wrote"
        return None

    def _poll_replica(self, name, source, target):
        commits = list_commits(target)
        for v in sorted(commits):
            if (target, v) in self._seen:
                continue
            try:
                with open(commits[v], "rb") as f:
                    data = f.read()
            except OSError as e:
                self.violations.append("R4: %s: commit %d listed but unreadable: %s" %
                                       (name, v, e))
                continue
            self._seen[(target, v)] = hashlib.sha256(data).hexdigest()
            self.commits_seen += 1
            actions, err = parse_commit_bytes(data)
            if err:
                self.violations.append("R4: %s: commit %d %s" % (name, v, err))
                continue
            if v > 0 and (target, v - 1) not in self._seen and not os.path.exists(
                    os.path.join(target, "_delta_log", "%020d.json" % (v - 1))):
                self.violations.append("R4: %s: commit %d is visible before commit %d" %
                                       (name, v, v - 1))
            if source is not None:
                for log in ("_delta_log", "_delta_log.chaos-away"):
                    sp = os.path.join(source, log, "%020d.json" % v)
                    try:
                        with open(sp, "rb") as f:
                            if f.read() != data:
                                self.violations.append(
                                    "R1: %s: commit %d differs from the source's" % (name, v))
                        break
                    except OSError:
                        continue
            for rel, size in referenced_files(actions):
                problem = self._file_problem(target, rel, size)
                if problem and not (problem == "is missing" and self._source_gone(rel)):
                    self.violations.append("R4: %s: commit %d is visible but its file %s %s" %
                                           (name, v, rel, problem))

    def _poll_snapshots(self, name, source, sdir):
        mdir = os.path.join(sdir, "_snapshots")
        try:
            names = os.listdir(mdir)
        except OSError:
            return
        for n in sorted(names):
            if not n.endswith(".json") or n in self._snap_seen:
                continue
            sid = n[:-len(".json")]
            problems = self._snapshot_problems(os.path.join(sdir, sid))
            if problems and os.path.exists(os.path.join(mdir, n)) and not os.path.exists(
                    os.path.join(mdir, sid + ".deleting")):
                for p in problems:
                    self.violations.append("SNAP: %s: snapshot %s is visible (manifest present) "
                                           "but %s" % (name, sid, p))
            self._snap_seen.add(n)
            self.snapshots_seen += 1

    def _snapshot_problems(self, snap):
        c0 = os.path.join(snap, "_delta_log", "%020d.json" % 0)
        try:
            with open(c0, "rb") as f:
                data = f.read()
        except OSError:
            return ["its commit 0 is missing"]
        actions, err = parse_commit_bytes(data)
        if err:
            return ["its commit 0 %s" % err]
        out = []
        for rel, size in referenced_files(actions):
            problem = self._file_problem(snap, rel, size)
            if problem:
                out.append("its file %s %s" % (rel, problem))
        return out


# --------------------------------------------------------------------------------------------
# After the storm
# --------------------------------------------------------------------------------------------

def run_tool(args):
    r = subprocess.run([sys.executable] + args, capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


SNAP_SOURCE_GONE = re.compile(
    r"^SNAP: (?:data file|deletion-vector file) '(.+)' is missing from the source$")


def check_snapshots(ledger, source, sdir):
    """snapshot-check of every visible snapshot. A file the source has vacuumed since the
    snapshot was taken cannot be compared with the source: it is compared with the ledger."""
    violations, checked = [], 0
    mdir = os.path.join(sdir, "_snapshots")
    names = sorted(os.listdir(mdir)) if os.path.isdir(mdir) else []
    for n in names:
        if not n.endswith(".json"):
            continue
        sid = n[:-len(".json")]
        if os.path.exists(os.path.join(mdir, sid + ".deleting")):
            continue  # not visible: retention is deleting it
        with open(os.path.join(mdir, n)) as f:
            version = json.load(f)["version"]
        code, out, err = run_tool([os.path.join(TOOLS, "delta_facts.py"), "snapshot-check",
                                   source, os.path.join(sdir, sid), "--version", str(version),
                                   "--manifest", os.path.join(mdir, n)])
        checked += 1
        if code not in (0, 1):
            violations.append("CHECKER: snapshot-check %s failed: %s" % (sid, err.strip()))
            continue
        for line in out.splitlines():
            m = SNAP_SOURCE_GONE.match(line)
            if m:
                hit = ledger.by_name(os.path.basename(m.group(1)))
                full = os.path.join(sdir, sid, m.group(1))
                if hit and os.path.isfile(full) and sha256_file(full) == hit[1][0]:
                    continue  # vacuumed in the source since; the copy holds the written bytes
            violations.append("%s (snapshot %s)" % (line, sid))
    return violations, checked


def vacuumed_history(ledger, target):
    """Files the target's commits reference that neither the target nor the source has: history
    the source vacuumed before it was copied (skipped by design; counted for the summary)."""
    n = 0
    commits = list_commits(target)
    for v in sorted(commits):
        with open(commits[v], "rb") as f:
            actions, _err = parse_commit_bytes(f.read())
        for rel, _size in referenced_files(actions or []):
            hit = ledger.by_name(os.path.basename(rel))
            if not os.path.exists(os.path.join(target, rel)) and hit and \
                    not os.path.exists(hit[0]):
                n += 1
    return n


def global_txns(global_dir):
    """appId -> latest txn version in the global table's log (own parsing)."""
    txns = {}
    commits = list_commits(global_dir)
    for v in sorted(commits):
        with open(commits[v], "rb") as f:
            actions, err = parse_commit_bytes(f.read())
        for a in actions or []:
            if "txn" in a:
                txns[a["txn"]["appId"]] = a["txn"]["version"]
    return txns


def newest_snapshot_version(sdir):
    mdir = os.path.join(sdir, "_snapshots")
    best = None
    for n in (os.listdir(mdir) if os.path.isdir(mdir) else []):
        if n.endswith(".json") and not os.path.exists(os.path.join(mdir, n[:-5] + ".deleting")):
            try:
                with open(os.path.join(mdir, n)) as f:
                    v = json.load(f)["version"]
            except (OSError, ValueError, KeyError):
                continue
            best = v if best is None else max(best, v)
    return best


# --------------------------------------------------------------------------------------------
# selftest: the observer must accept a correct replica and catch each kind of damage
# --------------------------------------------------------------------------------------------

def _copy_replica(source, target, upto):
    """A correct replica of commits 0..upto: files first, then the commits in order."""
    import shutil
    os.makedirs(os.path.join(target, "_delta_log"), exist_ok=True)
    commits = list_commits(source)
    for v in range(upto + 1):
        with open(commits[v], "rb") as f:
            actions, _ = parse_commit_bytes(f.read())
        for rel, _size in referenced_files(actions):
            sp, tp = os.path.join(source, rel), os.path.join(target, rel)
            if os.path.exists(sp):
                os.makedirs(os.path.dirname(tp), exist_ok=True)
                shutil.copyfile(sp, tp)
        shutil.copyfile(commits[v], os.path.join(target, "_delta_log", "%020d.json" % v))


def selftest():
    import random
    import shutil
    import tempfile
    sys.path.insert(0, HERE)
    import workload
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger()
        src = os.path.join(tmp, "src")
        t = workload.Table(src, random.Random(5), ledger, True)
        t.create()
        for _ in range(40):
            t.step(0.0)
        head = t.version

        def observe(target, damage=None, after=None):
            obs = Observer(ledger, [("t", src, target)], [])
            if damage:
                damage(target)
            obs.poll()
            if after:
                after(target)
            obs.stop()
            return obs.violations

        def fresh(name):
            target = os.path.join(tmp, name)
            _copy_replica(src, target, head)
            return target

        def last_add_file(target):
            with open(os.path.join(target, "_delta_log", "%020d.json" % head), "rb") as f:
                actions, _ = parse_commit_bytes(f.read())
            for rel, _s in referenced_files(actions):
                if os.path.exists(os.path.join(src, rel)):
                    return rel
            return None

        got = observe(fresh("good"))
        if got:
            failures.append("a correct replica was rejected: %s" % got)

        def drop_file(target):
            rel = last_add_file(target)
            if rel is None:
                failures.append("selftest table: the last commit adds no file")
            else:
                os.unlink(os.path.join(target, rel))

        def flip_byte(target):
            p = os.path.join(target, "_delta_log", "%020d.json" % 1)
            with open(p, "rb") as f:
                data = bytearray(f.read())
            data[5] ^= 1
            with open(p, "wb") as f:
                f.write(data)

        def tear(target):
            p = os.path.join(target, "_delta_log", "%020d.json" % head)
            with open(p, "rb") as f:
                data = f.read()
            with open(p, "wb") as f:
                f.write(data[:-3])

        def gap(target):
            os.unlink(os.path.join(target, "_delta_log", "%020d.json" % (head - 1)))

        def overwrite(target):
            with open(os.path.join(target, "_delta_log", "%020d.json" % head), "ab") as f:
                f.write(b'{"commitInfo":{}}\n')

        for name, damage, after, want in (
                ("file missing before its commit", drop_file, None, "R4: t: commit %d is visible"
                 " but its file" % head),
                ("a commit byte differs", flip_byte, None, "R1: t: commit 1 differs"),
                ("a torn commit", tear, None, "R4: t: commit %d does not end" % head),
                ("a gap", gap, None, "R4: t: commit %d is visible before" % head),
                ("an overwritten commit", None, overwrite, "R4: %s commit %d changed" %
                 (os.path.join(tmp, "an_overwritten_commit"), head))):
            got = observe(fresh(name.replace(" ", "_")), damage, after)
            if not any(g.startswith(want) for g in got):
                failures.append("%s was not caught (want %r): %s" % (name, want, got))

        # Snapshots: a visible incomplete one is caught; one being deleted is not.
        sdir = os.path.join(tmp, "snaps")
        for sid in ("s1", "s2"):
            snap = os.path.join(sdir, sid)
            os.makedirs(os.path.join(snap, "_delta_log"))
            with open(os.path.join(src, "_delta_log", "%020d.json" % 0), "rb") as f:
                c0 = f.read()
            actions, _ = parse_commit_bytes(c0)
            with open(os.path.join(snap, "_delta_log", "%020d.json" % 0), "wb") as f:
                f.write(c0)
            os.makedirs(os.path.join(sdir, "_snapshots"), exist_ok=True)
            with open(os.path.join(sdir, "_snapshots", sid + ".json"), "w") as f:
                f.write('{"version": 0}')
        with open(os.path.join(sdir, "_snapshots", "s2.deleting"), "w") as f:
            f.write("")
        obs = Observer(ledger, [], [("snap", src, sdir)])
        obs.poll()
        if not any("snapshot s1 is visible" in g for g in obs.violations) or any(
                "s2" in g for g in obs.violations):
            failures.append("snapshot completeness: %s" % obs.violations)
        shutil.rmtree(sdir)
    for f in failures:
        print("SELFTEST FAILURE: " + f)
    print("checker selftest: %s" % ("FAILED" if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["selftest"]:
        sys.exit(selftest())
    print("usage: checker.py selftest (the checker is used by storm.py)")
    sys.exit(2)
