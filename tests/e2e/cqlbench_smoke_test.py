#!/usr/bin/python3
"""cqlbench against cqlsim, short: requests complete and the JSON summary is well-formed (no
timing is asserted). Usage: cqlbench_smoke_test.py <cqlsim> <cqlbench>"""
import json
import socket
import subprocess
import sys
import unittest

CQLSIM = CQLBENCH = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class with_cqlsim(unittest.TestCase):
    """A cqlsim for the class's tests: `nodes` nodes from `host` (the last `dead` listed but not
    listening), stopped after them."""
    host, nodes, dead = "127.0.0.1", 1, 0

    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.sim = subprocess.Popen([CQLSIM, "--nodes", str(cls.nodes), "--dead-nodes", str(cls.dead), "--address", cls.host,
                                    "--port", str(cls.port)], stdout=subprocess.PIPE, text=True)
        for _ in range(cls.nodes - cls.dead):
            while "listening on" not in cls.sim.stdout.readline():
                pass

    @classmethod
    def tearDownClass(cls):
        cls.sim.terminate()
        cls.sim.wait(timeout=10)
        cls.sim.stdout.close()

    def run_bench(self, *args):
        """cqlbench against the cluster: its JSON summary and its standard error."""
        out = subprocess.run([CQLBENCH, "--host", self.host, "--port", str(self.port), "--json", "--warmup", "0", *args],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout), out.stderr


class smoke(with_cqlsim):
    def bench(self, *args):
        return self.run_bench(*args)[0]

    def check(self, summary):
        self.assertGreater(summary["requests"], 0)
        self.assertEqual(summary["errors"], 0, summary["errors_by_kind"])
        lat = summary["latency_us"]
        self.assertLessEqual(lat["p50"], lat["p99"])
        self.assertLessEqual(lat["p99"], lat["max"])

    def test_closed_loop_mixed(self):
        self.check(self.bench("--duration", "1", "--connections", "2", "--depth", "8"))

    def test_open_loop_zipfian_inserts(self):
        s = self.bench("--duration", "1", "--rate", "2000", "--workload", "insert", "--distribution", "zipfian")
        self.check(s)
        self.assertGreater(s["requests"], 1000)  # about 2000 at 2000/s for 1 s

    def test_open_loop_coalescing_counts_from_the_intended_time(self):
        # Sent every 50 ms, a request waits 25 ms for its tick on average: the latency counts it.
        late = self.bench("--duration", "1", "--rate", "400", "--coalesce-us", "50000", "--connections", "1")
        self.check(late)
        self.assertGreater(late["requests"], 300)  # about 400: coalescing delays, never drops
        self.assertGreater(late["latency_us"]["p50"], 15000)
        self.assertGreater(late["latency_us"]["max"], 40000)
        prompt = self.bench("--duration", "1", "--rate", "400", "--connections", "1")
        self.check(prompt)
        self.assertLess(prompt["latency_us"]["p50"], late["latency_us"]["p50"] / 2)

    def test_request_count(self):
        s = self.bench("--requests", "500", "--workload", "select", "--depth", "1", "--connections", "1")
        self.check(s)

    def test_update_and_batch_workloads(self):
        self.check(self.bench("--duration", "1", "--workload", "update"))
        s = self.bench("--requests", "200", "--workload", "batch", "--batch-size", "5")
        self.check(s)
        self.assertGreaterEqual(s["requests"], 200)

    def test_protocol_v5(self):
        self.check(self.bench("--duration", "1", "--protocol", "5", "--connections", "2", "--depth", "8"))

    def test_unreachable_endpoint_is_a_clear_error(self):
        out = subprocess.run([CQLBENCH, "--port", str(free_port()), "--duration", "1"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn("cannot connect", out.stderr)


class routing(with_cqlsim):
    """Node discovery and routing against a 3-node cqlsim (plus one node listed in system.peers that
    refuses connections): each request reaches the node a driver's token-aware policy would pick."""
    host, nodes, dead = "127.0.7.1", 4, 1

    def bench(self, *args):
        return self.run_bench(*args)

    def executes_per_node(self, statement_part):
        from cassandra.cluster import Cluster
        from cassandra.policies import WhiteListRoundRobinPolicy
        # One coordinator, so system.local and system.peers describe the same ring.
        c = Cluster(["127.0.7.1"], port=self.port, load_balancing_policy=WhiteListRoundRobinPolicy(["127.0.7.1"]))
        try:
            s = c.connect()
            counts = {}
            for r in s.execute("SELECT node, opcode, statement FROM cqlsim.requests"):
                if r.opcode == "EXECUTE" and statement_part in r.statement:
                    counts[r.node] = counts.get(r.node, 0) + 1
            # The ring as the cluster advertises it: (token, node number), node i at 127.0.7.i.
            ring = []
            local = s.execute("SELECT rpc_address, tokens FROM system.local").one()
            peers = list(s.execute("SELECT rpc_address, tokens FROM system.peers"))
            for row in [local] + peers:
                node = int(str(row.rpc_address).rsplit(".", 1)[1])
                ring += [(int(t), node) for t in row.tokens]
            s.execute("TRUNCATE cqlsim.requests")
            return counts, sorted(ring)
        finally:
            c.shutdown()

    def test_token_aware_routing_sends_each_key_to_its_owner(self):
        import bisect
        import struct
        from cassandra.murmur3 import murmur3
        summary, stderr = self.bench("--requests", "600", "--keys", "600", "--distribution", "sequential",
                                     "--workload", "insert", "--keyspace", "tokens", "--routing", "token")
        self.assertEqual(summary["errors"], 0, summary["errors_by_kind"])
        self.assertEqual(summary["nodes"], 4)        # discovered through system.peers
        self.assertEqual(summary["connections"], 12)  # 4 per reachable node
        self.assertIn("node marked down", stderr)    # the dead one
        counts, ring = self.executes_per_node("INSERT INTO tokens.kv")
        tokens = [t for t, _ in ring]
        live = {1, 2, 3}
        expected = {}
        for key in range(600):
            at = bisect.bisect_left(tokens, murmur3(struct.pack(">q", key)))
            # The owner, or for the dead node's keys the next live node of the ring.
            for step in range(len(ring)):
                node = ring[(at + step) % len(ring)][1]
                if node in live:
                    break
            expected[node] = expected.get(node, 0) + 1
        # cqlsim numbers its nodes from 1, as the last octet of 127.0.7.x.
        self.assertEqual(counts, expected)

    def test_round_robin_spreads_requests_over_every_node(self):
        summary, _ = self.bench("--requests", "600", "--workload", "insert", "--keyspace", "rr", "--routing", "round-robin",
                                "--connections", "1", "--depth", "1")
        self.assertEqual(summary["errors"], 0, summary["errors_by_kind"])
        counts, _ = self.executes_per_node("INSERT INTO rr.kv")
        self.assertEqual(counts, {1: 200, 2: 200, 3: 200})

    def test_contact_point_only(self):
        summary, _ = self.bench("--requests", "300", "--workload", "insert", "--keyspace", "cp", "--routing", "contact-point")
        self.assertEqual(summary["nodes"], 1)
        counts, _ = self.executes_per_node("INSERT INTO cp.kv")
        self.assertEqual(counts, {1: 300})

    def test_compression(self):
        for args in (["--compression", "lz4"], ["--compression", "snappy"], ["--compression", "lz4", "--protocol", "5"]):
            summary, _ = self.bench("--requests", "300", "--workload", "mixed", "--keyspace", "comp", *args)
            self.assertEqual(summary["errors"], 0, (args, summary["errors_by_kind"]))
            self.assertEqual(summary["requests"], 300, args)
        out = subprocess.run([CQLBENCH, "--protocol", "5", "--compression", "snappy"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertIn("lz4 only", out.stderr)


if __name__ == "__main__":
    CQLSIM, CQLBENCH = sys.argv[1], sys.argv[2]
    del sys.argv[1:3]
    unittest.main(verbosity=2)
