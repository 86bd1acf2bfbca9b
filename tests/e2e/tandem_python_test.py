#!/usr/bin/python3
"""tandem end to end: the DataStax Python driver (default settings) through tandem in front of two
cqlsim clusters, checking what each cluster received and stored.

Usage: tandem_python_test.py <cqlsim> <tandem> [unittest args]
"""
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tandem_harness as h  # noqa: E402

from cassandra import AuthenticationFailed, InvalidRequest, WriteTimeout, ReadTimeout, Unavailable  # noqa: E402
from cassandra.auth import PlainTextAuthProvider  # noqa: E402
from cassandra.cluster import NoHostAvailable  # noqa: E402
from cassandra.query import BatchStatement, SimpleStatement  # noqa: E402

logging.basicConfig(level=logging.CRITICAL)
CQLSIM = TANDEM = None
# ctest runs this file twice: PER_CLIENT cluster connections, then SHARED (the *_shared test).
SHARED = os.environ.get("TANDEM_TEST_CLUSTER_CONNECTIONS", "").upper() == "SHARED"
# A client's PREPARE reaches one node of each cluster, or every node in SHARED (both of the
# base clusters' two).
PREPARES = 2 if SHARED else 1
KS = "CREATE KEYSPACE IF NOT EXISTS app WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
TABLE = "CREATE TABLE IF NOT EXISTS app.kv (k int PRIMARY KEY, v text)"


class base(unittest.TestCase):
    settings = {}
    origin_auth = target_auth = None
    target_extra = ()
    origin_nodes, origin_dead = 2, 0
    origin_extra = ()

    @classmethod
    def setUpClass(cls):
        cls.origin = h.cluster(CQLSIM, "origin", "127.0.1.1", nodes=cls.origin_nodes, dead=cls.origin_dead,
                               auth=cls.origin_auth, extra=cls.origin_extra)
        cls.target = h.cluster(CQLSIM, "target", "127.0.2.1", auth=cls.target_auth, extra=cls.target_extra)
        try:
            cls.tandem = h.tandem(TANDEM, cls.origin, cls.target, settings=dict(cls.settings))
        except Exception:
            cls.origin.stop()
            cls.target.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        rc = cls.tandem.stop()
        cls.origin.stop()
        cls.target.stop()
        assert rc == 0, "tandem exited with %s:\n%s" % (rc, cls.tandem.proc.output()[-3000:])

    def tearDown(self):
        for c in (self.origin, self.target):
            c.execute("TRUNCATE cqlsim.faults")

    def lose_and_heal(self, client_timestamp, k):
        """The target forgets a prepared statement between two writes: tandem prepares it there
        again and re-sends the second write as the target was first sent it (the request as
        received, or with tandem's timestamp and ids), unseen by the driver."""
        c, s = self.tandem.connect()
        try:
            s.use_client_timestamp = client_timestamp
            s.execute(KS)
            s.execute(TABLE)
            marker = "heal%s" % uuid.uuid4().hex[:6]
            ps = s.prepare("INSERT INTO app.kv (k, v) VALUES (?, '%s')" % marker)
            s.execute(ps, (k,))
            healed = self.tandem.metric("zdm_tandem_unprepared_healed_total")
            self.target.execute("TRUNCATE cqlsim.prepared")  # as if target restarted
            s.execute(ps, (k + 1,))
        finally:
            c.shutdown()
        self.assertEqual(self.tandem.metric("zdm_tandem_unprepared_healed_total"), healed + 1)
        # The driver never saw UNPREPARED: origin executed each write once (no client retry).
        self.assertEqual(len([r for r in self.origin.requests(marker) if r.startswith("INSERT")]), PREPARES + 2)  # PREPARE + 2 EXECUTE
        rows = [cl.execute("SELECT v, writetime(v) AS w FROM app.kv WHERE k = %d" % (k + 1)) for cl in (self.origin, self.target)]
        self.assertEqual([len(r) for r in rows], [1, 1], "client timestamp %s" % client_timestamp)
        self.assertEqual(rows[1][0].v, marker)
        self.assertEqual(rows[0][0].w, rows[1][0].w, "both clusters hold the same cell (client timestamp %s)" % client_timestamp)

    def write_as(self, user, password, value):
        """Logs in through tandem as user/password and writes `value` at k = 1; both clusters
        must hold it."""
        c, s = self.tandem.connect(auth_provider=PlainTextAuthProvider(user, password))
        try:
            s.execute(KS)
            s.execute(TABLE)
            s.execute("INSERT INTO app.kv (k, v) VALUES (1, %s)", (value,))
        finally:
            c.shutdown()
        for cl in (self.origin, self.target):
            self.assertEqual(cl.execute("SELECT v FROM app.kv WHERE k = 1")[0].v, value, cl.name)


class dual_writes(base):
    settings = {"proxy_request_timeout_ms": 1500}
    target_extra = ("--prepared-id-salt", "target")  # the clusters hand out different prepared ids

    def test_driver_sees_tandem_as_the_cluster(self):
        c, s = self.tandem.connect()
        try:
            self.assertEqual(c.protocol_version, 5)
            local = s.execute("SELECT * FROM system.local").one()
            self.assertEqual(str(local.rpc_address), "127.0.0.1")
            self.assertEqual(local.cluster_name, "origin")
            self.assertEqual(local.partitioner, "org.apache.cassandra.dht.Murmur3Partitioner")
            self.assertEqual(local.rack, "rack0")
            self.assertEqual(len(local.tokens), 8)
            # Exactly the selected columns, with aliases, and count(*) (R6.4, R6.7).
            r = s.execute("SELECT data_center AS dc, release_version FROM system.local WHERE key = 'local'")
            self.assertEqual(r.column_names, ["dc", "release_version"])
            self.assertEqual(r.one().dc, "datacenter1")
            self.assertEqual(s.execute("SELECT count(*) FROM system.local").one()[0], 1)
            self.assertEqual(list(s.execute("SELECT * FROM system.peers")), [])
            with self.assertRaises(InvalidRequest) as e:
                s.execute("SELECT * FROM system.peers_v2")
            self.assertIn("unconfigured table peers_v2", str(e.exception))
            with self.assertRaises(InvalidRequest) as e:
                s.execute("SELECT nonsense FROM system.local")
            self.assertIn("Undefined column name nonsense", str(e.exception))
            # Prepared SELECTs on system.local are answered by tandem too.
            ps = s.prepare("SELECT cluster_name, host_id FROM system.local")
            self.assertEqual(s.execute(ps).one().cluster_name, "origin")
            # Only the proxy is a host: the driver never learns the clusters' nodes.
            self.assertEqual([str(x.endpoint) for x in c.metadata.all_hosts()], ["127.0.0.1:%d" % self.tandem.port])
        finally:
            c.shutdown()

    def test_every_write_reaches_both_clusters(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute("CREATE TABLE IF NOT EXISTS app.writes (k int PRIMARY KEY, v text)")
            s.execute("INSERT INTO app.writes (k, v) VALUES (1, 'simple')")
            ins = s.prepare("INSERT INTO app.writes (k, v) VALUES (?, ?)")
            for k in range(2, 30):
                s.execute(ins, (k, "prepared %d" % k))
            b = BatchStatement()
            b.add(ins, (100, "batch"))
            b.add(SimpleStatement("INSERT INTO app.writes (k, v) VALUES (101, 'batch simple')"))
            s.execute(b)
            s.execute("UPDATE app.writes SET v = 'updated' WHERE k = 2")
            s.execute("DELETE FROM app.writes WHERE k = 3")
            sel = s.prepare("SELECT v FROM app.writes WHERE k = ?")
            self.assertEqual(s.execute(sel, (2,)).one().v, "updated")
        finally:
            c.shutdown()
        for cl in (self.origin, self.target):
            rows = {r.k: r.v for r in cl.execute("SELECT k, v FROM app.writes")}
            self.assertEqual(len(rows), 30, cl.name)
            self.assertEqual(rows[2], "updated")
            self.assertNotIn(3, rows)
            self.assertEqual(rows[100], "batch")
            self.assertEqual(rows[101], "batch simple")

    def test_reads_go_to_the_primary_only(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            marker = "read-%s" % uuid.uuid4().hex[:8]
            s.execute("SELECT * FROM app.kv WHERE k = 42 /* %s */" % marker)
        finally:
            c.shutdown()
        self.assertEqual(len(self.origin.requests(marker)), 1)
        self.assertEqual(self.target.requests(marker), [])

    def write_fails_on(self, failing, healthy, key):
        """A write times out on `failing` (injected): the client gets the WriteTimeout, the other
        cluster has applied it (§4.3: the failure wins)."""
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            failing.execute("INSERT INTO cqlsim.faults (node, kind, action, value) VALUES (-1, 'write', 'write_timeout', 0)")
            with self.assertRaises(WriteTimeout):
                s.execute("INSERT INTO app.kv (k, v) VALUES (%d, 'x')" % key)
        finally:
            c.shutdown()
        self.assertEqual(len(healthy.execute("SELECT * FROM app.kv WHERE k = %d" % key)), 1)
        self.assertEqual(len(failing.execute("SELECT * FROM app.kv WHERE k = %d" % key)), 0)

    def test_a_write_that_fails_on_target_fails_for_the_client(self):
        self.write_fails_on(self.target, self.origin, 500)

    def test_a_write_that_fails_on_origin_fails_for_the_client(self):
        self.write_fails_on(self.origin, self.target, 510)

    def test_a_cluster_that_never_answers_gets_the_client_an_error_not_a_hang(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            self.target.execute("INSERT INTO cqlsim.faults (node, kind, action, value) VALUES (-1, 'write', 'drop', 0)")
            t0 = time.time()
            with self.assertRaises(WriteTimeout) as e:
                s.execute("INSERT INTO app.kv (k, v) VALUES (600, 'x')", timeout=10)
            self.assertLess(time.time() - t0, 5)  # proxy_request_timeout_ms = 1500, not the driver's 10 s
            self.assertIn("target did not answer", str(e.exception))
            self.target.execute("TRUNCATE cqlsim.faults")
            # The connection keeps working, and the late reply never reaches a reused stream.
            for k in range(700, 720):
                s.execute("INSERT INTO app.kv (k, v) VALUES (%d, 'after')" % k)
            self.assertEqual(s.execute("SELECT v FROM app.kv WHERE k = 719").one().v, "after")
        finally:
            c.shutdown()

    def test_prepared_ids_are_rewritten_for_target(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            ps = s.prepare("INSERT INTO app.kv (k, v) VALUES (?, 'rewritten')")
            s.execute(ps, (800,))
        finally:
            c.shutdown()
        self.assertEqual(self.target.execute("SELECT v FROM app.kv WHERE k = 800")[0].v, "rewritten")
        self.assertEqual(self.origin.execute("SELECT v FROM app.kv WHERE k = 800")[0].v, "rewritten")

    def test_primary_flips_live(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            s.execute("INSERT INTO app.kv (k, v) VALUES (900, 'both')")
            self.tandem.reload(primary_cluster="TARGET")
            marker = "flip-%s" % uuid.uuid4().hex[:8]
            # The same connection, no reconnect: reads now come from target.
            self.assertEqual(s.execute("SELECT v FROM app.kv WHERE k = 900 /* %s */" % marker).one().v, "both")
            self.assertEqual(self.origin.requests(marker), [])
            self.assertEqual(len(self.target.requests(marker)), 1)
        finally:
            self.tandem.reload(primary_cluster="ORIGIN")
            c.shutdown()

    def test_dual_reads_never_reach_the_client(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            s.execute("INSERT INTO app.kv (k, v) VALUES (950, 'dual')")
            self.tandem.reload(read_mode="DUAL_ASYNC_ON_SECONDARY")
            self.target.execute("INSERT INTO cqlsim.faults (node, kind, action, value) VALUES (-1, 'read', 'read_timeout', 0)")
            marker = "dual-%s" % uuid.uuid4().hex[:8]
            for _ in range(20):
                self.assertEqual(s.execute("SELECT v FROM app.kv WHERE k = 950 /* %s */" % marker).one().v, "dual")
            deadline = time.time() + 5
            while time.time() < deadline and not self.target.requests(marker):
                time.sleep(0.1)
            self.assertTrue(self.target.requests(marker), "the secondary saw no mirrored read")
            self.assertEqual(len(self.origin.requests(marker)), 20)
            # A slow secondary does not slow the client down either.
            self.target.execute("INSERT INTO cqlsim.faults (node, kind, action, value) VALUES (-1, 'read', 'latency', 800)")
            for _ in range(5):
                t0 = time.time()
                self.assertEqual(s.execute("SELECT v FROM app.kv WHERE k = 950").one().v, "dual")
                self.assertLess(time.time() - t0, 0.4)
        finally:
            self.tandem.reload(read_mode="PRIMARY_ONLY")
            c.shutdown()


    def test_a_cluster_connection_that_dies_fails_its_requests_at_once(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            self.target.execute("INSERT INTO cqlsim.faults (node, kind, action, value) VALUES (-1, 'write', 'close', 0)")
            t0 = time.time()
            with self.assertRaises(Exception) as e:
                s.execute("INSERT INTO app.kv (k, v) VALUES (650, 'x')", timeout=10)
            self.assertLess(time.time() - t0, 1.0, "waited for a timeout instead of failing at once")
            self.assertNotIsInstance(e.exception, __import__("cassandra").OperationTimedOut)
            self.target.execute("TRUNCATE cqlsim.faults")
            # The driver reconnects through tandem and goes on.
            deadline = time.time() + 10
            while True:
                try:
                    s.execute("INSERT INTO app.kv (k, v) VALUES (651, 'again')")
                    break
                except Exception:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.2)
        finally:
            c.shutdown()
        self.assertEqual(len(self.target.execute("SELECT * FROM app.kv WHERE k = 651")), 1)

    def test_insights_rpc_is_answered_locally(self):
        c, s = self.tandem.connect()
        try:
            marker = uuid.uuid4().hex[:8]
            s.execute("CALL InsightsRpc.reportInsight('%s')" % marker)
        finally:
            c.shutdown()
        self.assertEqual(self.origin.requests(marker), [])
        self.assertEqual(self.target.requests(marker), [])

    def test_dual_reads_resume_after_the_async_connection_fails(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            s.execute("INSERT INTO app.kv (k, v) VALUES (960, 'resume')")
            self.tandem.reload(read_mode="DUAL_ASYNC_ON_SECONDARY")
            # The secondary closes the async connection on the first mirrored read.
            self.target.execute("INSERT INTO cqlsim.faults (node, kind, action, value) VALUES (-1, 'read', 'close', 0)")
            for _ in range(5):
                self.assertEqual(s.execute("SELECT v FROM app.kv WHERE k = 960").one().v, "resume")
                time.sleep(0.05)
            self.target.execute("TRUNCATE cqlsim.faults")
            time.sleep(1.5)  # the async connection is re-opened at the first read after 1 s
            marker = "resume-%s" % uuid.uuid4().hex[:8]
            deadline = time.time() + 10
            while not self.target.requests(marker) and time.time() < deadline:
                self.assertEqual(s.execute("SELECT v FROM app.kv WHERE k = 960 /* %s */" % marker).one().v, "resume")
                time.sleep(0.2)
            self.assertTrue(self.target.requests(marker), "dual reads did not resume")
        finally:
            self.tandem.reload(read_mode="PRIMARY_ONLY")
            c.shutdown()


    def test_a_cluster_that_lost_a_prepared_statement_is_healed_transparently(self):
        # Different prepared ids on the clusters: the target is sent a body of tandem's either way.
        self.lose_and_heal(True, 980)
        self.lose_and_heal(False, 982)

    def test_compression_and_protocol_versions(self):
        for version, compression in ((4, "lz4"), (4, "snappy"), (3, "lz4"), (5, "lz4"), (5, False)):
            c, s = self.tandem.connect(protocol_version=version, compression=compression)
            try:
                s.execute(KS)
                s.execute(TABLE)
                k = 1000 + version * 10 + (1 if compression == "snappy" else 0)
                ps = s.prepare("INSERT INTO app.kv (k, v) VALUES (?, ?)")
                s.execute(ps, (k, "x" * 3000))  # big enough to be compressed
                self.assertEqual(s.execute("SELECT v FROM app.kv WHERE k = %d" % k).one().v, "x" * 3000)
            finally:
                c.shutdown()
            for cl in (self.origin, self.target):
                self.assertEqual(len(cl.execute("SELECT * FROM app.kv WHERE k = %d" % k)), 1, (version, compression, cl.name))

    def test_schema_changes_from_origin_reach_the_driver(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            name = "made_elsewhere_%s" % uuid.uuid4().hex[:6]
            # Another application creates a table on origin directly; the driver hears the
            # SCHEMA_CHANGE through tandem and refreshes its metadata.
            self.origin.execute("CREATE TABLE app.%s (k int PRIMARY KEY)" % name)
            deadline = time.time() + 10
            while name not in c.metadata.keyspaces["app"].tables and time.time() < deadline:
                time.sleep(0.1)
            self.assertIn(name, c.metadata.keyspaces["app"].tables)
        finally:
            c.shutdown()

    def test_ten_thousand_requests_from_fifty_connections_each_answered_once(self):
        cqlbench = os.path.join(os.path.dirname(os.path.dirname(TANDEM)), "cqlbench", "cqlbench")
        p = subprocess.run([cqlbench, "--host", "127.0.0.1", "--port", str(self.tandem.port), "--connections", "50",
                            "--depth", "8", "--requests", "10000", "--warmup", "0", "--workload", "mixed", "--json"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        summary = __import__("json").loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual(summary["errors"], 0, summary["errors_by_kind"])  # UNEXPECTED_REPLY included
        self.assertGreaterEqual(summary["requests"], 10000)
        # The same over protocol v5 frames.
        p = subprocess.run([cqlbench, "--host", "127.0.0.1", "--port", str(self.tandem.port), "--connections", "10",
                            "--depth", "8", "--requests", "3000", "--warmup", "0", "--workload", "mixed", "--protocol", "5",
                            "--no-schema", "--json"], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        summary = __import__("json").loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual(summary["errors"], 0, summary["errors_by_kind"])
        self.assertGreaterEqual(summary["requests"], 3000)

    def test_cqlbench_batches_of_prepared_inserts_reach_both_clusters(self):
        cqlbench = os.path.join(os.path.dirname(os.path.dirname(TANDEM)), "cqlbench", "cqlbench")
        p = subprocess.run([cqlbench, "--host", "127.0.0.1", "--port", str(self.tandem.port), "--workload", "batch",
                            "--batch-size", "5", "--requests", "100", "--keys", "500", "--distribution", "sequential",
                            "--connections", "1", "--depth", "4", "--warmup", "0", "--keyspace", "bench", "--json"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        summary = __import__("json").loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual(summary["errors"], 0, summary["errors_by_kind"])
        for cl in (self.origin, self.target):  # the target copy carried target's prepared ids
            self.assertEqual(len(cl.execute("SELECT k FROM bench.kv")), 500, cl.name)

    def test_custom_payloads_travel_with_rewritten_requests(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            ps = s.prepare("INSERT INTO app.kv (k, v) VALUES (?, 'payload')")  # ids differ per cluster
            s.execute(ps, (990,), custom_payload={"app": b"checkout", "request-id": b"client-chosen-id"})
            s.execute("INSERT INTO app.kv (k, v) VALUES (991, 'payload')", custom_payload={"app": b"x"})
        finally:
            c.shutdown()
        for cl in (self.origin, self.target):
            self.assertEqual(len(cl.execute("SELECT * FROM app.kv WHERE k IN (990, 991)")), 2, cl.name)

    def test_metrics_and_health(self):
        self.assertEqual(self.tandem.http("/health/liveness"), (200, "OK"))
        status, body = self.tandem.http("/health/readiness")
        self.assertEqual(status, 200)
        ready = __import__("json").loads(body)
        self.assertEqual(ready["Status"], "UP")
        self.assertEqual(ready["OriginStatus"]["Addr"], "%s:%d" % (self.origin.address, self.origin.port))
        self.assertEqual(ready["TargetStatus"]["FailureCountThreshold"], 1)
        before_failed = self.tandem.metric('zdm_proxy_failed_writes_total{failed_on="target"}')
        before_writes = self.tandem.metric('zdm_proxy_request_duration_seconds_count{type="writes"}')
        before_other = self.tandem.metric("zdm_tandem_unrecognized_statements_total")
        before_node = self.tandem.metric_sum("zdm_target_requests_failed_total", 'error="write_timeout"')
        before_conns = self.tandem.metric_sum("zdm_origin_connections_total")
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            s.execute(s.prepare("INSERT INTO app.kv (k, v) VALUES (?, 'm')"), (970,))
            self.target.execute("INSERT INTO cqlsim.faults (node, kind, action, value) VALUES (-1, 'write', 'write_timeout', 0)")
            with self.assertRaises(WriteTimeout):
                s.execute("INSERT INTO app.kv (k, v) VALUES (971, 'm')")
            with self.assertRaises(Exception):
                s.execute("FROBNICATE app.kv")  # not CQL: both clusters refuse it, tandem counts it
            self.assertGreater(self.tandem.metric_sum("zdm_origin_connections_total"), 0)
        finally:
            c.shutdown()
        self.assertEqual(self.tandem.metric('zdm_proxy_failed_writes_total{failed_on="target"}'), before_failed + 1)
        self.assertGreaterEqual(self.tandem.metric('zdm_proxy_request_duration_seconds_count{type="writes"}'), before_writes + 2)
        self.assertEqual(self.tandem.metric("zdm_tandem_unrecognized_statements_total"), before_other + 1)
        # Per node (R10.1): the target node that failed the write, by error kind.
        self.assertEqual(self.tandem.metric_sum("zdm_target_requests_failed_total", 'error="write_timeout"'), before_node + 1)
        self.assertGreater(self.tandem.metric_sum("zdm_origin_request_duration_seconds_count", 'type="writes"'), 0)
        if SHARED:  # the worker's pool stays, whoever comes and goes
            self.assertEqual(self.tandem.metric_sum("zdm_origin_connections_total"), before_conns)
        else:
            self.assertEqual(self.tandem.metric_sum("zdm_origin_connections_total"), 0)  # the client left
        self.assertGreaterEqual(self.tandem.metric("zdm_pscache_entries_total"), 1)  # the PREPARE above
        self.assertEqual(self.tandem.http("/nowhere")[0], 404)


class authentication(base):
    # Both clusters authenticate: the client logs in with target's credentials, tandem logs
    # into origin with origin_username/password (§2.4).
    origin_auth = ("olduser", "oldpass")
    target_auth = ("newuser", "newpass")

    def test_client_uses_target_credentials(self):
        self.write_as("newuser", "newpass", "auth")

    def test_wrong_credentials_are_refused_with_the_clusters_message(self):
        with self.assertRaises(NoHostAvailable) as e:
            self.tandem.connect(auth_provider=PlainTextAuthProvider("newuser", "wrong"))
        self.assertIn("AuthenticationFailed", repr(e.exception.errors))
        self.assertIn("newuser", repr(e.exception.errors))

    def test_no_credentials(self):
        with self.assertRaises(NoHostAvailable):
            self.tandem.connect()


class node_failures(base):
    # Origin lists three nodes, two of which refuse connections (ZDM #90: a dead node in
    # system.peers stalls new clients for up to 30 s).
    origin_nodes, origin_dead = 3, 2

    def test_dead_nodes_do_not_stall_new_connections(self):
        for i in range(6):
            t0 = time.time()
            c, s = self.tandem.connect()
            try:
                s.execute(KS)
                s.execute(TABLE)
                s.execute("INSERT INTO app.kv (k, v) VALUES (%d, 'alive')" % i)
            finally:
                c.shutdown()
            self.assertLess(time.time() - t0, 3.0)
        self.assertEqual(len([r for r in self.origin.execute("SELECT v FROM app.kv") if r.v == "alive"]), 6)

    def test_a_node_reported_down_gets_no_new_connections(self):
        # Target has two live nodes; node 2 goes down (cqlsim announces STATUS_CHANGE DOWN and
        # closes every connection that talks to it).
        self.target.execute("UPDATE cqlsim.nodes SET up = false WHERE node = 2")
        try:
            self.tandem.proc.wait_for("target node 127.0.2.2:%d is DOWN" % self.target.port, timeout=10)
            for i in range(6):
                c, s = self.tandem.connect()
                try:
                    s.execute(KS)
                    s.execute(TABLE)
                    s.execute("INSERT INTO app.kv (k, v) VALUES (%d, 'skip the down node')" % (100 + i))
                finally:
                    c.shutdown()
        finally:
            self.target.execute("UPDATE cqlsim.nodes SET up = true WHERE node = 2")
        self.tandem.proc.wait_for("target node 127.0.2.2:%d is UP" % self.target.port, timeout=10)


class primary_target_at_start(base):
    settings = {"primary_cluster": "TARGET"}

    def test_reads_come_from_target_writes_go_to_both(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            s.execute("INSERT INTO app.kv (k, v) VALUES (1, 'x')")
            marker = "pt-%s" % uuid.uuid4().hex[:8]
            read = s.prepare("SELECT v FROM app.kv WHERE k = ? /* %s */" % marker)
            self.assertEqual(s.execute(read, (1,)).one().v, "x")
        finally:
            c.shutdown()
        self.assertEqual([r for r in self.origin.requests(marker) if r.startswith("SELECT")],
                         ["SELECT v FROM app.kv WHERE k = ? /* %s */" % marker] * PREPARES)  # PREPARE only
        self.assertEqual(len(self.target.requests(marker)), PREPARES + 1)  # PREPARE and EXECUTE
        for cl in (self.origin, self.target):
            self.assertEqual(len(cl.execute("SELECT * FROM app.kv WHERE k = 1")), 1)


class consistency_overrides(base):
    settings = {"target_consistency_level": "LOCAL_ONE", "read_mode": "DUAL_ASYNC_ON_SECONDARY"}

    def levels(self, cluster, marker):
        rows = cluster.execute("SELECT opcode, statement, consistency FROM cqlsim.requests")
        return sorted((r.opcode, r.consistency, r.statement) for r in rows if marker in (r.statement or ""))

    def test_target_gets_its_level_origin_the_clients(self):
        from cassandra import ConsistencyLevel
        c, s = self.tandem.connect()
        marker = "cl-%s" % uuid.uuid4().hex[:8]
        try:
            s.execute(KS)
            s.execute(TABLE)
            s.execute(SimpleStatement("INSERT INTO app.kv (k, v) VALUES (1, 'a') /* %s */" % marker,
                                      consistency_level=ConsistencyLevel.QUORUM))
            ins = s.prepare("INSERT INTO app.kv (k, v) VALUES (?, ?) /* %s */" % marker)
            ins.consistency_level = ConsistencyLevel.QUORUM
            s.execute(ins, (2, "b"))
            b = BatchStatement(consistency_level=ConsistencyLevel.ALL)
            b.add(ins, (3, "c"))
            s.execute(b)
            # A conditional write: its serial level is untouched, its commit level overridden.
            lwt = SimpleStatement("INSERT INTO app.kv (k, v) VALUES (4, 'd') IF NOT EXISTS /* %s */" % marker,
                                  consistency_level=ConsistencyLevel.QUORUM, serial_consistency_level=ConsistencyLevel.SERIAL)
            s.execute(lwt)
            # A read mirrored to target (async dual reads, once the session's async connection is
            # up) carries target's level too.
            read = SimpleStatement("SELECT v FROM app.kv WHERE k = 1 /* %s */" % marker, consistency_level=ConsistencyLevel.QUORUM)
            deadline = time.time() + 10
            while True:
                self.assertEqual(s.execute(read).one().v, "a")
                if any(op == "QUERY" and "SELECT" in st for op, _, st in self.levels(self.target, marker)) or time.time() > deadline:
                    break
                time.sleep(0.2)
        finally:
            c.shutdown()
        origin, target = self.levels(self.origin, marker), self.levels(self.target, marker)
        reads = len([1 for op, _, st in origin if st.startswith("SELECT")])
        self.assertEqual({cl for op, cl, _ in origin if op != "PREPARE"}, {"ALL", "QUORUM"}, origin)
        self.assertEqual(len([1 for op, cl, _ in origin if op != "PREPARE"]), 4 + reads)
        self.assertGreaterEqual(len([1 for op, _, st in target if st.startswith("SELECT")]), 1, target)
        self.assertEqual({cl for op, cl, _ in target if op != "PREPARE"}, {"LOCAL_ONE"}, target)


class write_timestamps(base):
    def test_a_healed_write_keeps_the_body_tandem_timestamped(self):
        # The same prepared ids on both clusters: without a client timestamp both are sent one
        # body (kept once), re-sent to the target when it heals.
        self.lose_and_heal(False, 720)
        self.lose_and_heal(True, 722)

    def test_a_write_without_a_client_timestamp_has_the_same_writetime_on_both(self):
        c, s = self.tandem.connect()
        try:
            s.use_client_timestamp = False  # as cqlsh and some drivers' settings do
            s.execute(KS)
            s.execute(TABLE)
            ins = s.prepare("INSERT INTO app.kv (k, v) VALUES (?, ?)")
            for k in range(700, 710):
                s.execute(ins, (k, "no client timestamp"))
            s.execute("INSERT INTO app.kv (k, v) VALUES (710, 'simple')")
            b = BatchStatement()
            b.add(ins, (711, "batched"))
            s.execute(b)
            s.use_client_timestamp = True
            s.execute("INSERT INTO app.kv (k, v) VALUES (712, 'with a client timestamp')")
        finally:
            c.shutdown()
        times = {}
        for cl in (self.origin, self.target):
            times[cl.name] = {r.k: r.wt for r in cl.execute("SELECT k, writetime(v) AS wt FROM app.kv") if 700 <= r.k <= 712}
        self.assertEqual(len(times["origin"]), 13)
        self.assertEqual(times["origin"], times["target"], "each cell has the same write time on both clusters")
        self.assertEqual(len(set(times["origin"].values())), 13, "tandem never hands out one timestamp twice")
        now_us = time.time() * 1e6
        self.assertTrue(all(abs(t - now_us) < 60e6 for t in times["origin"].values()))


class dual_read_comparison(base):
    settings = {"read_mode": "DUAL_ASYNC_ON_SECONDARY"}

    def test_a_mirror_the_secondary_forgot_is_prepared_there_again(self):
        # R4.14: the secondary answers a mirrored EXECUTE with UNPREPARED (it restarted): tandem
        # prepares the statement there again, and the next mirrors succeed.
        c, s = self.tandem.connect()
        marker = "re-%s" % uuid.uuid4().hex[:8]
        try:
            s.execute(KS)
            s.execute(TABLE)
            sel = s.prepare("SELECT v FROM app.kv WHERE k = ? /* %s */" % marker)
            s.execute(sel, (1,))
            time.sleep(0.3)  # the async connection, when it is the session's own
            self.target.execute("TRUNCATE cqlsim.prepared")  # as if target restarted
            failed = self.tandem.metric('zdm_tandem_async_reads_total{outcome="failed"}')
            s.execute(sel, (1,))  # its mirror: UNPREPARED
            deadline = time.time() + 5
            while self.tandem.metric('zdm_tandem_async_reads_total{outcome="failed"}') == failed and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(self.tandem.metric('zdm_tandem_async_reads_total{outcome="failed"}'), failed + 1)
            time.sleep(0.3)  # the PREPARE tandem sent
            ok = self.tandem.metric('zdm_tandem_async_reads_total{outcome="ok"}')
            for _ in range(5):
                s.execute(sel, (1,))
            deadline = time.time() + 5
            while self.tandem.metric('zdm_tandem_async_reads_total{outcome="ok"}') < ok + 5 and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(self.tandem.metric('zdm_tandem_async_reads_total{outcome="failed"}'), failed + 1)
            self.assertEqual(self.tandem.metric('zdm_tandem_async_reads_total{outcome="ok"}'), ok + 5)
        finally:
            c.shutdown()

    def test_the_secondary_result_is_compared_per_table(self):
        label = 'keyspace="app",table="cmp"'
        outcomes = ("match", "mismatch", "not_compared", "secondary_error")

        def counts():
            return {o: self.tandem.metric_sum("zdm_tandem_dual_reads_total", label + ',outcome="%s"' % o) for o in outcomes}

        def settle(total):  # until the compares of the reads sent so far are counted
            deadline = time.time() + 10
            while sum(counts().values()) < total and time.time() < deadline:
                time.sleep(0.1)

        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute("CREATE TABLE IF NOT EXISTS app.cmp (k int PRIMARY KEY, v text)")
            # The first read opens the connection that mirrors reads (it is not mirrored itself;
            # with SHARED cluster connections the pool is there already, and it is).
            s.execute("SELECT v FROM app.cmp WHERE k = 1000")
            time.sleep(0.5)
            ins = s.prepare("INSERT INTO app.cmp (k, v) VALUES (?, ?)")
            for k in range(40):
                s.execute(ins, (k, "same %d" % k))
            # A first pass over the keys, not counted: a node that missed a PREPARE (its connection
            # was still opening) answers UNPREPARED once and is prepared again; that is another test's.
            sel = s.prepare("SELECT k, v FROM app.cmp WHERE k = ?")
            for k in range(40):
                s.execute(sel, (k,))
            settle(40 + (1 if SHARED else 0))
            before = counts()
            # Paging: pages after the first carry the primary's paging state: not compared (the
            # first of the three pages is: a match).
            rows = list(s.execute(SimpleStatement("SELECT * FROM app.cmp", fetch_size=15)))
            self.assertEqual(len(rows), 40)
            for k in (11, 23, 37):  # the target drifts on three keys
                self.target.execute("UPDATE app.cmp SET v = 'drifted' WHERE k = %d" % k)
            for k in range(40):
                self.assertEqual(s.execute(sel, (k,)).one().v, "same %d" % k, "the client reads the primary")
            s.execute("SELECT v FROM app.cmp WHERE k = 5")  # a simple statement is compared too
            with self.assertRaises(InvalidRequest):
                s.execute("INSERT INTO app.nowhere (k) VALUES (1)")
        finally:
            c.shutdown()
        settle(sum(before.values()) + 3 + 40 + 1)
        after = counts()
        delta = {o: after[o] - before[o] for o in outcomes}
        _, text = self.tandem.http("/metrics")
        seen = "%s\n%s" % (delta, "\n".join(l for l in text.splitlines() if "async_reads_total{" in l or "unprepared_healed" in l))
        self.assertEqual(delta, {"match": 1 + 37 + 1, "mismatch": 3, "not_compared": 2, "secondary_error": 0}, seen)
        line = self.tandem.proc.wait_for("dual read mismatch on app.cmp")
        # The log names the key of a drifted row (11, 23 or 37: one line per second at most).
        self.assertRegex(line, r"key: 0x000000(0b|17|25)\b")
        self.assertIn("the primary returned 1 rows, the secondary 1", line)
        self.assertNotIn("drifted", line, "values are not logged unless dual_read_log_values is set")
        # Per-table series: requests, latency and failures by the cluster that failed.
        self.assertGreaterEqual(self.tandem.metric_sum("zdm_tandem_table_requests_total", label), 40 + 40 + 1)
        self.assertGreaterEqual(self.tandem.metric_sum("zdm_tandem_table_request_duration_seconds_count", label), 81)
        self.assertEqual(self.tandem.metric_sum("zdm_tandem_table_failed_requests_total", label), 0)
        self.assertEqual(self.tandem.metric_sum("zdm_tandem_table_failed_requests_total",
                                                'keyspace="app",table="nowhere",cluster="origin"'), 1)


class credentials_forwarded_to_origin(base):
    origin_auth = ("olduser", "oldpass")
    target_auth = ("newuser", "newpass")
    settings = {"forward_client_credentials_to_origin": True}

    def test_client_uses_origin_credentials(self):
        self.write_as("olduser", "oldpass", "fcco")
        with self.assertRaises(NoHostAvailable):
            self.tandem.connect(auth_provider=PlainTextAuthProvider("newuser", "newpass"))


class origin_is_cassandra_311(base):
    origin_extra = ("--cassandra-version", "3.11")  # protocol v3-v4 only

    def test_driver_downgrades_to_a_version_both_clusters_speak(self):
        c, s = self.tandem.connect()
        try:
            self.assertEqual(c.protocol_version, 4)
            s.execute(KS)
            s.execute(TABLE)
            s.execute("INSERT INTO app.kv (k, v) VALUES (1, 'v4')")
        finally:
            c.shutdown()
        c, s = self.tandem.connect(protocol_version=3)
        try:
            self.assertEqual(s.execute("SELECT v FROM app.kv WHERE k = 1").one().v, "v4")
        finally:
            c.shutdown()
        self.assertEqual(len(self.target.execute("SELECT * FROM app.kv WHERE k = 1")), 1)


class three_instances(unittest.TestCase):
    """Three tandem instances on 127.0.0.1-3 with one proxy_topology_addresses list: the driver
    sees them as a 3-node cluster and spreads its requests over them (R6.1-R6.5)."""

    def test_driver_discovers_and_uses_every_instance(self):
        origin = h.cluster(CQLSIM, "origin", "127.0.1.1")
        target = h.cluster(CQLSIM, "target", "127.0.2.1")
        port = h.free_port("127.0.0.1")
        addresses = "127.0.0.1,127.0.0.2,127.0.0.3"
        instances = []
        try:
            for i in range(3):
                instances.append(h.tandem(TANDEM, origin, target, settings={
                    "proxy_listen_address": "127.0.0.%d" % (i + 1), "proxy_listen_port": port,
                    "proxy_topology_addresses": addresses, "proxy_topology_index": i}))
            from cassandra.cluster import Cluster
            c = Cluster(["127.0.0.1"], port=port)
            s = c.connect()
            try:
                hosts = sorted(str(x.address) for x in c.metadata.all_hosts())
                self.assertEqual(hosts, ["127.0.0.1", "127.0.0.2", "127.0.0.3"])
                peers = sorted(str(r.peer) for r in s.execute("SELECT peer FROM system.peers"))
                self.assertEqual(len(peers), 2)
                self.assertEqual(len(c.metadata.token_map.ring), 24)  # 8 tokens per instance
                s.execute(KS)
                s.execute(TABLE)
                ins = s.prepare("INSERT INTO app.kv (k, v) VALUES (?, 'spread')")
                for k in range(90):
                    s.execute(ins, (k,))
            finally:
                c.shutdown()
            served = [t.metric("zdm_tandem_requests_total") for t in instances]
            self.assertTrue(all(n > 0 for n in served), served)
            self.assertEqual(len(target.execute("SELECT * FROM app.kv")), 90)
        finally:
            for t in instances:
                t.stop()
            origin.stop()
            target.stop()


class tls_everywhere(unittest.TestCase):
    """TLS between the client and tandem (client certificates required) and between tandem and
    both clusters, control connections included (R1.26, R1.27)."""

    @classmethod
    def setUpClass(cls):
        cls.certs = h.make_certificates(os.path.join("/tmp", "tandem-tls-%s" % uuid.uuid4().hex[:8]))
        cls.origin = h.cluster(CQLSIM, "origin", "127.0.1.1", certs=cls.certs)
        cls.target = h.cluster(CQLSIM, "target", "127.0.2.1", certs=cls.certs)
        cls.tandem = h.tandem(TANDEM, cls.origin, cls.target, settings={
            "proxy_tls_ca_path": cls.certs["ca.pem"], "proxy_tls_cert_path": cls.certs["server.pem"],
            "proxy_tls_key_path": cls.certs["server.key"], "proxy_tls_require_client_auth": True})

    @classmethod
    def tearDownClass(cls):
        rc = cls.tandem.stop()
        cls.origin.stop()
        cls.target.stop()
        __import__("shutil").rmtree(os.path.dirname(cls.certs["ca.pem"]), ignore_errors=True)
        assert rc == 0, cls.tandem.proc.output()[-3000:]

    def test_writes_reach_both_clusters_over_tls(self):
        c, s = self.tandem.connect(ssl_context=h.client_ssl_context(self.certs))
        try:
            s.execute(KS)
            s.execute(TABLE)
            ps = s.prepare("INSERT INTO app.kv (k, v) VALUES (?, ?)")
            for k in range(20):
                s.execute(ps, (k, "tls"))
            self.assertEqual(s.execute("SELECT v FROM app.kv WHERE k = 7").one().v, "tls")
        finally:
            c.shutdown()
        for cl in (self.origin, self.target):
            self.assertEqual(len(cl.execute("SELECT * FROM app.kv")), 20, cl.name)

    def test_clients_without_a_certificate_or_without_tls_are_refused(self):
        with self.assertRaises(NoHostAvailable):
            self.tandem.connect(ssl_context=h.client_ssl_context(self.certs, with_client_certificate=False),
                                connect_timeout=3)
        with self.assertRaises(NoHostAvailable):
            self.tandem.connect(connect_timeout=3)


class astra_secure_connect_bundle(unittest.TestCase):
    """Origin is an Astra-like database reached through a secure connect bundle (R1.25): tandem
    reads the zip, asks the metadata service over mutual TLS, and reaches every node through the
    SNI proxy with the node's host id as the TLS server name."""

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join("/tmp", "tandem-astra-%s" % uuid.uuid4().hex[:8])
        cls.certs = h.make_certificates(cls.dir)
        cls.origin = h.cluster(CQLSIM, "origin", "127.0.1.1")
        cls.target = h.cluster(CQLSIM, "target", "127.0.2.1")
        cls.front = h.astra_front(cls.origin, cls.certs, cls.dir)
        cls.tandem = h.tandem(TANDEM, cls.origin, cls.target, workers=1, settings={
            "origin_contact_points": None, "origin_port": None,
            "origin_secure_connect_bundle_path": cls.front.bundle_path})

    @classmethod
    def tearDownClass(cls):
        rc = cls.tandem.stop()
        cls.front.stop()
        cls.origin.stop()
        cls.target.stop()
        __import__("shutil").rmtree(cls.dir, ignore_errors=True)
        assert rc == 0, cls.tandem.proc.output()[-3000:]

    def test_writes_reach_the_astra_cluster_through_its_sni_proxy(self):
        sessions = [self.tandem.connect() for _ in range(2)]
        try:
            s = sessions[0][1]
            s.execute(KS)
            s.execute(TABLE)
            ps = s.prepare("INSERT INTO app.kv (k, v) VALUES (?, ?)")
            for k in range(20):
                s.execute(ps, (k, "astra"))
            self.assertEqual(sessions[1][1].execute("SELECT v FROM app.kv WHERE k = 3").one().v, "astra")
            # The metrics' node label of an Astra node is its host id (R1.25); the client
            # connections were spread over both nodes.
            for host_id in self.front.nodes:
                self.assertGreater(self.tandem.metric_sum("zdm_origin_connections_total", host_id), 0, host_id)
        finally:
            for c, _ in sessions:
                c.shutdown()
        for cl in (self.origin, self.target):
            self.assertEqual(len(cl.execute("SELECT * FROM app.kv")), 20, cl.name)
        self.assertEqual(self.front.metadata_requests, 1)
        # Every origin connection (the control connection's too) went through the SNI proxy,
        # each naming a node by host id.
        self.assertEqual(set(self.front.sni_names), set(self.front.nodes))

    def test_bundle_errors_stop_start_up_with_exit_2(self):
        cases = [
            ({"origin_secure_connect_bundle_path": "/nonexistent/bundle.zip"}, "/nonexistent/bundle.zip"),
            ({"origin_secure_connect_bundle_path": self.front.bundle_path, "origin_local_datacenter": "dc1"},
             "origin_local_datacenter"),
            ({"origin_secure_connect_bundle_path": self.front.bundle_path, "origin_contact_points": "127.0.1.1"},
             "mutually exclusive"),
        ]
        for settings, expected in cases:
            env = dict(os.environ, ZDM_TARGET_CONTACT_POINTS="127.0.0.1",
                       **{"ZDM_" + k.upper(): v for k, v in settings.items()})
            p = subprocess.run([TANDEM], env=env, capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
            self.assertIn(expected, p.stdout + p.stderr)

    def test_an_unreachable_metadata_service_stops_start_up_naming_it(self):
        import json
        import zipfile
        closed = h.free_port("127.0.3.1")
        path = os.path.join(self.dir, "unreachable.zip")
        with zipfile.ZipFile(self.front.bundle_path) as src, zipfile.ZipFile(path, "w") as dst:
            for name in src.namelist():
                data = src.read(name)
                if name == "config.json":
                    data = json.dumps(dict(json.loads(data), port=closed)).encode()
                dst.writestr(name, data)
        env = dict(os.environ, ZDM_TARGET_CONTACT_POINTS="127.0.0.1", ZDM_ORIGIN_SECURE_CONNECT_BUNDLE_PATH=path,
                   ZDM_METRICS_PORT="0", ZDM_PROXY_LISTEN_PORT="0")
        p = subprocess.run([TANDEM], env=env, capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("https://127.0.3.1:%d/metadata" % closed, p.stdout + p.stderr)


class request_id_tracing(base):
    settings = {"tracing_enabled": True}
    target_extra = ("--prepared-id-salt", "target")

    def test_requests_get_an_id_logged_with_their_replies(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute(TABLE)
            ps = s.prepare("INSERT INTO app.kv (k, v) VALUES (?, 'traced')")
            s.execute(ps, (1,))
            s.execute(ps, (2,), custom_payload={"request-id": b"\x01\x02"})
        finally:
            c.shutdown()
        out = self.tandem.proc.output()
        self.assertIn("Request id 0102 (EXECUTE", out)  # a client's own id is kept
        self.assertRegex(out, r"Request id [0-9a-f]{32} \(EXECUTE")  # others get a fresh one
        self.assertRegex(out, r"Received response from (ORIGIN|TARGET) \(RESULT\) for request id 0102")
        for cl in (self.origin, self.target):
            self.assertEqual(len(cl.execute("SELECT * FROM app.kv")), 2, cl.name)


class now_replacement(base):
    settings = {"replace_cql_functions": True}

    def test_now_is_the_same_on_both_clusters(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute("CREATE TABLE IF NOT EXISTS app.events (k int PRIMARY KEY, at timeuuid)")
            s.execute("INSERT INTO app.events (k, at) VALUES (1, now())")
        finally:
            c.shutdown()
        o = self.origin.execute("SELECT at FROM app.events WHERE k = 1")[0].at
        t = self.target.execute("SELECT at FROM app.events WHERE k = 1")[0].at
        self.assertEqual(o, t)
        self.assertEqual(o.version, 1)

    def test_now_in_prepared_statements_and_batches(self):
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute("CREATE TABLE IF NOT EXISTS app.log (k int, at timeuuid, note text, PRIMARY KEY (k, at))")
            ins = s.prepare("INSERT INTO app.log (k, at, note) VALUES (?, now(), ?)")
            # The client sees its own two variables, partition key index included (R7.4).
            self.assertEqual([c.name for c in ins.column_metadata], ["k", "note"])
            self.assertEqual(ins.routing_key_indexes, [0])
            for i in range(3):
                s.execute(ins, (i, "positional %d" % i))
            named = s.prepare("INSERT INTO app.log (k, at, note) VALUES (:k, now(), :note)")
            self.assertEqual([c.name for c in named.column_metadata], ["k", "note"])
            s.execute(named, {"k": 10, "note": "named"})
            b = BatchStatement()
            b.add(ins, (20, "batch a"))
            b.add(ins, (21, "batch b"))
            s.execute(b)
        finally:
            c.shutdown()
        rows_o = sorted((r.k, r.at, r.note) for r in self.origin.execute("SELECT k, at, note FROM app.log"))
        rows_t = sorted((r.k, r.at, r.note) for r in self.target.execute("SELECT k, at, note FROM app.log"))
        self.assertEqual(len(rows_o), 6)
        self.assertEqual(rows_o, rows_t)  # every time-UUID identical on both clusters
        self.assertEqual(len({r[1] for r in rows_o if r[0] < 10}), 3)  # one fresh value per execution

    def test_uuid_and_the_time_functions_are_the_same_on_both_clusters(self):
        # Beyond ZDM (it replaces now() only): uuid(), currentTimeUUID(), currentTimestamp(),
        # currentDate() and currentTime() in simple, prepared and batched writes.
        import datetime
        calls = "uuid(), currentTimestamp(), currentDate(), currentTime(), currentTimeUUID()"
        c, s = self.tandem.connect()
        try:
            s.execute(KS)
            s.execute("CREATE TABLE IF NOT EXISTS app.f (k int PRIMARY KEY, id uuid, ts timestamp, d date, tm time, tu timeuuid)")
            s.execute("INSERT INTO app.f (k, id, ts, d, tm, tu) VALUES (1, %s)" % calls)
            ins = s.prepare("INSERT INTO app.f (k, id, ts, d, tm, tu) VALUES (?, %s)" % calls)
            self.assertEqual([m.name for m in ins.column_metadata], ["k"])
            s.execute(ins, (2,))
            b = BatchStatement()
            b.add(ins, (3,))
            b.add(SimpleStatement("INSERT INTO app.f (k, id, ts, d, tm, tu) VALUES (4, %s)" % calls))
            s.execute(b)
        finally:
            c.shutdown()
        query = "SELECT k, id, ts, d, tm, tu FROM app.f"
        rows_o = sorted(tuple(r) for r in self.origin.execute(query))
        rows_t = sorted(tuple(r) for r in self.target.execute(query))
        self.assertEqual([r[0] for r in rows_o], [1, 2, 3, 4])
        self.assertEqual(rows_o, rows_t)  # every value identical on both clusters
        now = datetime.datetime.utcnow()
        for k, id_, ts, d, tm, tu in rows_o:
            self.assertEqual(id_.version, 4, k)
            self.assertEqual(tu.version, 1, k)
            self.assertLess(abs((now - ts).total_seconds()), 60, k)
            self.assertIn(d.date(), (now.date(), (now - datetime.timedelta(minutes=1)).date()))
            self.assertGreater(tm.nanosecond_time, 0)
        self.assertEqual(len({r[1] for r in rows_o}), 4)  # a fresh uuid() per statement


ZDM_REFERENCE_YAML = """
primary_cluster: ORIGIN
read_mode: PRIMARY_ONLY
replace_cql_functions: false
async_handshake_timeout_ms: 4000
log_level: INFO
control_conn_max_protocol_version: DseV2
blocked_protocol_versions:
tracing_enabled: false
tracing_rate_limit: 0
tracing_request_id_key: request-id
system_queries_mode: ORIGIN
forward_client_credentials_to_origin: false
proxy_topology_index: 0
proxy_topology_addresses:
proxy_topology_num_tokens: 8
origin_contact_points: {origin}
origin_port: {origin_port}
origin_secure_connect_bundle_path:
origin_local_datacenter:
origin_username: cassandra
origin_password: secret
origin_connection_timeout_ms: 30000
origin_tls_server_ca_path:
origin_tls_client_cert_path:
origin_tls_client_key_path:
origin_enable_host_assignment: true
target_contact_points: {target}
target_port: {target_port}
target_secure_connect_bundle_path:
target_local_datacenter:
target_username: cassandra
target_password: secret
target_connection_timeout_ms: 30000
target_tls_server_ca_path:
target_tls_client_cert_path:
target_tls_client_key_path:
target_enable_host_assignment: true
proxy_listen_address: 127.0.0.1
proxy_listen_port: {port}
proxy_request_timeout_ms: 10000
proxy_max_client_connections: 1000
proxy_max_stream_ids: 2048
proxy_tls_ca_path:
proxy_tls_cert_path:
proxy_tls_key_path:
proxy_tls_require_client_auth: false
metrics_enabled: true
metrics_address: 127.0.0.1
metrics_port: {metrics_port}
metrics_prefix: zdm
metrics_origin_latency_buckets_ms: 1, 4, 7, 10, 25, 40, 60, 80, 100, 150, 250, 500, 1000, 2500, 5000, 10000, 15000
metrics_target_latency_buckets_ms: 1, 4, 7, 10, 25, 40, 60, 80, 100, 150, 250, 500, 1000, 2500, 5000, 10000, 15000
metrics_async_read_latency_buckets_ms: 1, 4, 7, 10, 25, 40, 60, 80, 100, 150, 250, 500, 1000, 2500, 5000, 10000, 15000
heartbeat_interval_ms: 30000
heartbeat_retry_interval_min_ms: 250
heartbeat_retry_interval_max_ms: 30000
heartbeat_retry_backoff_factor: 2
heartbeat_failure_threshold: 1
request_write_queue_size_frames: 128
request_write_buffer_size_bytes: 4096
request_read_buffer_size_bytes: 32768
response_write_queue_size_frames: 128
response_write_buffer_size_bytes: 8192
response_read_buffer_size_bytes: 32768
request_response_max_workers: -1
write_max_workers: -1
read_max_workers: -1
listener_max_workers: -1
event_queue_size_frames: 12
async_connector_write_queue_size_frames: 2048
async_connector_write_buffer_size_bytes: 4096
"""


def raw_frame(version, stream, opcode, body=b""):
    if version <= 2:
        return struct.pack(">BBbBI", version, 0, stream, opcode, len(body)) + body
    return struct.pack(">BBhBI", version, 0, stream, opcode, len(body)) + body


def read_frame(sock):
    head = b""
    while len(head) < 9:
        chunk = sock.recv(9 - len(head))
        if not chunk:
            raise EOFError
        head += chunk
    version, flags, stream, opcode, length = struct.unpack(">BBhBI", head)
    body = b""
    while len(body) < length:
        body += sock.recv(length - len(body))
    return version & 0x7F, stream, opcode, body


def error_text(body):
    code, n = struct.unpack(">iH", body[:6])
    return code, body[6:6 + n].decode()


STARTUP_V4 = struct.pack(">H", 1) + struct.pack(">H", 11) + b"CQL_VERSION" + struct.pack(">H", 5) + b"3.0.0"


class wire_rules(base):
    settings = {"blocked_protocol_versions": "v3"}

    def sock(self):
        s = socket.create_connection(("127.0.0.1", self.tandem.port), timeout=5)
        self.addCleanup(s.close)
        return s

    def test_unsupported_and_blocked_versions_get_the_text_drivers_parse(self):
        for version in (1, 6, 3):
            s = self.sock()
            s.sendall(raw_frame(version, 5, 5) if version != 1 else raw_frame(1, 5, 5))
            v, stream, op, body = read_frame(s)
            self.assertEqual((stream, op), (0, 0))  # stream 0 (R2.2)
            self.assertEqual(error_text(body), (0x000A, "Invalid or unsupported protocol version (%d)" % version))

    def test_a_request_split_at_every_byte(self):
        s = self.sock()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = raw_frame(4, 1, 1, STARTUP_V4) + raw_frame(4, 2, 5)
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
            time.sleep(0.001)
        self.assertEqual(read_frame(s)[1:3], (1, 0x02))  # READY
        self.assertEqual(read_frame(s)[1:3], (2, 0x06))  # SUPPORTED

    def test_negative_stream_and_unknown_prepared_id(self):
        s = self.sock()
        s.sendall(raw_frame(4, 1, 1, STARTUP_V4))
        self.assertEqual(read_frame(s)[2], 0x02)
        s.sendall(raw_frame(4, -3, 5))
        _, stream, op, body = read_frame(s)
        self.assertEqual(error_text(body), (0x000A, "negative stream id: -3"))
        bogus = bytes(range(16))
        s.sendall(raw_frame(4, 9, 0x0A, struct.pack(">H", 16) + bogus + struct.pack(">HB", 1, 0)))
        _, stream, op, body = read_frame(s)
        self.assertEqual(stream, 9)
        code, text = error_text(body)
        self.assertEqual(code, 0x2500)
        self.assertTrue(text.startswith("Prepared query with ID %s not found" % bogus.hex()), text)

    def test_a_stream_id_reused_while_in_flight_is_dropped(self):
        def query(stream, text):
            body = struct.pack(">I", len(text)) + text.encode() + struct.pack(">HB", 1, 0)
            return raw_frame(4, stream, 0x07, body)
        s = self.sock()
        s.sendall(raw_frame(4, 1, 1, STARTUP_V4))
        self.assertEqual(read_frame(s)[2], 0x02)
        s.sendall(query(2, KS))
        self.assertEqual(read_frame(s)[1], 2)
        s.sendall(query(3, TABLE))
        self.assertEqual(read_frame(s)[1], 3)
        self.origin.execute("INSERT INTO cqlsim.faults (node, kind, action, value) VALUES (-1, 'read', 'latency', 400)")
        s.sendall(query(5, "SELECT * FROM app.kv WHERE k = 1") + query(5, "SELECT * FROM app.kv WHERE k = 2"))
        self.assertEqual(read_frame(s)[1:3], (5, 0x08))  # one RESULT on stream 5 (R3.2)
        s.settimeout(1.0)
        with self.assertRaises(socket.timeout):
            read_frame(s)

    def test_garbage_closes_only_that_connection(self):
        bad = self.sock()
        bad.sendall(b"\x04\x00\x00\x01\xee\x00\x00\x00\x00")  # unknown opcode
        v, stream, op, body = read_frame(bad)
        self.assertEqual(op, 0)
        good = self.sock()
        good.sendall(raw_frame(4, 1, 1, STARTUP_V4))
        self.assertEqual(read_frame(good)[2], 0x02)


class settings_and_signals(unittest.TestCase):
    def test_bad_setting_names_the_key_and_exits_2(self):
        env = dict(os.environ, ZDM_PRIMARY_CLUSTER="SIDEWAYS", ZDM_ORIGIN_CONTACT_POINTS="127.0.0.1",
                   ZDM_TARGET_CONTACT_POINTS="127.0.0.1")
        p = subprocess.run([TANDEM], env=env, capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 2)
        self.assertIn("primary_cluster", (p.stdout + p.stderr).lower())

    def test_a_zdm_configuration_file_starts_tandem_unchanged(self):
        # Every key of ZDM Proxy's reference configuration, with its documented default, as a
        # ZDM user's file would have them (only the cluster addresses filled in).
        origin = h.cluster(CQLSIM, "origin", "127.0.1.1")
        target = h.cluster(CQLSIM, "target", "127.0.2.1")
        port = h.free_port()
        text = ZDM_REFERENCE_YAML.format(origin=origin.address, origin_port=origin.port, target=target.address,
                                         target_port=target.port, port=port, metrics_port=h.free_port())
        path = os.path.join("/tmp", "zdm-%s.yml" % uuid.uuid4().hex[:8])
        with open(path, "w") as f:
            f.write(text)
        proc = h.process([TANDEM, "-config", path], name="tandem")  # ZDM's one-dash spelling
        try:
            proc.wait_for("tandem: listening on", timeout=30)
            from cassandra.cluster import Cluster
            c = Cluster(["127.0.0.1"], port=port)
            s = c.connect()
            s.execute(KS)
            s.execute(TABLE)
            s.execute("INSERT INTO app.kv (k, v) VALUES (1, 'zdm yaml')")
            c.shutdown()
        finally:
            self.assertEqual(proc.stop(), 0)
            os.unlink(path)
            origin.stop()
            target.stop()
        self.assertNotIn("password: secret", proc.output())  # redacted in the start-up log

    def test_help_and_version(self):
        p = subprocess.run([TANDEM, "--help"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--config", p.stdout)
        p = subprocess.run([TANDEM, "-version"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0)
        self.assertIn("tandem version", p.stdout)

    def test_readiness_follows_the_control_connections(self):
        origin = h.cluster(CQLSIM, "origin", "127.0.1.1")
        target = h.cluster(CQLSIM, "target", "127.0.2.1")
        t = h.tandem(TANDEM, origin, target)
        try:
            self.assertEqual(t.http("/health/readiness")[0], 200)
            target.stop()
            deadline = time.time() + 10
            while t.http("/health/readiness")[0] == 200 and time.time() < deadline:
                time.sleep(0.1)
            status, body = t.http("/health/readiness")
            self.assertEqual(status, 503)
            ready = __import__("json").loads(body)
            self.assertEqual((ready["Status"], ready["TargetStatus"]["Status"], ready["OriginStatus"]["Status"]),
                             ("DOWN", "DOWN", "UP"))
            self.assertEqual(ready["TargetStatus"]["Addr"], "NOT_CONNECTED")
        finally:
            t.stop()
            origin.stop()
            target.stop()

    def test_an_unreachable_cluster_is_named_in_the_error(self):
        origin = h.cluster(CQLSIM, "origin", "127.0.1.1")
        target = h.cluster(CQLSIM, "target", "127.0.2.1")
        t = h.tandem(TANDEM, origin, target)
        try:
            target.stop()
            with self.assertRaises(NoHostAvailable) as e:
                t.connect()
            self.assertIn("cannot reach any target node", repr(e.exception.errors))
        finally:
            t.stop()
            origin.stop()
            target.stop()

    def test_max_client_connections(self):
        origin = h.cluster(CQLSIM, "origin", "127.0.1.1")
        target = h.cluster(CQLSIM, "target", "127.0.2.1")
        t = h.tandem(TANDEM, origin, target, settings={"proxy_max_client_connections": 2})
        socks = []
        try:
            for _ in range(2):
                s = socket.create_connection(("127.0.0.1", t.port), timeout=5)
                socks.append(s)
                s.sendall(raw_frame(4, 1, 1, STARTUP_V4))
                self.assertEqual(read_frame(s)[2], 0x02)
            third = socket.create_connection(("127.0.0.1", t.port), timeout=5)
            socks.append(third)
            third.sendall(raw_frame(4, 1, 1, STARTUP_V4))
            with self.assertRaises((EOFError, ConnectionResetError)):
                read_frame(third)  # closed without a reply (R1.21)
            t.proc.wait_for("proxy_max_client_connections (2) reached")
            socks[0].close()
            time.sleep(0.3)
            again = socket.create_connection(("127.0.0.1", t.port), timeout=5)
            socks.append(again)
            again.sendall(raw_frame(4, 1, 1, STARTUP_V4))
            self.assertEqual(read_frame(again)[2], 0x02)  # a slot was freed
        finally:
            for s in socks:
                s.close()
            t.stop()
            origin.stop()
            target.stop()

    def test_sigterm_finishes_in_flight_requests_and_exits_0(self):
        origin = h.cluster(CQLSIM, "origin", "127.0.1.1")
        target = h.cluster(CQLSIM, "target", "127.0.2.1")
        t = h.tandem(TANDEM, origin, target)
        try:
            c, s = t.connect()
            s.execute(KS)
            s.execute(TABLE)
            target.execute("INSERT INTO cqlsim.faults (node, kind, action, value) VALUES (-1, 'write', 'latency', 800)")
            f = s.execute_async("INSERT INTO app.kv (k, v) VALUES (1, 'in flight')")
            time.sleep(0.2)
            t.proc.signal(signal.SIGTERM)
            f.result()  # answered although the proxy is shutting down
            self.assertEqual(t.proc.proc.wait(timeout=15), 0)
            c.shutdown()
        finally:
            t.stop()
            origin.stop()
            target.stop()


if __name__ == "__main__":
    CQLSIM, TANDEM = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
