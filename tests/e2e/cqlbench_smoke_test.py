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


class smoke(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.sim = subprocess.Popen([CQLSIM, "--port", str(cls.port)], stdout=subprocess.PIPE, text=True)
        while "listening on" not in cls.sim.stdout.readline():
            pass

    @classmethod
    def tearDownClass(cls):
        cls.sim.terminate()
        cls.sim.wait(timeout=10)
        cls.sim.stdout.close()

    def bench(self, *args):
        out = subprocess.run([CQLBENCH, "--port", str(self.port), "--json", "--warmup", "0", *args],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

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


if __name__ == "__main__":
    CQLSIM, CQLBENCH = sys.argv[1], sys.argv[2]
    del sys.argv[1:3]
    unittest.main(verbosity=2)
