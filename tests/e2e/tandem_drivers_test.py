#!/usr/bin/python3
"""The Node.js driver and gocql through tandem: each runs its cqlsim test program against tandem
(in front of two cqlsim clusters), then both clusters must hold every row it wrote.

Usage: tandem_drivers_test.py <cqlsim> <tandem> <node test .js> <gocql test .go> <go cache dir>
"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tandem_harness as h  # noqa: E402

ARGS = None


class other_drivers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin = h.cluster(ARGS[0], "origin", "127.0.1.1")
        cls.target = h.cluster(ARGS[0], "target", "127.0.2.1", extra=("--prepared-id-salt", "target"))
        cls.tandem = h.tandem(ARGS[1], cls.origin, cls.target)
        cls.endpoint = "127.0.0.1:%d" % cls.tandem.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.tandem.stop()
        cls.origin.stop()
        cls.target.stop()
        assert rc == 0, cls.tandem.proc.output()[-3000:]

    def run_driver(self, argv, env=None):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=240, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + "\n--- tandem:\n" + self.tandem.proc.output()[-3000:])
        self.assertIn("all checks passed", p.stdout)

    def both_hold(self, rows):
        for cl in (self.origin, self.target):
            self.assertEqual(len(cl.execute("SELECT k FROM ks.t")), rows, cl.name)

    def clear(self):
        c, s = self.tandem.connect()
        try:
            s.execute("CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
            s.execute("CREATE TABLE IF NOT EXISTS ks.t (k int, c int, v text, PRIMARY KEY (k, c))")
            s.execute("TRUNCATE ks.t")
        finally:
            c.shutdown()

    def test_nodejs_driver(self):
        self.clear()
        self.run_driver(["node", ARGS[2], "--endpoint", self.endpoint])
        self.both_hold(302)

    def test_gocql(self):
        self.clear()
        env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOCACHE=ARGS[4])
        self.run_driver(["go", "run", ARGS[3], "-endpoint", self.endpoint], env=env)
        self.both_hold(202)


if __name__ == "__main__":
    ARGS = sys.argv[1:6]
    unittest.main(argv=[sys.argv[0]] + sys.argv[6:], verbosity=2)
