#!/usr/bin/python3
"""tandem-migrate end to end: two cqlsim clusters, a data set with every shape the copy must
handle (compound keys, clustering order, static columns, collections frozen and not, tuples,
UDTs, counters, per-column write times and TTLs, rows deleted on origin) and a 100,000-row
table; copy, then compare through the DataStax Python driver; validate, drift, repair;
checkpoint and resume; shards; the errors a user meets.
Usage: migrate_test.py <cqlsim> <tandem-migrate> <cqlbench> <tandem>"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from cassandra.cluster import Cluster

CQLSIM = MIGRATE = CQLBENCH = TANDEM = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIG = 100000


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class sim:
    def __init__(self, address, nodes=2, auth=None):
        self.address, self.port = address, free_port()
        args = [CQLSIM, "--nodes", str(nodes), "--address", address, "--port", str(self.port)]
        if auth:
            args += ["--auth", auth]
        self.auth, self.certs = None, None  # what tandem_harness.tandem reads
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        for _ in range(nodes):
            while "listening on" not in self.proc.stdout.readline():
                pass
        self.cluster = None

    def session(self, **kw):
        self.cluster = Cluster([self.address], port=self.port, **kw)
        return self.cluster.connect()

    def stop(self):
        if self.cluster:
            self.cluster.shutdown()
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()

    def hostport(self):
        return "%s:%d" % (self.address, self.port)


SCHEMA = [
    "CREATE KEYSPACE {ks} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}",
    "CREATE TYPE {ks}.addr (street text, zip int)",
    "CREATE TABLE {ks}.kv (k int PRIMARY KEY, v text, n int)",
    "CREATE TABLE {ks}.wide (p int, c int, s text static, v text, PRIMARY KEY (p, c)) WITH CLUSTERING ORDER BY (c DESC)",
    "CREATE TABLE {ks}.shapes (a text, b int, c1 int, c2 text, fl frozen<list<int>>, tags set<text>, props map<text, int>, "
    "tup frozen<tuple<int, text>>, home frozen<addr>, big bigint, d double, ok boolean, u uuid, ts timestamp, raw blob, "
    "PRIMARY KEY ((a, b), c1, c2))",
    "CREATE TABLE {ks}.cnt (k int PRIMARY KEY, hits counter)",
]


def create_schema(s, ks, skip=()):
    for stmt in SCHEMA:
        if any(x in stmt for x in skip):
            continue
        s.execute(stmt.format(ks=ks))


def load_shapes(s, ks):
    """Every shape, rows with per-column write times and TTLs, and rows deleted on origin."""
    for i in range(300):
        s.execute("INSERT INTO %s.kv (k, v) VALUES (%%s, %%s) USING TIMESTAMP %%s" % ks, (i, "v%d" % i, 1000 + i))
        s.execute("UPDATE %s.kv USING TIMESTAMP %%s AND TTL 3600 SET n = %%s WHERE k = %%s" % ks, (5000 + i, i * 2, i))
    for i in range(0, 300, 10):
        s.execute("DELETE FROM %s.kv WHERE k = %%s" % ks, (i,))  # deleted on origin: must not come back
    for p in range(40):
        s.execute("INSERT INTO %s.wide (p, s) VALUES (%%s, %%s) USING TIMESTAMP 7" % ks, (p, "static %d" % p))
        for c in range(8):
            s.execute("INSERT INTO %s.wide (p, c, v) VALUES (%%s, %%s, %%s)" % ks, (p, c, "x%d.%d" % (p, c)))
    s.execute("INSERT INTO %s.wide (p, s) VALUES (999, 'a partition with its static only')" % ks)
    import uuid
    ins = s.prepare("INSERT INTO %s.shapes (a, b, c1, c2, fl, tags, props, tup, big, d, ok, u, ts, raw) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" % ks)
    for i in range(120):
        s.execute(ins, ("a%d" % (i % 7), i % 3, i, "c%d" % i, [i, i + 1], {"t%d" % i, "x"}, {"p": i}, (i, "t%d" % i),
                        i * 1000000000, i / 3.0, i % 2 == 0, uuid.UUID(int=i + 1), 1700000000000 + i, bytes([i % 256, 1, 2])))
        s.execute("UPDATE %s.shapes SET home = {street: 'street %d', zip: %d} WHERE a = 'a%d' AND b = %d AND c1 = %d AND c2 = 'c%d'"
                  % (ks, i, 10000 + i, i % 7, i % 3, i, i))
    for i in range(50):
        s.execute("UPDATE %s.cnt SET hits = hits + %%s WHERE k = %%s" % ks, (i + 1, i))


def snapshot(s, ks):
    """What a user compares: every table's rows, with write times and TTLs of the scalar cells."""
    out = {}
    out["kv"] = sorted((r.k, r.v, r.n, r.writetime_v, r.writetime_n, r.ttl_n) for r in
                       s.execute("SELECT k, v, n, writetime(v), writetime(n), ttl(n) FROM %s.kv" % ks))
    out["wide"] = sorted(((r.p, r.c if r.c is not None else -1, r.s, r.v, r.writetime_s) for r in
                          s.execute("SELECT p, c, s, v, writetime(s) FROM %s.wide" % ks)))
    out["shapes"] = sorted(repr(tuple(r)) for r in s.execute("SELECT * FROM %s.shapes" % ks))
    out["cnt"] = sorted(tuple(r) for r in s.execute("SELECT k, hits FROM %s.cnt" % ks))
    return out


def same_with_ttl_slack(a, b):
    """kv rows equal, TTLs within 2 s."""
    if len(a) != len(b):
        return False
    return all(x[:5] == y[:5] and abs((x[5] or 0) - (y[5] or 0)) <= 2 for x, y in zip(a, b))


class migrate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin, cls.target = sim("127.0.8.1"), sim("127.0.9.1")
        cls.o, cls.t = cls.origin.session(), cls.target.session()
        for s in (cls.o, cls.t):
            create_schema(s, "app")
            s.execute("CREATE KEYSPACE big WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
            s.execute("CREATE TABLE big.kv (k bigint PRIMARY KEY, v blob)")
        load_shapes(cls.o, "app")
        out = subprocess.run([CQLBENCH, "--host", cls.origin.address, "--port", str(cls.origin.port), "--keyspace", "big", "--no-schema",
                              "--workload", "insert", "--distribution", "sequential", "--keys", str(BIG), "--requests", str(BIG),
                              "--warmup", "0", "--json"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        cls.dir = tempfile.mkdtemp()

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()
        cls.target.stop()

    def run_migrate(self, command, *args, target=None, origin=None, timeout=300):
        summary = os.path.join(self.dir, "summary.json")
        p = subprocess.run([MIGRATE, command, "--origin", (origin or self.origin).hostport(), "--target", (target or self.target).hostport(),
                            "--consistency", "ONE", "--json", summary, *args], capture_output=True, text=True, timeout=timeout)
        data = json.loads("\n".join(read_lines(summary))) if os.path.exists(summary) else None
        if os.path.exists(summary):
            os.unlink(summary)
        return p.returncode, data, p.stderr

    def test_1_copy_validate_drift_repair(self):
        rc, s, err = self.run_migrate("copy", "--keyspace", "app")
        self.assertEqual(rc, 0, err)
        self.assertEqual(s["errors"], 0)
        a, b = snapshot(self.o, "app"), snapshot(self.t, "app")
        self.assertTrue(same_with_ttl_slack(a["kv"], b["kv"]))
        self.assertEqual(len(b["kv"]), 270)  # the 30 rows deleted on origin did not come back
        self.assertEqual(a["wide"], b["wide"])
        self.assertTrue(any(r[:4] == (999, -1, "a partition with its static only", None) for r in b["wide"]))
        self.assertEqual(a["shapes"], b["shapes"])
        self.assertEqual(a["cnt"], b["cnt"])
        rc, s, err = self.run_migrate("validate", "--keyspace", "app", "--check-writetime")
        self.assertEqual(rc, 0, err)
        self.assertEqual((s["missing"], s["mismatched"], s["extra"]), (0, 0, 0))
        # Drift: writes that reached origin only (missing, mismatched), rows only on target (extra).
        for k in range(1000, 1005):
            self.o.execute("INSERT INTO app.kv (k, v) VALUES (%s, 'origin only')", (k,))
        for k in (11, 12, 13):
            self.o.execute("UPDATE app.kv SET v = 'newer on origin' WHERE k = %s", (k,))
        for k in (2000, 2001):
            self.t.execute("INSERT INTO app.kv (k, v) VALUES (%s, 'target only')", (k,))
        diff = os.path.join(self.dir, "diff.jsonl")
        rc, s, err = self.run_migrate("validate", "--keyspace", "app", "--table", "kv", "--diff-file", diff)
        self.assertEqual(rc, 3, err)
        self.assertEqual((s["missing"], s["mismatched"], s["extra"]), (5, 3, 2))
        lines = [json.loads(l) for l in read_lines(diff)]
        self.assertEqual(sorted((d["kind"], d["key"]["k"]) for d in lines),
                         sorted([("missing", str(k)) for k in range(1000, 1005)] + [("mismatched", str(k)) for k in (11, 12, 13)] +
                                [("extra", "2000"), ("extra", "2001")]))
        self.assertEqual([d["columns"] for d in lines if d["kind"] == "mismatched"], [["v"]] * 3)
        rc, s, err = self.run_migrate("repair", "--keyspace", "app", "--table", "kv")
        self.assertEqual(rc, 0, err)
        self.assertEqual(s["rows_written"], 8)
        rc, s, err = self.run_migrate("validate", "--keyspace", "app", "--table", "kv")
        self.assertEqual((s["missing"], s["mismatched"], s["extra"]), (0, 0, 2))  # extra rows are reported, never deleted
        self.assertEqual(rc, 3)
        self.assertEqual(self.t.execute("SELECT v FROM app.kv WHERE k = 12").one().v, "newer on origin")
        # repair --from-diff: only the rows of a diff file are read again and written (no scan);
        # compound keys (wide, shapes) round-trip through the file's key_bytes.
        for k in (21, 22):
            self.o.execute("UPDATE app.kv SET v = 'drift 2' WHERE k = %s", (k,))
        self.o.execute("UPDATE app.wide SET v = 'drift 2' WHERE p = 3 AND c = 5")
        self.o.execute("UPDATE app.wide SET s = 'static drift' WHERE p = 4")
        self.o.execute("UPDATE app.shapes SET d = 0.5 WHERE a = 'a1' AND b = 1 AND c1 = 1 AND c2 = 'c1'")
        self.o.execute("INSERT INTO app.wide (p, c, v) VALUES (6, 100, 'origin only')")
        self.o.execute("INSERT INTO app.kv (k, v) VALUES (3000, 'gone before the repair')")
        rc, s, err = self.run_migrate("validate", "--keyspace", "app", "--diff-file", diff)
        self.assertEqual(rc, 3, err)
        self.assertEqual((s["missing"], s["mismatched"], s["extra"]), (2, 12, 2))  # p = 4: its 8 rows show the static
        self.o.execute("DELETE FROM app.kv WHERE k = 3000")  # deleted on origin since: must not be written
        rc, s, err = self.run_migrate("repair", "--keyspace", "app", "--from-diff", diff)
        self.assertEqual(rc, 0, err)
        self.assertEqual(s["ranges"], 0)  # no scan
        self.assertEqual(s["rows_read"], 13)  # 14 rows to repair in the file, one deleted on origin since
        rc, s, err = self.run_migrate("validate", "--keyspace", "app", "--check-writetime")
        self.assertEqual((s["missing"], s["mismatched"], s["extra"]), (0, 0, 2), err)
        self.assertEqual(self.t.execute("SELECT s FROM app.wide WHERE p = 4 LIMIT 1").one().s, "static drift")
        self.assertIsNone(self.t.execute("SELECT v FROM app.kv WHERE k = 3000").one())
        rc, s, err = self.run_migrate("validate", "--keyspace", "app", "--from-diff", diff)
        self.assertEqual(rc, 2)
        self.assertIn("--from-diff applies to repair only", err)
        with open(diff, "a") as f:
            f.write('{"table": "app.kv", "kind": "missing", "key": {"k": "1"}}\n')
        rc, s, err = self.run_migrate("repair", "--keyspace", "app", "--from-diff", diff)
        self.assertEqual(rc, 2)
        self.assertIn("diff.jsonl:17: no \"key_bytes\"", err)

    def test_2_big_table_interrupted_and_resumed(self):
        cp = os.path.join(self.dir, "big.checkpoint")
        p = subprocess.Popen([MIGRATE, "copy", "--origin", self.origin.hostport(), "--target", self.target.hostport(), "--consistency", "ONE",
                              "--keyspace", "big", "--checkpoint", cp, "--split", "400", "--parallel", "1"],
                             stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while time.time() < deadline and len(read_lines(cp)) < 20:
            time.sleep(0.005)
        p.send_signal(signal.SIGINT)  # Ctrl-C: the ranges in flight finish, the checkpoint has every range done
        err = p.communicate(timeout=60)[1]
        self.assertEqual(p.returncode, 130, err)
        self.assertIn("resume with --checkpoint", err)
        done_first = len(read_lines(cp))
        self.assertGreaterEqual(done_first, 20)
        self.assertLess(done_first, 400)
        rc, s, err = self.run_migrate("copy", "--keyspace", "big", "--checkpoint", cp, "--split", "400")
        self.assertEqual(rc, 0, err)
        self.assertIn("resuming: %d ranges already done" % done_first, err)
        self.assertLess(s["rows_read"], BIG)  # the ranges done before were not read again
        self.assertEqual(len(read_lines(cp)), 400)
        self.assertEqual(self.t.execute("SELECT count(*) FROM big.kv").one()[0], BIG)
        rc, s, err = self.run_migrate("validate", "--keyspace", "big")
        self.assertEqual(rc, 0, err)
        self.assertEqual(s["rows_read"], 2 * BIG)

    def test_2b_rate_limits_the_rows_read_per_second(self):
        t0 = time.time()
        rc, s, err = self.run_migrate("validate", "--keyspace", "app", "--table", "wide", "--rate", "400", "--parallel", "1")
        elapsed = time.time() - t0
        self.assertEqual(rc, 0, err)
        # 642 rows read (both sides) at 400 rows/s: at least the time of all ranges but the last.
        self.assertGreaterEqual(s["rows_read"], 600)
        self.assertGreaterEqual(elapsed, 1.0)

    def test_3_shards_together_copy_everything_once(self):
        fresh = sim("127.0.10.1")
        try:
            s = fresh.session()
            create_schema(s, "app")
            total = 0
            for i in range(4):
                rc, summary, err = self.run_migrate("copy", "--keyspace", "app", "--table", "wide", "--shard", "%d/4" % i, target=fresh)
                self.assertEqual(rc, 0, err)
                total += summary["rows_read"]
            self.assertEqual(total, len(snapshot(self.o, "app")["wide"]))
            self.assertEqual(snapshot(s, "app")["wide"], snapshot(self.o, "app")["wide"])
        finally:
            fresh.stop()

    def settings_file(self, target):
        path = os.path.join(self.dir, "tandem-%d.yml" % target.port)
        with open(path, "w") as f:
            f.write("origin_contact_points: %s\norigin_port: %d\ntarget_contact_points: %s\ntarget_port: %d\n"
                    % (self.origin.address, self.origin.port, target.address, target.port))
        return path

    def test_3b_the_kubernetes_indexed_job_copies_everything_once(self):
        """The shipped manifest's command, run as Kubernetes runs it: one process per completion index."""
        import yaml
        with open(os.path.join(ROOT, "deploy", "kubernetes", "tandem-migrate-job.yaml")) as f:
            job = yaml.safe_load(f)
        spec = job["spec"]
        self.assertEqual(spec["completionMode"], "Indexed")
        container = spec["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in container["env"]}
        self.assertEqual(int(env["SHARDS"]), spec["completions"])
        self.assertEqual(spec["parallelism"], spec["completions"])
        fresh = sim("127.0.10.2")
        state = tempfile.mkdtemp()
        try:
            create_schema(fresh.session(), "app")
            env["KEYSPACE"] = "app"
            script = " ".join(container["command"][2:] + container["args"])
            script = script.replace("/etc/tandem/tandem.yml", self.settings_file(fresh)).replace("/var/lib/tandem-migrate", state)
            procs = []
            for i in range(spec["completions"]):
                e = dict(os.environ, JOB_COMPLETION_INDEX=str(i), PATH=os.path.dirname(os.path.abspath(MIGRATE)) + ":" + os.environ["PATH"], **env)
                procs.append(subprocess.Popen(container["command"][:2] + [script], env=e, stderr=subprocess.PIPE, text=True))
            for p in procs:
                _, err = p.communicate(timeout=120)
                self.assertEqual(p.returncode, 0, err)
            read = 0
            for i in range(spec["completions"]):
                with open(os.path.join(state, "app.shard%d.json" % i)) as f:
                    read += json.load(f)["rows_read"]
            a, b = snapshot(self.o, "app"), snapshot(fresh.session(), "app")
            self.assertEqual(read, sum(len(a[t]) for t in ("kv", "wide", "shapes", "cnt")))
            self.assertEqual(a["wide"], b["wide"])
            self.assertEqual(a["cnt"], b["cnt"])  # counters are increments: copied twice would double
            self.assertTrue(same_with_ttl_slack(a["kv"], b["kv"]))
        finally:
            fresh.stop()

    def test_3c_the_ansible_playbook_runs_one_shard_per_host(self):
        fresh = sim("127.0.10.3")
        state = tempfile.mkdtemp()
        try:
            create_schema(fresh.session(), "app")
            inventory = os.path.join(state, "inventory.ini")
            with open(inventory, "w") as f:
                f.write("[tandem_migrate]\n" + "".join("shard-%d ansible_connection=local\n" % i for i in range(3)) +
                        "[tandem_migrate:vars]\nansible_python_interpreter=/usr/bin/python3\n")
            extra = {"migrate_keyspace": "app", "migrate_binary": os.path.abspath(MIGRATE), "migrate_config": self.settings_file(fresh),
                     "migrate_state_dir": state, "migrate_extra_args": ["--table", "wide", "--consistency", "ONE"]}
            env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=os.path.join(state, "tmp"), ANSIBLE_HOME=os.path.join(state, "home"))
            p = subprocess.run(["ansible-playbook", "-i", inventory, os.path.join(ROOT, "deploy", "ansible", "migrate.yml"), "-e", json.dumps(extra)],
                               capture_output=True, text=True, timeout=300, env=env)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("shard 2/3", p.stdout)
            self.assertEqual(snapshot(fresh.session(), "app")["wide"], snapshot(self.o, "app")["wide"])
            extra["migrate_command"] = "validate"
            fresh.session().execute("INSERT INTO app.wide (p, c, v) VALUES (12345, 1, 'target only')")
            p = subprocess.run(["ansible-playbook", "-i", inventory, os.path.join(ROOT, "deploy", "ansible", "migrate.yml"), "-e", json.dumps(extra)],
                               capture_output=True, text=True, timeout=300, env=env)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("differences found", p.stdout)
            self.assertEqual(p.stdout.count("extra 1,"), 1, p.stdout)  # one shard owns that row
        finally:
            fresh.stop()

    def test_4_errors_name_what_to_fix(self):
        other = sim("127.0.11.1", nodes=1, auth="migrator:secret")
        try:
            s = other.session(auth_provider=__import__("cassandra.auth", fromlist=["x"]).PlainTextAuthProvider("migrator", "secret"))
            create_schema(s, "app", skip=("shapes",))
            s.execute("CREATE TABLE app.shapes (a text, b int, c1 int, c2 text, PRIMARY KEY ((a, b), c1, c2))")
            rc, _, err = self.run_migrate("copy", "--keyspace", "app", target=other, origin=self.origin)
            self.assertEqual(rc, 1)
            self.assertIn("--target-username is not set", err)
            rc, _, err = self.run_migrate("copy", "--keyspace", "app", "--target-username", "migrator", "--target-password", "wrong", target=other)
            self.assertEqual(rc, 1)
            self.assertIn("authentication with --target-username 'migrator'", err)
            rc, _, err = self.run_migrate("copy", "--keyspace", "app", "--target-username", "migrator", "--target-password", "secret", target=other)
            self.assertEqual(rc, 2)  # schema checked before any work
            self.assertIn("table app.shapes: column fl (", err)
            self.assertIn("does not exist on target", err)
            self.assertEqual(other_rows(s), 0)
        finally:
            other.stop()
        p = subprocess.run([MIGRATE, "copy", "--origin", "127.0.0.1:%d" % free_port(), "--target", self.target.hostport(), "--keyspace", "app"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("origin: cannot connect to 127.0.0.1", p.stderr)
        p = subprocess.run([MIGRATE, "copy", "--origin", self.origin.hostport(), "--target", self.target.hostport(), "--keyspace", "app", "--shard", "4/4"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--shard", p.stderr)
        rc, _, err = self.run_migrate("copy", "--keyspace", "nosuch")
        self.assertEqual(rc, 2)
        self.assertIn("keyspace nosuch has no tables", err)


class racing(unittest.TestCase):
    def test_a_copy_racing_dual_writes_never_overwrites_a_newer_value(self):
        """tandem dual-writes new values while tandem-migrate copies the old rows: each key ends
        with the newer value on both clusters (the copy writes origin's write times)."""
        import threading
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import tandem_harness as h
        origin, target = sim("127.0.18.1"), sim("127.0.19.1")
        proxy = None
        try:
            t = target.session()
            t.execute("CREATE KEYSPACE race WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
            t.execute("CREATE TABLE race.kv (k bigint PRIMARY KEY, v blob)")
            rows = 50000
            out = subprocess.run([CQLBENCH, "--host", origin.address, "--port", str(origin.port), "--keyspace", "race", "--workload", "insert",
                                  "--distribution", "sequential", "--keys", str(rows), "--requests", str(rows), "--warmup", "0", "--json"],
                                 capture_output=True, text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stderr)
            proxy = h.tandem(TANDEM, origin, target, workers=1)
            cluster, session = proxy.connect()
            update = session.prepare("UPDATE race.kv SET v = 0xfeed WHERE k = ?")
            copy = subprocess.Popen([MIGRATE, "copy", "--origin", origin.hostport(), "--target", target.hostport(), "--keyspace", "race",
                                     "--consistency", "ONE", "--parallel", "2", "--split", "200"], stderr=subprocess.PIPE, text=True)
            updated = set()
            stop = threading.Event()

            def dual_writes():
                k = 0
                while not stop.is_set():
                    session.execute(update, (k,))  # the driver's client timestamp: newer than the rows being copied
                    updated.add(k)
                    k = (k + 97) % rows
            writer = threading.Thread(target=dual_writes)
            writer.start()
            err = copy.communicate(timeout=300)[1]
            stop.set()
            writer.join()
            cluster.shutdown()
            self.assertEqual(copy.returncode, 0, err)
            self.assertGreater(len(updated), 100)
            o = origin.session()
            for k in updated:
                self.assertEqual(t.execute("SELECT v FROM race.kv WHERE k = %s", (k,)).one().v, b"\xfe\xed", k)
                self.assertEqual(o.execute("SELECT v FROM race.kv WHERE k = %s", (k,)).one().v, b"\xfe\xed", k)
            self.assertEqual(t.execute("SELECT count(*) FROM race.kv").one()[0], rows)
        finally:
            if proxy:
                proxy.stop()
            origin.stop()
            target.stop()


def other_rows(s):
    return sum(s.execute("SELECT count(*) FROM app.%s" % t).one()[0] for t in ("kv", "wide", "cnt"))


if __name__ == "__main__":
    CQLSIM, MIGRATE, CQLBENCH, TANDEM = sys.argv[1:5]
    unittest.main(argv=sys.argv[:1], verbosity=2)
