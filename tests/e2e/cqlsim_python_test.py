#!/usr/bin/python3
"""The DataStax Python driver (Debian python3-cassandra), default settings, against cqlsim.

Usage: cqlsim_python_test.py <path to cqlsim> [unittest args]
Each test class starts its own cqlsim on a free loopback port and stops it afterwards.
"""
import logging
import os
import socket
import subprocess
import sys
import time
import unittest

from cassandra import InvalidRequest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import BatchStatement, SimpleStatement

logging.basicConfig(level=logging.ERROR)
CQLSIM = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class cqlsim_process:
    def __init__(self, *args):
        self.port = free_port()
        self.proc = subprocess.Popen([CQLSIM, "--port", str(self.port), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        # Ready when every node has said it listens.
        nodes = int(args[args.index("--nodes") + 1]) if "--nodes" in args else 1
        seen = 0
        deadline = time.time() + 10
        while seen < nodes and time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("cqlsim exited early")
            if "listening on" in line:
                seen += 1

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def connect(port, **kw):
    cluster = Cluster(["127.0.0.1"], port=port, **kw)
    return cluster, cluster.connect()


class three_nodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = cqlsim_process("--nodes", "3")
        cls.cluster, cls.session = connect(cls.sim.port)
        cls.session.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
        cls.session.set_keyspace("ks")

    @classmethod
    def tearDownClass(cls):
        cls.cluster.shutdown()
        cls.sim.stop()

    def test_connects_with_v5_and_sees_every_node(self):
        self.assertEqual(self.cluster.protocol_version, 5)
        self.assertEqual(sorted(h.address for h in self.cluster.metadata.all_hosts()),
                         ["127.0.0.1", "127.0.0.2", "127.0.0.3"])
        self.assertIn("ks", self.cluster.metadata.keyspaces)

    def test_schema_metadata_and_agreement(self):
        self.session.execute("CREATE TABLE meta (k int, c text, s int static, v list<int>, PRIMARY KEY (k, c)) "
                             "WITH CLUSTERING ORDER BY (c DESC)")
        self.assertTrue(self.cluster.control_connection.wait_for_schema_agreement())
        t = self.cluster.metadata.keyspaces["ks"].tables["meta"]
        self.assertEqual([c.name for c in t.partition_key], ["k"])
        self.assertEqual([c.name for c in t.clustering_key], ["c"])
        self.assertEqual(t.columns["v"].cql_type, "list<int>")
        self.assertTrue(t.columns["s"].is_static)

    def test_prepared_writes_and_reads(self):
        self.session.execute("CREATE TABLE kv (k int, c int, v text, PRIMARY KEY (k, c))")
        ins = self.session.prepare("INSERT INTO kv (k, c, v) VALUES (?, ?, ?)")
        self.assertEqual(ins.routing_key_indexes, [0])
        for i in range(50):
            self.session.execute(ins, (i % 5, i, "v%d" % i))
        sel = self.session.prepare("SELECT v FROM kv WHERE k = ? AND c = ?")
        self.assertEqual(self.session.execute(sel, (3, 13)).one().v, "v13")
        rows = list(self.session.execute("SELECT c FROM kv WHERE k = 3 AND c > 20 AND c <= 38"))
        self.assertEqual([r.c for r in rows], [23, 28, 33, 38])
        self.assertEqual(self.session.execute("SELECT count(*) FROM kv").one().count, 50)

    def test_paging_over_ten_thousand_rows(self):
        self.session.execute("CREATE TABLE big (k int, c int, v text, PRIMARY KEY (k, c))")
        ins = self.session.prepare("INSERT INTO big (k, c, v) VALUES (?, ?, ?)")
        execute_concurrent_with_args(self.session, ins, [(1, i, "x") for i in range(10000)], concurrency=64)
        rows = list(self.session.execute(SimpleStatement("SELECT c FROM big WHERE k = 1", fetch_size=999)))
        self.assertEqual([r.c for r in rows], list(range(10000)))

    def test_lightweight_transactions(self):
        self.session.execute("CREATE TABLE lwt (k int PRIMARY KEY, v int)")
        self.assertTrue(self.session.execute("INSERT INTO lwt (k, v) VALUES (1, 1) IF NOT EXISTS").one().applied)
        second = self.session.execute("INSERT INTO lwt (k, v) VALUES (1, 2) IF NOT EXISTS").one()
        self.assertFalse(second.applied)
        self.assertEqual(second.v, 1)
        self.assertTrue(self.session.execute("UPDATE lwt SET v = 3 WHERE k = 1 IF v = 1").one().applied)
        self.assertFalse(self.session.execute("UPDATE lwt SET v = 4 WHERE k = 1 IF v = 1").one().applied)

    def test_timestamps_ttl_and_deletes(self):
        self.session.execute("CREATE TABLE tt (k int PRIMARY KEY, v int)")
        self.session.execute("INSERT INTO tt (k, v) VALUES (1, 10) USING TIMESTAMP 1000")
        self.session.execute("INSERT INTO tt (k, v) VALUES (1, 20) USING TIMESTAMP 999")  # older: loses
        self.assertEqual(self.session.execute("SELECT v, writetime(v) FROM tt WHERE k = 1").one(), (10, 1000))
        self.session.execute("DELETE FROM tt USING TIMESTAMP 998 WHERE k = 1")  # older delete: no effect
        self.assertEqual(self.session.execute("SELECT v FROM tt WHERE k = 1").one().v, 10)
        self.session.execute("DELETE FROM tt WHERE k = 1")
        self.assertIsNone(self.session.execute("SELECT v FROM tt WHERE k = 1").one())
        self.session.execute("INSERT INTO tt (k, v) VALUES (2, 5) USING TTL 1")
        self.assertEqual(self.session.execute("SELECT ttl(v) FROM tt WHERE k = 2").one()[0], 1)
        time.sleep(1.5)
        self.assertIsNone(self.session.execute("SELECT v FROM tt WHERE k = 2").one())

    def test_counters_collections_batches(self):
        self.session.execute("CREATE TABLE cnt (k int PRIMARY KEY, n counter)")
        self.session.execute("UPDATE cnt SET n = n + 5 WHERE k = 1")
        self.session.execute("UPDATE cnt SET n = n - 2 WHERE k = 1")
        self.assertEqual(self.session.execute("SELECT n FROM cnt WHERE k = 1").one().n, 3)
        self.session.execute("CREATE TABLE col (k int PRIMARY KEY, s set<text>, l list<int>, m map<text, int>)")
        self.session.execute("INSERT INTO col (k, s, l, m) VALUES (1, {'a'}, [1], {'x': 1})")
        self.session.execute("UPDATE col SET s = s + {'b'}, l = l + [2], m = m + {'y': 2} WHERE k = 1")
        row = self.session.execute("SELECT s, l, m FROM col WHERE k = 1").one()
        self.assertEqual((set(row.s), list(row.l), dict(row.m)), ({"a", "b"}, [1, 2], {"x": 1, "y": 2}))
        self.session.execute("CREATE TABLE bt (k int, c int, v text, PRIMARY KEY (k, c))")
        ins = self.session.prepare("INSERT INTO bt (k, c, v) VALUES (?, ?, ?)")
        b = BatchStatement()
        b.add(ins, (1, 1, "prepared"))
        b.add(SimpleStatement("INSERT INTO bt (k, c, v) VALUES (1, 2, 'simple')"))
        self.session.execute(b)
        self.assertEqual([tuple(r) for r in self.session.execute("SELECT c, v FROM bt WHERE k = 1")],
                         [(1, "prepared"), (2, "simple")])

    def test_token_aware_routing_reaches_every_node(self):
        self.session.execute("CREATE TABLE spread (k int PRIMARY KEY, v int)")
        ins = self.session.prepare("INSERT INTO spread (k, v) VALUES (?, ?)")
        for i in range(300):
            self.session.execute(ins, (i, i))
        per_node = []
        for node in (1, 2, 3):
            rows = self.session.execute(
                "SELECT statement FROM cqlsim.requests WHERE node = %s" % node)
            per_node.append(sum(1 for r in rows if r.statement.startswith("INSERT INTO spread")))
        self.assertTrue(all(n > 0 for n in per_node), per_node)
        self.assertEqual(sum(per_node), 300 + 3)  # each EXECUTE once, plus a PREPARE per node

    def test_user_defined_types(self):
        self.session.execute("CREATE TYPE address (street text, zip int)")
        self.session.execute("CREATE TABLE people (name text PRIMARY KEY, home frozen<address>)")
        self.session.execute("INSERT INTO people (name, home) VALUES ('ada', {street: 'Main St', zip: 12345})")
        home = self.session.execute("SELECT home FROM people WHERE name = 'ada'").one().home
        self.assertEqual((home.street, home.zip), ("Main St", 12345))
        self.assertIn("address", self.cluster.metadata.keyspaces["ks"].user_types)

    def test_reconnects_after_a_node_restarts(self):
        host3 = next(h for h in self.cluster.metadata.all_hosts() if h.address == "127.0.0.3")
        self.session.execute("UPDATE cqlsim.nodes SET up = false WHERE node = 3")
        deadline = time.time() + 10
        while time.time() < deadline and host3.is_up:  # traffic keeps flowing through the others
            self.session.execute("SELECT release_version FROM system.local")
        self.assertFalse(host3.is_up)  # the driver saw the node go
        self.session.execute("UPDATE cqlsim.nodes SET up = true WHERE node = 3")
        deadline = time.time() + 20
        while time.time() < deadline and not host3.is_up:
            time.sleep(0.2)
        self.assertTrue(host3.is_up)
        self.session.execute("SELECT release_version FROM system.local")

    def test_errors_like_cassandra(self):
        with self.assertRaisesRegex(InvalidRequest, "unconfigured table nope"):
            self.session.execute("SELECT * FROM nope")
        with self.assertRaisesRegex(InvalidRequest, "Undefined column name zz"):
            self.session.execute("CREATE TABLE IF NOT EXISTS e (k int PRIMARY KEY)")
            self.session.execute("SELECT zz FROM e")
        from cassandra.protocol import SyntaxException
        with self.assertRaises(SyntaxException):
            self.session.execute("SELEKT * FROM e")


class faults_and_log(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = cqlsim_process("--nodes", "2")
        from cassandra.policies import WhiteListRoundRobinPolicy
        from cassandra.cluster import ExecutionProfile, EXEC_PROFILE_DEFAULT
        # Everything through node 2, so node 1 can be taken down under a live session.
        profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.0.2"]), request_timeout=2)
        cls.cluster = Cluster(["127.0.0.2"], port=cls.sim.port, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        cls.session = cls.cluster.connect()
        cls.session.execute("CREATE KEYSPACE f WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
        cls.session.execute("CREATE TABLE f.t (k int PRIMARY KEY, v int)")

    @classmethod
    def tearDownClass(cls):
        cls.cluster.shutdown()
        cls.sim.stop()

    def tearDown(self):
        self.session.execute("TRUNCATE cqlsim.faults")

    def test_request_log_records_what_each_node_got(self):
        ins = self.session.prepare("INSERT INTO f.t (k, v) VALUES (?, ?)")
        self.session.execute(ins, (1, 1))
        rows = list(self.session.execute("SELECT opcode, statement, consistency, client_timestamp FROM cqlsim.requests WHERE node = 2"))
        executes = [r for r in rows if r.opcode == "EXECUTE"]
        self.assertEqual(executes[-1].statement, "INSERT INTO f.t (k, v) VALUES (?, ?)")
        self.assertEqual(executes[-1].consistency, "LOCAL_ONE")
        self.assertIsNotNone(executes[-1].client_timestamp)
        # The driver's metadata queries stay out of the log.
        self.assertFalse(any("system" in r.statement for r in rows))

    def test_injected_errors_latency_and_drops(self):
        from cassandra import WriteTimeout, OperationTimedOut
        self.session.execute("INSERT INTO cqlsim.faults (node, kind, action) VALUES (-1, 'write', 'write_timeout')")
        with self.assertRaises(WriteTimeout):
            self.session.execute("INSERT INTO f.t (k, v) VALUES (2, 2)")
        self.assertIsNone(self.session.execute("SELECT v FROM f.t WHERE k = 2").one())  # not applied; reads work
        self.session.execute("TRUNCATE cqlsim.faults")
        self.session.execute("INSERT INTO f.t (k, v) VALUES (2, 2)")
        self.session.execute("INSERT INTO cqlsim.faults (node, kind, action, value) VALUES (2, 'read', 'latency', 300)")
        start = time.time()
        self.assertEqual(self.session.execute("SELECT v FROM f.t WHERE k = 2").one().v, 2)
        self.assertGreaterEqual(time.time() - start, 0.3)
        self.session.execute("INSERT INTO cqlsim.faults (node, kind, action) VALUES (2, 'read', 'drop')")
        with self.assertRaises(OperationTimedOut):
            self.session.execute("SELECT v FROM f.t WHERE k = 2", timeout=0.5)

    def test_node_down_drops_its_connections(self):
        import struct
        options = struct.pack(">BBhBi", 4, 0, 1, 5, 0)  # OPTIONS, v4, stream 1
        def ask(addr):
            with socket.create_connection((addr, self.sim.port), timeout=2) as s:
                s.sendall(options)
                return s.recv(9)
        self.assertEqual(ask("127.0.0.1")[4], 0x06)  # SUPPORTED
        self.session.execute("UPDATE cqlsim.nodes SET up = false WHERE node = 1")
        self.assertEqual(ask("127.0.0.1"), b"")  # closed without a reply
        self.assertEqual(ask("127.0.0.2")[4], 0x06)
        self.session.execute("UPDATE cqlsim.nodes SET up = true WHERE node = 1")
        self.assertEqual(ask("127.0.0.1")[4], 0x06)


class cassandra_311(unittest.TestCase):
    def test_protocol_v3(self):
        sim = cqlsim_process()
        try:
            cluster, session = connect(sim.port, protocol_version=3)
            self.assertEqual(cluster.protocol_version, 3)
            session.execute("CREATE KEYSPACE v3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
            session.execute("CREATE TABLE v3.t (k int PRIMARY KEY, v text)")
            session.execute(session.prepare("INSERT INTO v3.t (k, v) VALUES (?, ?)"), (1, "three"))
            self.assertEqual(session.execute("SELECT v FROM v3.t WHERE k = 1").one().v, "three")
            cluster.shutdown()
        finally:
            sim.stop()

    def test_downgrades_to_v4(self):
        sim = cqlsim_process("--cassandra-version", "3.11")
        try:
            cluster, session = connect(sim.port)
            self.assertEqual(cluster.protocol_version, 4)
            self.assertEqual(session.execute("SELECT release_version FROM system.local").one()[0][:4], "3.11")
            cluster.shutdown()
        finally:
            sim.stop()


class authentication(unittest.TestCase):
    def test_password_authenticator(self):
        sim = cqlsim_process("--auth", "alice:secret")
        try:
            cluster, session = connect(sim.port, auth_provider=PlainTextAuthProvider("alice", "secret"))
            self.assertEqual(session.execute("SELECT cluster_name FROM system.local").one()[0], "cqlsim")
            cluster.shutdown()
            with self.assertRaises(NoHostAvailable) as ctx:
                connect(sim.port, auth_provider=PlainTextAuthProvider("alice", "wrong"))
            self.assertIn("and/or password are incorrect", str(ctx.exception))
        finally:
            sim.stop()


if __name__ == "__main__":
    CQLSIM = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
