#!/usr/bin/python3
"""write_mode DUAL_ASYNC_ON_SECONDARY end to end: the Python driver writes through tandem while
the target stalls (SIGSTOP), dies and comes back empty; tandem itself is killed with records
pending; the journal fills up. Every acknowledged write must end up on the target with the
origin's value and write time, and the client must see no error while the journal has room.

Usage: write_journal_test.py <cqlsim> <tandem>
"""
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tandem_harness as h  # noqa: E402

from cassandra import WriteTimeout  # noqa: E402
from cassandra.query import BatchStatement  # noqa: E402

CQLSIM = TANDEM = None
KS = "CREATE KEYSPACE IF NOT EXISTS app WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
TABLE = "CREATE TABLE IF NOT EXISTS app.kv (k int PRIMARY KEY, v text)"


def contents(cluster, keys=None):
    """{k: (v, writetime(v))} of app.kv on one cluster."""
    rows = cluster.execute("SELECT k, v, writetime(v) AS wt FROM app.kv")
    return {r.k: (r.v, r.wt) for r in rows if keys is None or r.k in keys}


class journal_case(unittest.TestCase):
    settings = {}

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tandem-journal-")
        self.origin = h.cluster(CQLSIM, "origin", "127.0.41.1")
        self.target = h.cluster(CQLSIM, "target", "127.0.42.1")
        self.settings = {"write_mode": "DUAL_ASYNC_ON_SECONDARY", "write_journal_dir": self.dir,
                         "proxy_request_timeout_ms": 1500, **type(self).settings}
        self.tandem = self.start_tandem()

    def start_tandem(self):
        return h.tandem(TANDEM, self.origin, self.target, settings=dict(self.settings))

    def tearDown(self):
        rc = self.tandem.stop()
        for p in [self.origin, self.target]:
            try:
                p.proc.signal(signal.SIGCONT)
            except Exception:
                pass
            p.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.assertEqual(rc, 0, "tandem exited with %s:\n%s" % (rc, self.tandem.proc.output()[-3000:]))

    def connect_with_schema(self):
        """A driver session through tandem, app.kv created on both clusters, and its INSERT."""
        c, s = self.tandem.connect()
        s.execute(KS)
        s.execute(TABLE)
        return c, s, s.prepare("INSERT INTO app.kv (k, v) VALUES (?, ?)")

    def wait_drained(self, t, timeout=90):
        """Until the journal owes nothing: every record acknowledged by the cluster owing it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if t.metric("zdm_tandem_journal_pending_records") == 0:
                    return
            except (KeyError, OSError):
                pass
            time.sleep(0.5)
        self.fail("the journal still owes %s records after %ss:\n%s" % (
            t.metric("zdm_tandem_journal_pending_records"), timeout, t.proc.output()[-3000:]))


class target_outage(journal_case):
    def writer(self, s, ins, base):
        """Writes keys base..base+1499 in turn until stopped; remembers, per key, the last
        acknowledged value and when that write was sent."""
        acked, errors = {}, []
        stop = threading.Event()

        def run():
            i = 0
            while not stop.is_set():
                k, v = base + i % 1500, "v%d" % i
                sent = time.time()
                try:
                    if i % 10 == 3:
                        s.execute("INSERT INTO app.kv (k, v) VALUES (%s, %s)", (k, v))
                    elif i % 15 == 7:
                        b = BatchStatement()
                        b.add(ins, (k, v))
                        s.execute(b)
                    else:
                        s.execute(ins, (k, v))
                    acked[k] = (v, sent)  # one writer, in order: the last acknowledged value of each key
                except Exception as e:  # noqa: BLE001
                    errors.append("%s: %r" % (k, e))
                i += 1
                time.sleep(0.001)

        w = threading.Thread(target=run)
        w.start()

        def finish():
            stop.set()
            w.join()
            return acked, errors
        return finish

    def check_converged(self, acked, after=0.0):
        o, t = contents(self.origin), contents(self.target)
        checked = 0
        for k, (v, sent) in acked.items():
            self.assertEqual(o[k][0], v)
            if sent < after:
                continue
            self.assertEqual(t.get(k), o[k], "key %d: target (value, writetime) differs from origin's" % k)
            checked += 1
        return checked

    def test_no_client_error_and_every_acknowledged_write_reaches_the_target(self):
        c, s, ins = self.connect_with_schema()
        # A stall: the target's copies time out in tandem, the client never waits for them.
        finish = self.writer(s, ins, 0)
        time.sleep(1.5)
        self.target.proc.signal(signal.SIGSTOP)
        time.sleep(3)
        self.target.proc.signal(signal.SIGCONT)
        time.sleep(1)
        acked, errors = finish()
        self.assertEqual(errors, [], "the client saw errors while the target stalled:\n" + self.tandem.proc.output()[-3000:])
        self.assertGreater(len(acked), 300)
        self.wait_drained(self.tandem)
        self.assertEqual(self.check_converged(acked), len(acked))
        self.assertGreater(self.tandem.metric_sum("zdm_tandem_journal_writes_total", 'outcome="secondary_failed"'), 0)
        replayed = self.tandem.metric("zdm_tandem_journal_replayed_total")
        self.assertGreater(replayed, 0)

        # An outage: the target dies and comes back empty; the operator re-creates the schema.
        # (What it had acknowledged before dying is gone with it: cqlsim keeps nothing on disk.)
        finish = self.writer(s, ins, 10000)
        time.sleep(0.5)
        killed_at = time.time()
        self.target.proc.proc.kill()
        self.target.stop()
        deadline = time.time() + 15
        while json.loads(self.tandem.http("/api/v1/status")[1])["clusters"]["target"]["failures"] == 0:
            self.assertLess(time.time(), deadline, "the target's control connection never noticed the outage")
            time.sleep(0.2)
        self.assertEqual(self.tandem.http("/health/readiness")[0], 200, "the primary serves: tandem stays ready")
        status = json.loads(self.tandem.http("/api/v1/status")[1])
        self.assertEqual(status["write_mode"], "DUAL_ASYNC_ON_SECONDARY")
        self.assertEqual(status["journal"]["state"], "replaying")
        self.assertGreater(status["journal"]["pending_records"], 0)
        # The outage lasts until the journal holds 150 of the writer's records (on a busy machine
        # the control connection can notice within 0.2 s, before 100 writes went through it).
        deadline = time.time() + 15
        while json.loads(self.tandem.http("/api/v1/status")[1])["journal"]["pending_records"] < 150:
            self.assertLess(time.time(), deadline, "the journal never held 150 records while the target was down")
            time.sleep(0.1)
        self.target = h.cluster(CQLSIM, "target", "127.0.42.1", port=self.target.port)
        self.target.execute(KS)
        self.target.execute(TABLE)
        time.sleep(2)
        acked, errors = finish()
        self.assertEqual(errors, [], "the client saw errors while the target was down:\n" + self.tandem.proc.output()[-3000:])
        self.wait_drained(self.tandem)
        # The client connection's own link to the target comes back (backoff up to 15 s): its
        # writes go to the target directly again, not through the journal.
        self.tandem.proc.wait_for("reconnected to target node", timeout=40)
        failed = self.tandem.metric_sum("zdm_tandem_journal_writes_total", 'outcome="secondary_failed"')
        for k in range(20000, 20050):
            s.execute(ins, (k, "after the outage"))
        self.assertEqual(self.tandem.metric_sum("zdm_tandem_journal_writes_total", 'outcome="secondary_failed"'), failed)
        self.assertEqual(len(self.target.execute("SELECT k FROM app.kv WHERE k = 20049")), 1)
        c.shutdown()
        self.assertGreater(self.check_converged(acked, after=killed_at), 200)
        # The writes between the kill and the restart went through the journal (at least the 150
        # held then); later ones may go to the target directly once the session's link is back.
        self.assertGreater(self.tandem.metric("zdm_tandem_journal_replayed_total"), replayed + 100)
        self.assertEqual(self.tandem.metric("zdm_tandem_journal_rejected_total"), 0)
        self.assertEqual(self.tandem.metric_sum("zdm_proxy_failed_writes_total"), 0)

    def test_a_client_connects_while_the_target_is_down(self):
        c, s = self.tandem.connect()
        s.execute(KS)
        s.execute(TABLE)
        c.shutdown()
        self.target.proc.proc.kill()
        self.target.stop()
        c, s = self.tandem.connect()  # logs in on origin alone
        try:
            ins = s.prepare("INSERT INTO app.kv (k, v) VALUES (?, ?)")
            for k in range(30000, 30100):
                s.execute(ins, (k, "written while the target was down"))
            self.tandem.proc.wait_for("cannot reach the target cluster")
            self.target = h.cluster(CQLSIM, "target", "127.0.42.1", port=self.target.port)
            self.target.execute(KS)
            self.target.execute(TABLE)
            self.tandem.proc.wait_for("reconnected to target node", timeout=40)
            s.execute(ins, (30100, "after"))
        finally:
            c.shutdown()
        self.wait_drained(self.tandem)
        keys = set(range(30000, 30101))
        self.assertEqual(len(contents(self.target, keys)), 101)
        self.assertEqual(contents(self.target, keys), contents(self.origin, keys))

    def test_records_go_to_the_cluster_that_missed_them_across_a_primary_switch(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            ins = s.prepare("INSERT INTO app.kv (k, v) VALUES (?, ?)")
            self.target.proc.signal(signal.SIGSTOP)
            for k in range(40000, 40050):
                s.execute(ins, (k, "owed to target"))  # the target misses these
            self.tandem.reload(primary_cluster="TARGET")
            self.target.proc.signal(signal.SIGCONT)
            for k in range(40050, 40100):
                s.execute(ins, (k, "primary is target now"))
        finally:
            c.shutdown()
        self.wait_drained(self.tandem)
        keys = set(range(40000, 40100))
        o, t = contents(self.origin, keys), contents(self.target, keys)
        self.assertEqual(len(o), 100)
        self.assertEqual(o, t, "each record went to the cluster that missed it, with its write time")

    def test_write_mode_switches_live(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            self.tandem.reload(write_mode="DUAL_SYNC")
            self.assertIn("write_mode=DUAL_SYNC", self.tandem.proc.wait_for("SIGHUP: re-read", count=1))
            self.target.proc.signal(signal.SIGSTOP)
            with self.assertRaises(WriteTimeout):
                s.execute("INSERT INTO app.kv (k, v) VALUES (1, 'sync')")  # waits for the stalled target
            # Back through the admin API (on loopback: no token needed), as tandemctl does.
            req = urllib.request.Request("http://127.0.0.1:%d/api/v1/settings" % self.tandem.http_port, method="PUT",
                                         data=json.dumps({"write_mode": "DUAL_ASYNC_ON_SECONDARY"}).encode())
            with urllib.request.urlopen(req, timeout=5) as r:
                self.assertEqual(json.loads(r.read())["write_mode"], "DUAL_ASYNC_ON_SECONDARY")
            s.execute("INSERT INTO app.kv (k, v) VALUES (2, 'async')")  # does not
            self.target.proc.signal(signal.SIGCONT)
        finally:
            c.shutdown()
        self.wait_drained(self.tandem)
        self.assertEqual(contents(self.target, {2}), contents(self.origin, {2}))

    def test_lightweight_transactions_stay_synchronous(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            sync = self.tandem.metric_sum("zdm_tandem_journal_writes_total", 'outcome="synchronous"')
            self.assertEqual(sync, 2, "schema changes are synchronous")
            s.execute("INSERT INTO app.kv (k, v) VALUES (5000, 'lwt') IF NOT EXISTS")
            s.execute("INSERT INTO app.kv (k, v) VALUES (5001, 'plain')")
        finally:
            c.shutdown()
        self.assertEqual(self.tandem.metric_sum("zdm_tandem_journal_writes_total", 'outcome="synchronous"'), sync + 1)
        self.assertEqual(self.tandem.metric_sum("zdm_tandem_journal_writes_total", 'outcome="journaled"'), 1)
        self.wait_drained(self.tandem)
        self.assertEqual(contents(self.target, {5000, 5001}), contents(self.origin, {5000, 5001}))


class tandem_crash(journal_case):
    def test_records_pending_at_a_sigkill_are_replayed_after_the_restart(self):
        c, s, ins = self.connect_with_schema()
        self.target.proc.signal(signal.SIGSTOP)
        for value in ("first", "second"):
            for k in range(200):
                s.execute(ins, (k, "%s %d" % (value, k)))  # answered: origin and the journal have it
        c.shutdown()
        self.tandem.proc.proc.kill()
        self.tandem.proc.proc.wait()
        self.tandem.stop()
        self.target.proc.signal(signal.SIGCONT)
        self.tandem = self.start_tandem()
        self.tandem.proc.wait_for("400 records found")
        self.assertEqual(self.tandem.metric("zdm_tandem_journal_recovered_records"), 400)
        self.wait_drained(self.tandem)
        o, t = contents(self.origin), contents(self.target)
        self.assertEqual(len(o), 200)
        for k in range(200):
            self.assertEqual(o[k][0], "second %d" % k)
            self.assertEqual(t.get(k), o[k], "key %d: the second write must win on the target too" % k)


class journal_full(journal_case):
    settings = {"write_journal_max_bytes": 1 << 20}

    def test_a_full_journal_makes_writes_wait_for_both_clusters(self):
        c, s, ins = self.connect_with_schema()
        self.target.proc.signal(signal.SIGSTOP)
        big = "x" * 30000
        acked, timeouts = [], 0
        for k in range(60):
            try:
                s.execute(ins, (k, big))
                acked.append(k)
            except WriteTimeout:
                timeouts += 1  # DUAL_SYNC's answer when the target does not answer
                if timeouts == 3:
                    break
        self.target.proc.signal(signal.SIGCONT)
        c.shutdown()
        self.assertEqual(timeouts, 3, "writes past the bound must fail as in DUAL_SYNC, never be dropped")
        self.assertGreater(len(acked), 20)
        self.assertLess(len(acked) * 30000, 1 << 20)
        self.assertGreaterEqual(self.tandem.metric_sum("zdm_tandem_journal_writes_total", 'outcome="full"'), 3)
        self.assertGreaterEqual(self.tandem.metric("zdm_tandem_journal_full_total"), 3)
        self.tandem.proc.wait_for("is full")
        self.wait_drained(self.tandem)
        o, t = contents(self.origin), contents(self.target)
        for k in acked:
            self.assertEqual(t.get(k), o[k], "key %d was acknowledged: the target must have it" % k)


if __name__ == "__main__":
    CQLSIM, TANDEM = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
