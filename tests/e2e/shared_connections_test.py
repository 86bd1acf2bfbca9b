#!/usr/bin/python3
"""cluster_connections SHARED end to end: tandem in front of two 3-node cqlsim clusters.

Token-aware routing (each prepared write at its key's owner on both clusters, checked against
the Python driver's own token map), the bound on cluster connections with 1,000 clients, a node
stopped and its keys going to the next replica, keyspaces per client (USE), and logins checked
by the cluster when it authenticates.

Usage: shared_connections_test.py CQLSIM TANDEM
"""
import os
import resource
import socket
import struct
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tandem_harness as h  # noqa: E402

CQLSIM = TANDEM = None
WORKERS = 2
PER_NODE = 2


def frame(stream, opcode, body=b"", version=4):
    if version < 3:  # v1/v2 headers: a one-byte stream id
        return struct.pack(">BBbBi", version, 0, stream, opcode, len(body)) + body
    return struct.pack(">BBhBi", version, 0, stream, opcode, len(body)) + body


def read_frame(s, version=4):
    size = 8 if version < 3 else 9
    head = b""
    while len(head) < size:
        chunk = s.recv(size - len(head))
        if not chunk:
            raise ConnectionError("closed")
        head += chunk
    version, flags, stream, opcode, length = struct.unpack(">BBbBi" if size == 8 else ">BBhBi", head)
    body = b""
    while len(body) < length:
        body += s.recv(length - len(body))
    return stream, opcode, body


STARTUP = struct.pack(">H", 1) + struct.pack(">H", 11) + b"CQL_VERSION" + struct.pack(">H", 5) + b"3.0.0"


def node_of(address, base):
    """cqlsim's node number of an address (node 1 listens on the base address)."""
    return int(address.rsplit(".", 1)[1]) - int(base.rsplit(".", 1)[1]) + 1


def composite(*parts):
    """A composite partition key's routing key, as Cassandra builds it: per component a short
    length, the bytes, a 0 byte."""
    return b"".join(struct.pack(">H", len(p)) + p + b"\x00" for p in parts)


def where_written(cluster, base, ks, keys, base_ts, routing_key=lambda k: struct.pack(">i", k), table="kv"):
    """For each key of `keys` written with client timestamp base_ts + key: its replicas on
    `cluster` by the Python driver's token map (node numbers, owner first), and the node that
    logged its EXECUTE (cqlsim.requests)."""
    dc, ds = cluster.session()
    try:
        tm = dc.metadata.token_map
        replicas = {}
        for k in keys:
            token = tm.token_class.from_key(routing_key(k))
            replicas[k] = [node_of(r.address, base) for r in tm.get_replicas(ks, token)]
        seen = {}
        for r in ds.execute("SELECT node, opcode, statement, client_timestamp FROM cqlsim.requests"):
            if r.opcode == "EXECUTE" and "%s.%s " % (ks, table) in r.statement and r.client_timestamp is not None:
                seen[r.client_timestamp - base_ts] = r.node
    finally:
        dc.shutdown()
    return replicas, seen


class shared_base(unittest.TestCase):
    origin_base, target_base = "127.0.61.1", "127.0.62.1"
    auth = None
    settings = {}

    @classmethod
    def setUpClass(cls):
        cls.origin = h.cluster(CQLSIM, "origin", cls.origin_base, nodes=3, auth=cls.auth)
        cls.target = h.cluster(CQLSIM, "target", cls.target_base, nodes=3, auth=cls.auth)
        settings = {"cluster_connections": "SHARED", "cluster_connections_per_node": PER_NODE, "proxy_max_client_connections": 2000}
        settings.update(cls.settings)
        cls.tandem = h.tandem(TANDEM, cls.origin, cls.target, settings=settings, workers=WORKERS)
        # The pool opens at start: wait for it (2 clusters x 3 nodes x PER_NODE per worker).
        deadline = time.time() + 10
        while cls.pool_size() < 2 * 3 * PER_NODE * WORKERS and time.time() < deadline:
            time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.tandem.stop()
        cls.origin.stop()
        cls.target.stop()

    def kv_keyspace(self, prefix):
        """A new keyspace (replication factor 1) with a table kv (k int PRIMARY KEY, v text), made through tandem."""
        ks = "%s_%s" % (prefix, uuid.uuid4().hex[:6])
        c, s = self.tandem.connect()
        try:
            s.execute("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" % ks)
            s.execute("CREATE TABLE %s.kv (k int PRIMARY KEY, v text)" % ks)
        finally:
            c.shutdown()
        return ks

    @classmethod
    def pool_size(cls):
        return cls.tandem.metric_sum("zdm_origin_connections_total") + cls.tandem.metric_sum("zdm_target_connections_total")


class token_aware(shared_base):
    def setUp(self):
        # Every node's connections ready (a node stopped by another test is back).
        deadline = time.time() + 20
        while self.pool_size() < 2 * 3 * PER_NODE * WORKERS and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.pool_size(), 2 * 3 * PER_NODE * WORKERS)

    def test_each_prepared_write_reaches_its_owner_on_both_clusters(self):
        ks = "tok_%s" % uuid.uuid4().hex[:6]
        current = [0]
        c, s = self.tandem.connect()
        # The client timestamp names the key in cqlsim.requests.
        c.timestamp_generator = lambda: current[0]
        try:
            s.execute("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" % ks)
            s.execute("CREATE TABLE %s.kv (k int PRIMARY KEY, v text)" % ks)
            ins = s.prepare("INSERT INTO %s.kv (k, v) VALUES (?, ?)" % ks)
            base_ts = 1_700_000_000_000_000
            for k in range(600):
                current[0] = base_ts + k
                s.execute(ins, (k, "v%d" % k))
            # A composite partition key, bound out of order: (a, b) from the 3rd and 1st markers.
            s.execute("CREATE TABLE %s.kv2 (a int, b text, c int, v text, PRIMARY KEY ((a, b), c))" % ks)
            ins2 = s.prepare("INSERT INTO %s.kv2 (b, c, a, v) VALUES (?, ?, ?, ?)" % ks)
            base_ts2 = 1_705_000_000_000_000
            for k in range(100):
                current[0] = base_ts2 + k
                s.execute(ins2, ("b%d" % k, 0, k, "composite"))
        finally:
            c.shutdown()
        for cluster, base in ((self.origin, self.origin_base), (self.target, self.target_base)):
            replicas, seen = where_written(cluster, base, ks, range(100), base_ts2, table="kv2",
                                           routing_key=lambda k: composite(struct.pack(">i", k), b"b%d" % k))
            self.assertEqual(len(seen), 100, cluster.name)
            wrong = {k: (seen[k], replicas[k][0]) for k in seen if seen[k] != replicas[k][0]}
            self.assertEqual(wrong, {}, "%s: composite keys not at their owner (seen, owner)" % cluster.name)
            # The PREPARE went to every node (an EXECUTE at any owner finds the statement).
            prepared_on = {r.node for r in cluster.execute("SELECT node, opcode, statement FROM cqlsim.requests")
                           if r.opcode == "PREPARE" and "%s.kv2 " % ks in r.statement}
            self.assertEqual(prepared_on, {1, 2, 3}, cluster.name)
        for cluster, base in ((self.origin, self.origin_base), (self.target, self.target_base)):
            replicas, seen = where_written(cluster, base, ks, range(600), base_ts)
            owner = {k: r[0] for k, r in replicas.items()}
            self.assertEqual(len(seen), 600, cluster.name)
            wrong = {k: (seen[k], owner[k]) for k in seen if seen[k] != owner[k]}
            self.assertEqual(wrong, {}, "%s: keys not at their owner (seen, owner)" % cluster.name)
            self.assertEqual(len(set(owner.values())), 3, "the keys spread over the three nodes")

    def test_a_stopped_node_is_skipped_and_its_keys_go_to_the_next_replica(self):
        ks = "rep_%s" % uuid.uuid4().hex[:6]
        current = [0]
        c, s = self.tandem.connect()
        c.timestamp_generator = lambda: current[0]
        base_ts = 1_710_000_000_000_000
        try:
            s.execute("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 2}" % ks)
            s.execute("CREATE TABLE %s.kv (k int PRIMARY KEY, v text)" % ks)
            ins = s.prepare("INSERT INTO %s.kv (k, v) VALUES (?, ?)" % ks)
            self.target.execute("UPDATE cqlsim.nodes SET up = false WHERE node = 2")
            self.tandem.proc.wait_for("target node 127.0.62.2:%d is DOWN" % self.target.port, timeout=10)
            for k in range(200):
                current[0] = base_ts + k
                s.execute(ins, (k, "while node 2 is down"))
            upd = "UPDATE %s.kv SET v = ? WHERE k = ?" % ks
            s.prepare(upd)  # node 2 misses it
        finally:
            c.shutdown()
            self.target.execute("UPDATE cqlsim.nodes SET up = true WHERE node = 2")
        replicas, seen = where_written(self.target, self.target_base, ks, range(200), base_ts)
        self.assertEqual(len(seen), 200)
        moved = 0
        for k, node in seen.items():
            self.assertNotEqual(node, 2, "key %d went to the stopped node" % k)
            expected = replicas[k][0] if replicas[k][0] != 2 else replicas[k][1]
            self.assertEqual(node, expected, "key %d: replicas %s" % (k, replicas[k]))
            moved += replicas[k][0] == 2
        self.assertGreater(moved, 0, "some keys are owned by node 2")
        self.tandem.proc.wait_for("target node 127.0.62.2:%d is UP" % self.target.port, timeout=10)
        # Node 2 missed the UPDATE's PREPARE: it gets it once its connections are ready again, as
        # a driver prepares again on a node that comes up, so its keys' EXECUTEs need no heal.
        deadline = time.time() + 20
        while self.pool_size() < 2 * 3 * PER_NODE * WORKERS and time.time() < deadline:
            time.sleep(0.05)
        prepared_on = lambda: {r.node for r in self.target.execute("SELECT node, opcode, statement FROM cqlsim.requests")  # noqa: E731
                               if r.opcode == "PREPARE" and r.statement == upd}
        deadline = time.time() + 5
        while 2 not in prepared_on() and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(prepared_on(), {1, 2, 3})
        healed = self.tandem.metric("zdm_tandem_unprepared_healed_total")
        c, s = self.tandem.connect()
        try:
            st = s.prepare(upd)
            for k in (k for k in range(200) if replicas[k][0] == 2):
                s.execute(st, ("node 2 is back", k))
        finally:
            c.shutdown()
        self.assertEqual(self.tandem.metric("zdm_tandem_unprepared_healed_total"), healed)
        self.assertEqual({r.v for r in self.target.execute("SELECT k, v FROM %s.kv" % ks) if replicas[r.k][0] == 2}, {"node 2 is back"})


class bursts(shared_base):
    # Its own clusters: its v4 client opens a v4 group beside the default one (the clusters speak
    # v5), which the other classes' counts of pool connections do not expect.
    origin_base, target_base = "127.0.69.1", "127.0.70.1"

    def test_a_pipelined_burst_leaves_on_one_connection_of_the_node(self):
        """What a loop turn sends to a node goes on one of its connections (one write, not one per
        connection); the next turn takes the next connection, so load still spreads."""
        ks = self.kv_keyspace("burst")
        raw = socket.create_connection(("127.0.0.1", self.tandem.port), timeout=10)
        try:
            raw.sendall(frame(0, 0x01, STARTUP))
            self.assertEqual(read_frame(raw)[1], 0x02, "READY")
            q = ("INSERT INTO %s.kv (k, v) VALUES (?, ?)" % ks).encode()
            raw.sendall(frame(1, 0x09, struct.pack(">i", len(q)) + q))
            _, op, body = read_frame(raw)
            self.assertEqual(op, 0x08, body)
            (id_len,) = struct.unpack_from(">H", body, 4)
            pid = body[6:6 + id_len]
            base_ts = 1_720_000_000_000_000
            bursts, size = 4, 40
            for b in range(bursts):
                out = b""
                for i in range(size):
                    # One key for all: one owner node. Flags: values, default timestamp.
                    params = struct.pack(">HBH", 1, 0x21, 2) + struct.pack(">ii", 4, 7) + struct.pack(">i", 1) + b"v" + \
                        struct.pack(">q", base_ts + b * 1000 + i)
                    out += frame(2 + i, 0x0A, struct.pack(">H", len(pid)) + pid + params)
                raw.sendall(out)  # one write: tandem reads it in one turn
                for _ in range(size):
                    _, op, body = read_frame(raw)
                    self.assertEqual(op, 0x08, body)
        finally:
            raw.close()
        for cluster in (self.origin, self.target):
            by_burst = {}
            for r in cluster.execute("SELECT opcode, statement, client_timestamp, connection FROM cqlsim.requests"):
                if r.opcode == "EXECUTE" and "%s.kv " % ks in r.statement:
                    by_burst.setdefault((r.client_timestamp - base_ts) // 1000, []).append(r.connection)
            self.assertEqual(sorted(by_burst), list(range(bursts)), cluster.name)
            for b, conns in by_burst.items():
                self.assertEqual(len(conns), size, "%s: burst %d" % (cluster.name, b))
                self.assertEqual(len(set(conns)), 1, "%s: burst %d went over connections %s" % (cluster.name, b, sorted(set(conns))))
            used = {conns[0] for conns in by_burst.values()}
            self.assertEqual(len(used), PER_NODE, "%s: the bursts took turns on the node's connections" % cluster.name)

class connections(shared_base):
    origin_base, target_base = "127.0.63.1", "127.0.64.1"

    def test_a_thousand_clients_share_the_pool(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
        bound = WORKERS * 3 * PER_NODE
        socks = []
        try:
            for i in range(1000):
                s = socket.create_connection(("127.0.0.1", self.tandem.port), timeout=10)
                s.sendall(frame(1, 0x01, STARTUP))
                socks.append(s)
            for s in socks:
                self.assertEqual(read_frame(s)[1], 0x02, "READY")
            status, body = self.tandem.http("/metrics")
            clients = [l for l in body.splitlines() if l.startswith("zdm_") and "client_connections_total " in l]
            self.assertTrue(clients and float(clients[0].split()[-1]) >= 1000, clients)
            # Every client sends a request: still no connection more.
            q = "SELECT cluster_name FROM system.local".encode()
            body = struct.pack(">i", len(q)) + q + struct.pack(">HB", 1, 0)
            for s in socks[::10]:
                s.sendall(frame(2, 0x07, body))
            for s in socks[::10]:
                self.assertEqual(read_frame(s)[1], 0x08, "RESULT")
            for name in ("zdm_origin_connections_total", "zdm_target_connections_total"):
                self.assertLessEqual(self.tandem.metric_sum(name), bound, name)
                self.assertGreater(self.tandem.metric_sum(name), 0, name)
            pid = self.tandem.proc.proc.pid
            to_clusters = 0
            # The network namespace's TCP table (not tandem's alone): while this test runs, the
            # only established connections to these clusters' addresses are tandem's.
            for line in open("/proc/%d/net/tcp" % pid):
                parts = line.split()
                if len(parts) > 3 and parts[3] == "01":  # ESTABLISHED
                    remote_ip = parts[2].split(":")[0]
                    ip = ".".join(str(int(remote_ip[i:i + 2], 16)) for i in (6, 4, 2, 0))
                    if ip.startswith("127.0.63.") or ip.startswith("127.0.64."):
                        to_clusters += 1
            # The control connection of each cluster comes on top of the pool's.
            self.assertLessEqual(to_clusters, 2 * bound + 2)
        finally:
            for s in socks:
                s.close()

    def test_status_says_shared_and_v2_is_refused_clearly(self):
        import json
        status, body = self.tandem.http("/api/v1/status")
        self.assertEqual(json.loads(body)["cluster_connections"], "SHARED")
        s = socket.create_connection(("127.0.0.1", self.tandem.port), timeout=5)
        try:
            s.sendall(frame(1, 0x01, STARTUP, version=2))
            stream, opcode, body = read_frame(s, version=2)
            self.assertEqual(opcode, 0x00, "ERROR")
            self.assertEqual(struct.unpack(">i", body[:4])[0], 0x000A, "PROTOCOL_ERROR")
            self.assertIn(b"SHARED serves v3 and later", body)
        finally:
            s.close()

    def test_each_client_keeps_its_keyspace(self):
        a, b = "ka_%s" % uuid.uuid4().hex[:6], "kb_%s" % uuid.uuid4().hex[:6]
        c, s = self.tandem.connect()
        try:
            for ks in (a, b):
                s.execute("CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" % ks)
                s.execute("CREATE TABLE %s.kv (k int PRIMARY KEY, v text)" % ks)
        finally:
            c.shutdown()
        ca, sa = self.tandem.connect(a)
        cb, sb = self.tandem.connect(b)
        try:
            for i in range(20):
                sa.execute("INSERT INTO kv (k, v) VALUES (%d, 'in a')" % i)
                sb.execute("INSERT INTO kv (k, v) VALUES (%d, 'in b')" % i)
            pa = sa.prepare("SELECT v FROM kv WHERE k = ?")
            pb = sb.prepare("SELECT v FROM kv WHERE k = ?")
            for i in range(20):
                self.assertEqual(sa.execute(pa, (i,)).one().v, "in a")
                self.assertEqual(sb.execute(pb, (i,)).one().v, "in b")
            from cassandra import InvalidRequest
            with self.assertRaises(InvalidRequest) as e:
                sa.execute("USE nowhere_%s" % uuid.uuid4().hex[:6])
            self.assertIn("does not exist", str(e.exception))
            self.assertEqual(sa.execute("SELECT v FROM kv WHERE k = 1").one().v, "in a", "the session keeps its keyspace")
        finally:
            ca.shutdown()
            cb.shutdown()
        for cl in (self.origin, self.target):
            self.assertEqual(len(cl.execute("SELECT k FROM %s.kv" % a)), 20)
            self.assertEqual(cl.execute("SELECT v FROM %s.kv WHERE k = 3" % b)[0].v, "in b")


class keyspace_groups(shared_base):
    origin_base, target_base = "127.0.67.1", "127.0.68.1"
    settings = {"cluster_connections_keyspace_idle_ms": 1000}

    def test_a_keyspace_group_closes_when_unused_and_opens_again(self):
        base = 2 * 3 * PER_NODE * WORKERS
        self.assertEqual(self.pool_size(), base)
        ks = self.kv_keyspace("kg")
        for round_ in range(2):
            c, s = self.tandem.connect(ks)  # the driver says USE ks: unqualified statements go to that keyspace's group
            try:
                s.execute("INSERT INTO kv (k, v) VALUES (%d, 'x')" % round_)
                self.assertEqual(s.execute("SELECT v FROM kv WHERE k = %d" % round_).one().v, "x")
                self.assertGreater(self.pool_size(), base, "the keyspace's group is open")
            finally:
                c.shutdown()
            deadline = time.time() + 15
            while self.pool_size() > base and time.time() < deadline:
                time.sleep(0.2)
            self.assertEqual(self.pool_size(), base, "the keyspace's group closed after 1 s unused")
        closed = [l for l in self.tandem.proc.lines if "closing the origin group for keyspace '%s'" % ks in l]
        self.assertGreaterEqual(len(closed), 2, "\n".join(self.tandem.proc.lines[-20:]))
        for cl in (self.origin, self.target):
            self.assertEqual(sorted(r.k for r in cl.execute("SELECT k FROM %s.kv" % ks)), [0, 1])


class logins(shared_base):
    origin_base, target_base = "127.0.65.1", "127.0.66.1"
    auth = ("cassandra", "cassandra")
    settings = {"cluster_connections_login_cache_ms": 1500}

    def login(self, user, password):
        """STARTUP, AUTHENTICATE, AUTH_RESPONSE on a connection of its own: the reply's (opcode, body)."""
        s = socket.create_connection(("127.0.0.1", self.tandem.port), timeout=10)
        try:
            s.sendall(frame(0, 0x01, STARTUP))
            _, opcode, _ = read_frame(s)
            self.assertEqual(opcode, 0x03, "AUTHENTICATE")
            token = b"\0" + user.encode() + b"\0" + password.encode()
            s.sendall(frame(0, 0x0F, struct.pack(">i", len(token)) + token))
            _, opcode, body = read_frame(s)
            return opcode, body
        finally:
            s.close()

    def test_a_login_the_cluster_accepted_is_not_checked_again_for_a_while(self):
        hits = lambda: self.tandem.metric("zdm_tandem_login_cache_hits_total")  # noqa: E731
        time.sleep(1.6)  # what other tests' logins left has expired
        before = hits()
        self.assertEqual(self.login("cassandra", "cassandra")[0], 0x10, "AUTH_SUCCESS")  # checked by the cluster
        self.assertEqual(hits(), before)
        self.assertEqual(self.login("cassandra", "cassandra")[0], 0x10, "AUTH_SUCCESS")  # from the cache
        self.assertEqual(hits(), before + 1)
        # A wrong password is never taken from the cache: the cluster refuses it, every time.
        for _ in range(2):
            opcode, body = self.login("cassandra", "wrong")
            self.assertEqual(opcode, 0x00, "ERROR")
            self.assertIn(b"Provided username cassandra and/or password are incorrect", body)
        self.assertEqual(hits(), before + 1)
        time.sleep(1.6)  # expired: checked by the cluster again
        self.assertEqual(self.login("cassandra", "cassandra")[0], 0x10, "AUTH_SUCCESS")
        self.assertEqual(hits(), before + 1)
        self.assertEqual(self.login("cassandra", "cassandra")[0], 0x10, "AUTH_SUCCESS")
        self.assertEqual(hits(), before + 2)

    def test_the_cluster_checks_the_clients_credentials(self):
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import NoHostAvailable
        c, s = self.tandem.connect(auth_provider=PlainTextAuthProvider("cassandra", "cassandra"))
        try:
            self.assertEqual(s.execute("SELECT cluster_name FROM system.local").one().cluster_name, "origin")
        finally:
            c.shutdown()
        with self.assertRaises(NoHostAvailable) as e:
            self.tandem.connect(auth_provider=PlainTextAuthProvider("cassandra", "wrong"))
        # The cluster's own refusal (cqlsim's text), through tandem.
        self.assertIn("Provided username cassandra and/or password are incorrect", repr(e.exception.errors))
        self.assertIn("AuthenticationFailed", repr(e.exception.errors))


if __name__ == "__main__":
    CQLSIM, TANDEM = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
