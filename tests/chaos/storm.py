#!/usr/bin/env python3
"""The fault storm (issue 10): the whole system under random faults, judged afterwards by an
independent checker.

    storm.py --lakesync BIN [--duration SECONDS | --long SECONDS] [--seed N] [--keep]

A workload (tests/chaos/workload.py, its own Delta writer) keeps committing to five source
tables — appends, deletes with deletion vectors, compactions (dataChange=false) and
VACUUM-style removal of unreferenced files — while two `lakesync daemon` processes (one
configuration, one PostgreSQL database) run an incremental job with two targets, a snapshot job
with retention and a consolidation of three regions, every 1-2 s. Faults are injected at random
(seeded; LAKESYNC_CHAOS_SEED or --seed replays the choices): SIGKILL of a daemon (restarted
after a moment), PostgreSQL restarted (a throwaway server of the storm's own), a source made
unreadable (its _delta_log renamed away: works as root, unlike chmod), a target filesystem
that fills up (a tmpfs shrunk to what it holds, then enlarged), SIGSTOP of a lease holder for
longer than the lease TTL. Then faults stop, the workload stops, the daemons catch up and are
stopped with SIGTERM, and tests/chaos/checker.py (plus tests/tools/delta_facts.py and
global_facts.py) verify R1-R7, C1-C2, snapshots and the PostgreSQL records.

Needs LAKESYNC_TEST_DATABASE_URL (exit 77 = skipped, loudly, when unset): the storm starts its
own PostgreSQL with scripts/pg.sh so that restarting it disturbs nobody; when that is not
possible it uses a fresh database on that server and does not restart it (said loudly).
Exit 0: no violation; 1: violations (each listed); 2: usage or set-up error.
"""

import argparse
import collections
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import checker  # noqa: E402
import workload  # noqa: E402

SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
PG_SH = os.path.join(SOURCE_DIR, "scripts", "pg.sh")
TOOLS = os.path.join(SOURCE_DIR, "tests", "tools")
SKIP = 77
LEASE_TTL = 3.0
TMPFS_BIG = 512 * 1024 * 1024

FAULT_KINDS = ["daemon_kill", "pg_restart", "source_unreadable", "disk_full", "lease_freeze"]


def log(msg):
    sys.stdout.write("[storm %7.1fs] %s\n" % (time.monotonic() - T0, msg))
    sys.stdout.flush()


T0 = time.monotonic()


def psql(url, sql, timeout=20):
    r = subprocess.run(["psql", url, "-qtAX", "-c", sql], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("psql: %s" % r.stderr.strip())
    return r.stdout.strip()


def password_of(url):
    try:
        creds = url.split("://", 1)[1].split("@", 1)[0]
        return creds.split(":", 1)[1] if ":" in creds else ""
    except IndexError:
        return ""


def as_postgres(argv):
    return (["runuser", "-u", "postgres", "--"] + argv) if os.geteuid() == 0 else argv


# --------------------------------------------------------------------------------------------
# PostgreSQL: the storm's own throwaway server (restartable on the same port)
# --------------------------------------------------------------------------------------------

class Postgres:
    def __init__(self, work, base_url):
        self.base_url = base_url
        self.dir = os.path.join(work, "pg")
        self.own = False
        self.url = None
        self.scratch = None
        self.opts = None

    def start(self):
        r = subprocess.run(["bash", PG_SH, "start", self.dir], capture_output=True, text=True)
        if r.returncode == 0:
            for line in r.stdout.splitlines():
                if line.startswith("export LAKESYNC_DATABASE_URL="):
                    self.url = line.split("=", 1)[1]
            data = os.path.join(self.dir, "data")
            with open(os.path.join(data, "postmaster.opts")) as f:
                argv = shlex.split(f.read())
            # Everything but the data directory: passed to `pg_ctl start -o` on a restart, so
            # the server comes back on the same port.
            opts, i = [], 1
            while i < len(argv):
                if argv[i] == "-D":
                    i += 2
                    continue
                opts.append(argv[i])
                i += 1
            self.opts = shlex.join(opts)
            self.bindir = os.path.dirname(argv[0])
            self.own = True
            return None
        # Fall back to a scratch database on the shared server (never restarted).
        why = (r.stderr or r.stdout).strip()
        name = "chaos_%d" % random.SystemRandom().randrange(10**12)
        psql(self.base_url, "CREATE DATABASE %s" % name)
        self.scratch = name
        self.url = self.base_url[:self.base_url.rfind("/") + 1] + name
        return why

    def stop(self, mode):
        subprocess.run(as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D",
                                    os.path.join(self.dir, "data"), "-m", mode, "-w", "stop"]),
                       capture_output=True, text=True, timeout=60)

    def restart_after_stop(self):
        r = subprocess.run(as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D",
                                        os.path.join(self.dir, "data"), "-l",
                                        os.path.join(self.dir, "server.log"), "-w", "-t", "60",
                                        "-o", self.opts, "start"]),
                           capture_output=True, text=True, timeout=90)
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def destroy(self):
        if self.own:
            subprocess.run(["bash", PG_SH, "destroy", self.dir], capture_output=True)
        elif self.scratch:
            try:
                psql(self.base_url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.scratch)
            except Exception:  # best effort: a leftover scratch database is harmless
                pass


# --------------------------------------------------------------------------------------------
# Daemons
# --------------------------------------------------------------------------------------------

class Daemon:
    """One daemon slot: restarted as a new process (new runner id) after a kill."""

    def __init__(self, slot, binary, config, env, work):
        self.slot = slot
        self.binary = binary
        self.config = config
        self.env = env
        self.work = work
        self.proc = None
        self.incarnation = 0
        self.stopped = False  # SIGSTOPped
        self.killed = False   # killed by the storm; restart pending
        self.logs = []

    def start(self):
        self.incarnation += 1
        path = os.path.join(self.work, "logs", "daemon%d.%d.log" % (self.slot, self.incarnation))
        self.logs.append(path)
        f = open(path, "wb")
        self.proc = subprocess.Popen([self.binary, "daemon", "-c", self.config], stdout=f,
                                     stderr=subprocess.STDOUT, env=self.env)
        f.close()
        self.killed = False
        self.stopped = False

    @property
    def runner_id(self):
        return "%s-%d" % (socket.gethostname(), self.proc.pid)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)


# --------------------------------------------------------------------------------------------
# The storm
# --------------------------------------------------------------------------------------------

class Storm:
    def __init__(self, args, work, seed):
        self.args = args
        self.work = work
        self.seed = seed
        self.rng = random.Random(seed)
        self.violations = []
        self.notes = []  # said loudly in the summary (skipped fault kinds, ...)
        self.faults = collections.Counter()
        self.daemon_exits = collections.Counter()
        self.mounted = False
        self.ledger = checker.Ledger()
        self.tables = {}
        self.daemons = []
        self.pg = None
        self.pg_down = False
        self.workload = None
        self.pending = []  # (due monotonic time, description, callable): fault endings
        self.active = set()  # fault kinds in progress
        self.frozen = []  # [runner id, SIGSTOP time, SIGCONT time] (epoch seconds)
        self.src = os.path.join(work, "src")
        self.dst = os.path.join(work, "dst")
        self.small = os.path.join(work, "small")

    # -- set-up --------------------------------------------------------------------------------

    def setup(self, base_url):
        os.makedirs(os.path.join(self.work, "logs"))
        self.pg = Postgres(self.work, base_url)
        why = self.pg.start()
        if why is not None:
            self.notes.append("pg_restart SKIPPED: could not start the storm's own PostgreSQL "
                              "(%s); using a scratch database on the shared server" % why)
        self.password = password_of(self.pg.url)
        log("PostgreSQL: %s" % ("own throwaway server" if self.pg.own else "scratch database"))

        os.makedirs(self.small)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % TMPFS_BIG, "chaos-small",
                            self.small], capture_output=True, text=True)
        if r.returncode == 0:
            self.mounted = True
        else:
            self.notes.append("disk_full SKIPPED: cannot mount a tmpfs here (%s); the small "
                              "target is a plain directory" % (r.stderr.strip() or r.returncode))

        for name, partitioned in (("sales", False), ("orders", True), ("east", True),
                                  ("west", True), ("north", True)):
            t = workload.Table(os.path.join(self.src, name),
                               random.Random("%d-%s" % (self.seed, name)), self.ledger,
                               partitioned)
            t.create()
            for _ in range(3):
                t.append()
            self.tables[name] = t

        config = os.path.join(self.work, "chaos.yaml")
        with open(config, "w") as f:
            f.write(CONFIG.format(src=self.src, dst=self.dst, small=self.small))
        env = dict(os.environ)
        env["LAKESYNC_DATABASE_URL"] = self.pg.url
        env.pop("LAKESYNC_FAILPOINTS", None)
        self.env = env
        self.config = config
        r = subprocess.run([self.args.lakesync, "validate", "-c", config], capture_output=True,
                           text=True, env=env)
        if r.returncode != 0:
            raise RuntimeError("the storm's configuration does not validate: %s" % r.stderr)
        for slot in range(2):
            d = Daemon(slot, self.args.lakesync, config, env, self.work)
            d.start()
            self.daemons.append(d)

        self.observer = checker.Observer(self.ledger, [
            ("sales_dr -> dst", self.tables["sales"].root, os.path.join(self.dst, "sales")),
            ("sales_dr -> small", self.tables["sales"].root, os.path.join(self.small, "sales")),
            ("global", None, os.path.join(self.dst, "global")),
        ], [("orders_snap", self.tables["orders"].root, os.path.join(self.small, "orders_snap"))])

    def teardown(self, save_small):
        """Stops everything the storm started; never leaves a mount or a server behind."""
        if self.workload is not None:
            self.workload.stop()
        for d in self.daemons:
            if d.alive():
                d.signal(signal.SIGCONT)
                d.signal(signal.SIGKILL)
                d.proc.wait()
        for t in self.tables.values():
            try:
                t.set_available(True)
            except OSError:
                pass
        if self.mounted:
            if save_small:  # the tmpfs goes away: keep its tables for the post-mortem
                shutil.copytree(self.small, self.small + ".saved", symlinks=True,
                                dirs_exist_ok=True)
            subprocess.run(["umount", "-l", self.small], capture_output=True)
            self.mounted = False
        if self.pg is not None:
            if self.pg.own and self.pg_down:
                self.pg.restart_after_stop()
            self.pg.destroy()

    # -- faults --------------------------------------------------------------------------------

    def kinds(self):
        out = ["daemon_kill", "source_unreadable", "lease_freeze"]
        if self.pg.own:
            out.append("pg_restart")
        if self.mounted:
            out.append("disk_full")
        return sorted(out)

    def later(self, seconds, what, fn):
        self.pending.append((time.monotonic() + seconds, what, fn))

    def run_due(self, everything=False):
        now = time.monotonic()
        due = [p for p in self.pending if everything or p[0] <= now]
        self.pending = [p for p in self.pending if p not in due]
        for _, what, fn in sorted(due, key=lambda p: p[0]):
            log("end of fault: %s" % what)
            fn()

    def supervise(self):
        """Restarts daemons that exited by themselves (as Kubernetes would). A daemon that died
        of a signal the storm did not send, or that says it crashed, is a violation. Also runs
        the fault endings that are due (restarts)."""
        self.run_due()
        for d in self.daemons:
            if d.killed or d.proc is None or d.proc.poll() is None:
                continue
            code = d.proc.returncode
            self.daemon_exits[code] += 1
            tail = self.tail(d.logs[-1])
            if code != 3:  # 3: the state store was unreachable (README exit codes)
                self.violations.append("DAEMON: daemon %d (incarnation %d) exited with %s "
                                       "without being killed; last log lines:\n%s" %
                                       (d.slot, d.incarnation, code, tail))
            else:
                log("daemon %d exited with code %d (state store unreachable at start-up?); "
                    "restarting it in 0.5s" % (d.slot, code))
            d.killed = True  # no longer supervised until the restart
            self.later(0.5, "restart daemon %d" % d.slot, d.start)

    @staticmethod
    def tail(path, n=15):
        try:
            with open(path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def inject(self, kind):
        self.faults[kind] += 1
        getattr(self, "fault_" + kind)()

    def fault_daemon_kill(self):
        candidates = [d for d in self.daemons if d.alive() and not d.stopped]
        if not candidates:
            self.faults["daemon_kill"] -= 1
            return
        d = self.rng.choice(candidates)
        d.signal(signal.SIGKILL)
        d.proc.wait()
        d.killed = True
        pause = self.rng.uniform(0.3, 3.0)
        log("fault: SIGKILL daemon %d (%s); restart in %.1fs" % (d.slot, d.runner_id, pause))
        self.later(pause, "restart daemon %d" % d.slot, d.start)

    def fault_lease_freeze(self):
        by_id = {d.runner_id: d for d in self.daemons if d.alive() and not d.stopped}
        if not by_id:
            self.faults["lease_freeze"] -= 1
            return
        # Leases are held while a job runs: look for a holder for up to 3 s.
        held, deadline = [], time.monotonic() + 3.0
        while not held and not self.pg_down and time.monotonic() < deadline:
            try:
                holders = psql(self.pg.url, "SELECT holder FROM leases WHERE expires_at > "
                               "clock_timestamp() ORDER BY job", timeout=5).split()
            except Exception:
                break
            held = sorted({h for h in holders if h in by_id})
            if not held:
                time.sleep(0.02)
        d = by_id[self.rng.choice(held)] if held else by_id[self.rng.choice(sorted(by_id))]
        d.signal(signal.SIGSTOP)
        d.stopped = True
        frozen = [d.runner_id, time.time(), None]
        self.frozen.append(frozen)
        hold = LEASE_TTL + self.rng.uniform(1.0, 3.0)
        log("fault: SIGSTOP daemon %d (%s, %s) for %.1fs" %
            (d.slot, d.runner_id, "holds a lease" if held else "no lease held right now", hold))

        def resume():
            d.signal(signal.SIGCONT)
            d.stopped = False
            frozen[2] = time.time()
        self.later(hold, "SIGCONT daemon %d" % d.slot, resume)

    def fault_pg_restart(self):
        if self.pg_down:
            self.faults["pg_restart"] -= 1
            return
        mode = self.rng.choice(["immediate", "fast"])
        down = self.rng.uniform(0.5, 4.0)
        log("fault: PostgreSQL stop (-m %s), back in %.1fs" % (mode, down))
        self.pg.stop(mode)
        self.pg_down = True
        self.active.add("pg_restart")

        def back():
            ok, out = self.pg.restart_after_stop()
            if not ok:
                raise RuntimeError("PostgreSQL did not come back: %s" % out)
            self.pg_down = False
            self.active.discard("pg_restart")
        self.later(down, "PostgreSQL start", back)

    def fault_source_unreadable(self):
        names = sorted(n for n, t in self.tables.items() if t.available)
        if not names:
            self.faults["source_unreadable"] -= 1
            return
        name = self.rng.choice(names)
        hold = self.rng.uniform(2.0, 6.0)
        self.tables[name].set_available(False)
        log("fault: source %s unreadable (_delta_log renamed away) for %.1fs" % (name, hold))
        self.later(hold, "source %s readable" % name,
                   lambda: self.tables[name].set_available(True))

    def fault_disk_full(self):
        if "disk_full" in self.active:
            self.faults["disk_full"] -= 1
            return
        st = os.statvfs(self.small)
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        size = used + self.rng.randrange(8, 64) * 1024
        r = subprocess.run(["mount", "-o", "remount,size=%d" % size, self.small],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.faults["disk_full"] -= 1
            log("disk_full: remount failed: %s" % r.stderr.strip())
            return
        self.active.add("disk_full")
        hold = self.rng.uniform(3.0, 8.0)
        log("fault: target filesystem full (%d KiB used of %d KiB) for %.1fs" %
            (used // 1024, size // 1024, hold))

        def grow():
            subprocess.run(["mount", "-o", "remount,size=%d" % TMPFS_BIG, self.small],
                           check=True, capture_output=True)
            self.active.discard("disk_full")
        self.later(hold, "target filesystem enlarged", grow)

    # -- phases --------------------------------------------------------------------------------

    def storm(self, seconds):
        self.workload = workload.Workload(self.tables, self.rng.randrange(1 << 30))
        self.workload.start()
        self.observer.start()
        kinds = self.kinds()
        queue = self.rng.sample(kinds, len(kinds))  # every kind at least once, first
        end = time.monotonic() + seconds
        next_fault = time.monotonic() + self.rng.uniform(1.0, 3.0)
        while time.monotonic() < end:
            self.run_due()
            self.supervise()
            if time.monotonic() >= next_fault:
                kind = queue.pop(0) if queue else self.rng.choice(kinds)
                self.inject(kind)
                next_fault = time.monotonic() + self.rng.uniform(1.5, 4.0)
            time.sleep(0.05)
        log("storm over: ending every fault in progress")
        self.run_due(everything=True)
        for d in self.daemons:
            if d.stopped:
                d.signal(signal.SIGCONT)
                d.stopped = False
        self.supervise()
        self.workload.stop()
        if self.workload.errors:
            self.violations.extend("WORKLOAD: %s" % e for e in self.workload.errors)
        log("workload stopped after %d commits" % self.workload.commits)

    def heads(self):
        return {n: checker.contiguous_head(t.root) for n, t in self.tables.items()}

    def lagging(self, heads):
        out = []
        for tgt in (os.path.join(self.dst, "sales"), os.path.join(self.small, "sales")):
            h = checker.contiguous_head(tgt)
            if h != heads["sales"]:
                out.append("sales_dr target %s at %d of %d" % (tgt, h, heads["sales"]))
        txns = checker.global_txns(os.path.join(self.dst, "global"))
        for region in ("east", "west", "north"):
            v = txns.get("lakesync:global_sales:%s" % region)
            if v != heads[region]:
                out.append("global_sales region %s at %s of %d" % (region, v, heads[region]))
        v = checker.newest_snapshot_version(os.path.join(self.small, "orders_snap"))
        if v != heads["orders"]:
            out.append("orders_snap newest snapshot at %s of %d" % (v, heads["orders"]))
        return out

    def catch_up(self, timeout):
        heads = self.heads()
        deadline = time.monotonic() + timeout
        start = time.monotonic()
        while True:
            self.supervise()
            lag = self.lagging(heads)
            if not lag:
                break
            if time.monotonic() > deadline:
                self.violations.extend("R5: did not catch up within %ds after the storm: %s" %
                                       (timeout, x) for x in lag)
                return heads
            time.sleep(0.3)
        log("caught up in %.1fs: %s" % (time.monotonic() - start, heads))
        # One more finished run of every job after catching up: every run a fault left
        # `running` is then marked abandoned, and the records reflect the caught-up tables.
        mark = int(psql(self.pg.url, "SELECT coalesce(max(id), 0) FROM runs"))
        while time.monotonic() < deadline:
            self.supervise()
            done = psql(self.pg.url, "SELECT count(DISTINCT job) FROM runs WHERE id > %d AND "
                        "status <> 'running'" % mark)
            if done == "3":
                return heads
            time.sleep(0.3)
        self.violations.append("R5: not every job finished a run within %ds after catching up"
                               % timeout)
        return heads

    def shutdown(self):
        for d in self.daemons:
            d.signal(signal.SIGTERM)
        for d in self.daemons:
            try:
                code = d.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                d.signal(signal.SIGKILL)
                d.proc.wait()
                code = "no exit within 60s of SIGTERM"
            if code != 0:
                self.violations.append("DAEMON: daemon %d did not drain and exit 0 on SIGTERM "
                                       "(%s); last log lines:\n%s" %
                                       (d.slot, code, self.tail(d.logs[-1])))

    # -- checks --------------------------------------------------------------------------------

    def damage(self):
        """--damage: breaks the replicas behind lakesync's back (a changed byte in a live file
        of dst:/sales, a live file deleted from the global table), to prove the final checks
        catch it: the storm must then fail."""
        for table in (os.path.join(self.dst, "sales"), os.path.join(self.dst, "global")):
            _code, out, _err = checker.run_tool([os.path.join(TOOLS, "delta_facts.py"), "facts",
                                                 table, "--json"])
            live = sorted(f["path"] for f in json.loads(out)["at"]["live_files"])
            path = os.path.join(table, live[0])
            if table.endswith("sales"):
                with open(path, "r+b") as f:
                    b = f.read(1)
                    f.seek(0)
                    f.write(bytes([b[0] ^ 0xFF]))
            else:
                os.unlink(path)
            log("--damage: %s %s" % ("changed a byte of" if table.endswith("sales") else
                                      "deleted", path))

    def final_checks(self, heads):
        v = self.violations
        if self.args.damage:
            self.damage()
        self.observer.stop()
        v.extend(self.observer.violations)
        facts = os.path.join(TOOLS, "delta_facts.py")
        for tgt in (os.path.join(self.dst, "sales"), os.path.join(self.small, "sales")):
            code, out, err = checker.run_tool([facts, "check", self.tables["sales"].root, tgt,
                                               "--version", str(heads["sales"])])
            if code != 0:
                v.extend("%s (sales_dr target %s)" % (line, tgt)
                         for line in (out.splitlines() or [err.strip()]))
        args = [os.path.join(TOOLS, "global_facts.py"), "check", os.path.join(self.dst, "global"),
                "--job", "global_sales"]
        for region in ("east", "west", "north"):
            args += ["--source", "%s=%s" % (region, self.tables[region].root),
                     "--expect", "%s=%d" % (region, heads[region])]
        code, out, err = checker.run_tool(args)
        if code != 0:
            lines = [x for x in out.splitlines() if not x.startswith("{")]  # not the summary
            v.extend("C: %s" % line for line in (lines or [err.strip()]))
        snap_v, self.snapshots_checked = checker.check_snapshots(
            self.ledger, self.tables["orders"].root, os.path.join(self.small, "orders_snap"))
        v.extend(snap_v)
        self.check_records(heads)
        self.snap_records = self.snapshot_records()
        self.vacuumed = {name: checker.vacuumed_history(self.ledger, path) for name, path in (
            ("dst:/sales", os.path.join(self.dst, "sales")),
            ("small:/sales", os.path.join(self.small, "sales")),
            ("global", os.path.join(self.dst, "global")))}
        # What an operator would look at afterwards (kept in logs/, searched for the password);
        # `verify` is lakesync's own check (R1-R3; each snapshot; the global table, C2): it
        # must agree with the independent one.
        for name, cli in (("verify", ["verify", "sales_dr", "--checksum"]),
                          ("verify-snapshots", ["verify", "orders_snap", "--checksum"]),
                          ("verify-global", ["verify", "global_sales"]),
                          ("status", ["status", "--json"]),
                          ("history", ["history", "sales_dr", "--limit", "20"]),
                          ("snapshots", ["snapshots", "orders_snap"])):
            r = subprocess.run([self.args.lakesync] + cli + ["-c", self.config],
                               capture_output=True, env=self.env)
            with open(os.path.join(self.work, "logs", "cli-%s.txt" % name), "wb") as f:
                f.write(r.stdout + r.stderr)
            if r.returncode != 0:
                v.append("CLI: lakesync %s exited %d after the storm: %s" %
                         (" ".join(cli), r.returncode,
                          (r.stdout + r.stderr).decode(errors="replace")[-800:]))
        self.check_secrets()

    def check_records(self, heads):
        v, url = self.violations, self.pg.url
        running = psql(url, "SELECT string_agg(id || ' ' || job, ', ') FROM runs WHERE status = "
                       "'running'")
        if running:
            v.append("RUNS: runs left `running` after the daemons stopped: %s" % running)
        # A job runs in one process at a time: two succeeded runs of a job never overlap (a run
        # frozen or cut off from the database is fenced and ends failed, abandoned or
        # unrecorded, so only succeeded runs are compared). Runs of a daemon frozen while they
        # ran are left out: its final record may land after a thaw (the documented window of
        # one in-flight write, docs/daemon.md).
        for row in psql(url, "SELECT a.job || '|' || a.id || '|' || b.id || '|' || a.runner_id "
                        "|| '|' || b.runner_id || '|' || extract(epoch from a.started_at) || '|' "
                        "|| extract(epoch from a.finished_at) || '|' || extract(epoch from "
                        "b.started_at) || '|' || extract(epoch from b.finished_at) FROM runs a "
                        "JOIN runs b ON a.job = b.job AND a.id < b.id AND a.status = 'succeeded' "
                        "AND b.status = 'succeeded' AND a.started_at < b.finished_at AND "
                        "b.started_at < a.finished_at").splitlines():
            job, ida, idb, ra, rb, sa, fa, sb, fb = row.split("|")
            if self.frozen_during(ra, float(sa), float(fa)) or \
                    self.frozen_during(rb, float(sb), float(fb)):
                continue
            v.append("LEASE: succeeded runs %s (%s) and %s (%s) of %s overlapped in time" %
                     (ida, ra, idb, rb, job))
        tgt_head = {"dst:/sales": checker.contiguous_head(os.path.join(self.dst, "sales")),
                    "small:/sales": checker.contiguous_head(os.path.join(self.small, "sales"))}
        txns = checker.global_txns(os.path.join(self.dst, "global"))
        # What PostgreSQL believes each target has replicated (R6: the targets are the truth).
        for row in psql(url, "SELECT job || '|' || target || '|' || replicated_version FROM "
                        "target_versions ORDER BY 1").splitlines():
            job, target, rv = row.split("|")
            rv = int(rv)
            if job == "sales_dr":
                want = tgt_head.get(target)
                if want is None:
                    v.append("R6: target_versions names an unknown target %s" % target)
                elif rv != want:
                    v.append("R6: target_versions says %s is at %d, its log is at %d" %
                             (target, rv, want))
            elif job == "global_sales":
                want = txns.get("lakesync:global_sales:%s" % target)
                if rv != want:
                    v.append("R6: target_versions says region %s is at %d, the global txn is "
                             "%s" % (target, rv, want))
        # Every succeeded run's end versions exist in its targets; an incremental run ended at
        # the source head it saw (R5).
        for row in psql(url, "SELECT r.id || '|' || r.job || '|' || t.target || '|' || "
                        "coalesce(t.end_version, -1) || '|' || coalesce(r.source_version, -1) "
                        "FROM runs r JOIN run_targets t ON t.run_id = r.id WHERE r.status = "
                        "'succeeded' ORDER BY r.id").splitlines():
            rid, job, target, end, source_version = row.split("|")
            end, source_version = int(end), int(source_version)
            if job == "sales_dr":
                if end > tgt_head.get(target, -1):
                    v.append("R5: run %s says %s reached %d; its log ends at %s" %
                             (rid, target, end, tgt_head.get(target)))
                if end != source_version:
                    v.append("R5: succeeded run %s of sales_dr ended %s at %d, not at the source "
                             "head %d it saw" % (rid, target, end, source_version))
            elif job == "global_sales":
                have = txns.get("lakesync:global_sales:%s" % target)
                if have is None or end > have:
                    v.append("R5: run %s says region %s reached %d; the global txn is %s" %
                             (rid, target, end, have))
            elif job == "orders_snap" and end > heads["orders"]:
                v.append("R5: snapshot run %s names version %d past the source head %d" %
                         (rid, end, heads["orders"]))

    def snapshot_records(self):
        """(visible snapshots PostgreSQL does not call complete, complete ones not visible)."""
        sdir = os.path.join(self.small, "orders_snap", "_snapshots")
        names = os.listdir(sdir) if os.path.isdir(sdir) else []
        visible = {n[:-5] for n in names if n.endswith(".json") and n[:-5] + ".deleting"
                   not in names}
        complete = set(psql(self.pg.url, "SELECT snapshot_id FROM snapshots WHERE status = "
                            "'complete'").split())
        return sorted(visible - complete), sorted(complete - visible)

    def frozen_during(self, runner_id, start, end):
        return any(r == runner_id and a <= end and start <= (b or float("inf"))
                   for r, a, b in self.frozen)

    def check_secrets(self):
        """The password must appear in no log or output; no sanitizer report either."""
        logs = os.path.join(self.work, "logs")
        for dirpath, _dirnames, filenames in os.walk(logs):
            for n in filenames:
                p = os.path.join(dirpath, n)
                with open(p, "rb") as f:
                    data = f.read()
                if self.password and self.password.encode() in data:
                    self.violations.append("SECRET: the database password appears in %s" % p)
                for marker in SANITIZER_MARKERS:
                    if marker in data:
                        at = data.index(marker)
                        self.violations.append("SANITIZER: %s in %s:\n%s" % (
                            marker.decode(), p, data[max(0, at - 200):at + 1500].decode(
                                errors="replace")))

    def summary(self, heads, seconds):
        url = self.pg.url
        runs = psql(url, "SELECT job || ' ' || status || ' ' || count(*) FROM runs GROUP BY job, "
                    "status ORDER BY 1")
        by_trigger = psql(url, "SELECT trigger || ' ' || count(*) FROM runs GROUP BY trigger "
                          "ORDER BY 1")
        commits = psql(url, "SELECT job || ' ' || sum(commits) FROM runs GROUP BY job ORDER BY 1")
        errors = collections.Counter()
        for e in psql(url, "SELECT error FROM runs WHERE status <> 'succeeded'").splitlines():
            errors[next((label for key, label in ERROR_KINDS if key in e), "other")] += 1
        print("")
        print("=" * 78)
        print("lakesync fault storm — seed %d (replay: LAKESYNC_CHAOS_SEED=%d), %ds of storm" %
              (self.seed, self.seed, seconds))
        print("faults injected by kind:")
        for kind in FAULT_KINDS:
            print("  %-18s %d" % (kind, self.faults.get(kind, 0)))
        for n in self.notes:
            print("  *** %s ***" % n)
        if self.daemon_exits:
            print("daemons that exited by themselves (restarted): %s" % dict(self.daemon_exits))
        print("workload: %d commits; per table %s" % (
            self.workload.commits,
            ", ".join("%s head %d %s" % (n, heads[n], dict(t.counts))
                      for n, t in sorted(self.tables.items()))))
        print("runs by job and status:\n  " + runs.replace("\n", "\n  "))
        print("runs by trigger: " + by_trigger.replace("\n", ", "))
        print("runs not succeeded, by cause (expected under faults): %s" %
              (", ".join("%s %d" % kv for kv in sorted(errors.items())) or "none"))
        print("commits replicated (sum of runs.commits): " + commits.replace("\n", ", "))
        print("history files vacuumed in the source before they were copied (skipped by "
              "design): %s" % ", ".join("%s %d" % kv for kv in sorted(self.vacuumed.items())))
        print("snapshots: visible but not `complete` in PostgreSQL %s; `complete` in PostgreSQL "
              "but not visible %s" % self.snap_records)
        print("target commits observed live: %d; snapshots observed: %d; snapshots checked "
              "afterwards: %d" % (self.observer.commits_seen, self.observer.snapshots_seen,
                                  self.snapshots_checked))
        print("violations: %d" % len(self.violations))
        for x in self.violations:
            print("  VIOLATION " + x)
        print("=" * 78)


SANITIZER_MARKERS = [b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:"]

# What a failed run's error says -> the fault that caused it (for the summary only).
ERROR_KINDS = [("No space left", "disk full"), ("no Delta table", "source unreadable"),
               ("abandoned", "abandoned (daemon killed/frozen/db down)"),
               ("lease lost", "lease lost (fenced)"), ("state store", "state store down"),
               ("connection", "state store down")]

CONFIG = """\
runner:
  listen: 127.0.0.1:0
  max_concurrent_runs: 4
  copy_parallelism: 2
  lag_probe_interval: 2s
  lease_ttl: 3s
  heartbeat_interval: 1s
  shutdown_grace: 30s
locations:
  src: file://{src}
  dst: file://{dst}
  small: file://{small}
jobs:
  - name: sales_dr
    kind: incremental
    source: src:/sales
    targets: [dst:/sales, small:/sales]
    schedule: {{ every: 1s }}
    retries: {{ max: 2, backoff: 1s, max_backoff: 2s }}
  - name: orders_snap
    kind: snapshot
    source: src:/orders
    target: small:/orders_snap
    schedule: {{ every: 2s }}
    retention: {{ keep_last: 3 }}
  - name: global_sales
    kind: consolidation
    sources: {{ east: "src:/east", west: "src:/west", north: "src:/north" }}
    target: dst:/global
    region_column: source_region
    schedule: {{ every: 2s }}
"""


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lakesync", required=True, help="the lakesync binary")
    p.add_argument("--duration", type=float, default=45.0,
                   help="seconds of storm (default 45: the short version)")
    p.add_argument("--long", type=float, metavar="SECONDS", help="a long storm of SECONDS")
    p.add_argument("--catch-up-timeout", type=float, default=120.0)
    p.add_argument("--seed", type=int, help="default: LAKESYNC_CHAOS_SEED, else random")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--damage", action="store_true",
                   help="damage two replicas before the final checks (must then exit 1)")
    args = p.parse_args(argv)
    seconds = args.long if args.long is not None else args.duration

    base_url = os.environ.get("LAKESYNC_TEST_DATABASE_URL", "")
    if not base_url:
        print("\n*** chaos storm SKIPPED: LAKESYNC_TEST_DATABASE_URL is not set. ***\n"
              "Run scripts/test.sh, or start a server and name it:\n"
              "  eval \"$(bash scripts/pg.sh start /tmp/lakesync-pg)\"\n"
              "  export LAKESYNC_TEST_DATABASE_URL=$LAKESYNC_DATABASE_URL\n")
        return SKIP
    if not os.access(args.lakesync, os.X_OK):
        print("storm: %s is not an executable lakesync binary" % args.lakesync)
        return 2
    seed = args.seed
    if seed is None and os.environ.get("LAKESYNC_CHAOS_SEED"):
        seed = int(os.environ["LAKESYNC_CHAOS_SEED"])
    if seed is None:
        seed = random.SystemRandom().randrange(1, 1 << 31)
    log("seed %d (replay with LAKESYNC_CHAOS_SEED=%d), %ds of storm" % (seed, seed, seconds))

    def interrupted(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, interrupted)  # ctest's timeout: still clean up (finally)

    work = tempfile.mkdtemp(prefix="lakesync-chaos-")
    os.chmod(work, 0o755)  # the postgres user must reach the server's directory
    storm = Storm(args, work, seed)
    ok = False
    try:
        storm.setup(base_url)
        storm.storm(seconds)
        heads = storm.catch_up(args.catch_up_timeout)
        storm.shutdown()
        storm.final_checks(heads)
        storm.summary(heads, seconds)
        ok = not storm.violations
    finally:
        storm.teardown(save_small=not ok)
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log("work directory kept: %s" % work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
