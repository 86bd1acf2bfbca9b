#!/usr/bin/python3
"""Operating a fleet end to end: the admin API of one tandem, tandemctl against three tandem
instances over two cqlsim clusters (status, set, a stopped instance), preflight's schema diff,
and init's settings files started as a fleet.

Usage: fleet_test.py <cqlsim> <tandem> <tandemctl> [unittest args]
"""
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tandem_harness as h  # noqa: E402

logging.basicConfig(level=logging.CRITICAL)
CQLSIM = TANDEM = TANDEMCTL = None
KS = "CREATE KEYSPACE IF NOT EXISTS app WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
TABLE = "CREATE TABLE IF NOT EXISTS app.kv (k int PRIMARY KEY, v text, n int)"


def http(port, path, method="GET", body=None, token=None, host="127.0.0.1"):
    req = urllib.request.Request("http://%s:%d%s" % (host, port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def ctl(*args, env=None):
    p = subprocess.run([TANDEMCTL, *args], capture_output=True, text=True, timeout=60, env=env)
    return p.returncode, p.stdout, p.stderr


class clusters(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin = h.cluster(CQLSIM, "origin", "127.0.21.1")
        cls.target = h.cluster(CQLSIM, "target", "127.0.22.1")
        for c in (cls.origin, cls.target):
            c.execute(KS)
            c.execute(TABLE)
        cls.dir = tempfile.mkdtemp()

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()
        cls.target.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)


class admin_api(clusters):
    def test_status_and_a_live_primary_switch(self):
        t = h.tandem(TANDEM, self.origin, self.target, directory=self.dir)
        try:
            status, s = http(t.http_port, "/api/v1/status")
            self.assertEqual(status, 200)
            for key in ("version", "instance", "primary_cluster", "read_mode", "uptime_s", "client_connections", "clusters",
                        "requests", "errors", "last_minute"):
                self.assertIn(key, s)
            self.assertEqual(s["primary_cluster"], "ORIGIN")
            self.assertEqual(s["clusters"]["origin"]["state"], "UP")
            self.assertEqual(len(s["clusters"]["target"]["nodes"]), 2)
            self.assertIn("p99_ms", s["last_minute"])
            c, session = t.connect()
            try:
                for i in range(50):
                    session.execute("SELECT v FROM app.kv WHERE k = %s", (i,))
                status, s = http(t.http_port, "/api/v1/status")
                self.assertGreaterEqual(s["requests"], 50)
                self.assertGreaterEqual(s["client_connections"], 1)
                self.assertGreater(s["last_minute"]["p99_ms"], 0)
                self.assertGreaterEqual(s["last_minute"]["p99_ms"], s["last_minute"]["p50_ms"])
                # Bad values: 400 naming the key, nothing applied (the good key in the same body neither).
                status, r = http(t.http_port, "/api/v1/settings", "PUT", {"primary_cluster": "TARGET", "read_mode": "SOMETIMES"})
                self.assertEqual(status, 400)
                self.assertIn("read_mode", r["error"])
                status, r = http(t.http_port, "/api/v1/settings", "PUT", {"proxy_listen_port": "1"})
                self.assertEqual(status, 400)
                self.assertIn("proxy_listen_port", r["error"])
                self.assertEqual(http(t.http_port, "/api/v1/status")[1]["primary_cluster"], "ORIGIN")
                # The switch, live: connections opened before it, spread over tandem's two workers
                # (SO_REUSEPORT), all read from target after it.
                others = [t.connect() for _ in range(5)]
                try:
                    status, r = http(t.http_port, "/api/v1/settings", "PUT", {"primary_cluster": "TARGET"})
                    self.assertEqual(status, 200, r)
                    self.assertEqual(r["changed"], {"primary_cluster": "TARGET"})
                    marker = "admin-api-switch"
                    for _, other in [(c, session)] + others:
                        other.execute("SELECT v FROM app.kv WHERE k = 1 /* %s */" % marker)
                    self.assertEqual(self.origin.requests(marker), [])
                    self.assertEqual(len(self.target.requests(marker)), 6)
                finally:
                    for oc, _ in others:
                        oc.shutdown()
                status, r = http(t.http_port, "/api/v1/settings", "PUT", {"primary_cluster": "ORIGIN", "log_level": "DEBUG"})
                self.assertEqual(r["changed"], {"primary_cluster": "ORIGIN", "log_level": "DEBUG"})
            finally:
                c.shutdown()
            t.proc.wait_for("admin API: PUT /api/v1/settings from 127.0.0.1")
        finally:
            self.assertEqual(t.stop(), 0)

    def test_the_token_is_required_when_set_and_never_logged(self):
        t = h.tandem(TANDEM, self.origin, self.target, settings={"admin_token": "s3cret-token"}, directory=self.dir)
        try:
            self.assertEqual(http(t.http_port, "/api/v1/status")[0], 401)
            self.assertEqual(http(t.http_port, "/api/v1/status", token="wrong")[0], 401)
            self.assertEqual(http(t.http_port, "/api/v1/settings", "PUT", {"read_mode": "DUAL_ASYNC_ON_SECONDARY"})[0], 401)
            status, r = http(t.http_port, "/api/v1/settings", "PUT", {"read_mode": "DUAL_ASYNC_ON_SECONDARY"}, token="s3cret-token")
            self.assertEqual(status, 200, r)
            self.assertEqual(http(t.http_port, "/api/v1/status", token="s3cret-token")[1]["read_mode"], "DUAL_ASYNC_ON_SECONDARY")
            self.assertEqual(t.http("/metrics")[0], 200)  # Prometheus and probes need no token
            self.assertEqual(t.http("/health/readiness")[0], 200)
        finally:
            t.stop()
        self.assertNotIn("s3cret-token", t.proc.output())

    def test_changes_need_a_token_off_loopback(self):
        t = h.tandem(TANDEM, self.origin, self.target, settings={"metrics_address": "0.0.0.0"}, directory=self.dir)
        try:
            self.assertEqual(http(t.http_port, "/api/v1/status")[0], 200)
            status, r = http(t.http_port, "/api/v1/settings", "PUT", {"primary_cluster": "TARGET"})
            self.assertEqual(status, 403)
            self.assertIn("admin_token", r["error"])
            self.assertEqual(http(t.http_port, "/api/v1/status")[1]["primary_cluster"], "ORIGIN")
        finally:
            t.stop()


class tandemctl(clusters):
    """Three instances on 127.0.23.1-3, one topology, started from the files `tandemctl init` wrote."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.addresses = ["127.0.23.%d" % i for i in (1, 2, 3)]
        cls.proxy_port, cls.metrics_port = h.free_port("127.0.23.1"), h.free_port("127.0.23.1")
        rc, out, err = ctl("init", "--non-interactive", "--output-dir", cls.dir, "--instances", ",".join(cls.addresses),
                           "--proxy-port", str(cls.proxy_port), "--metrics-port", str(cls.metrics_port),
                           "--origin-contact-points", cls.origin.address, "--origin-port", str(cls.origin.port),
                           "--target-contact-points", cls.target.address, "--target-port", str(cls.target.port))
        assert rc == 0, err
        cls.settings = [os.path.join(cls.dir, "settings", "tandem-%d.yml" % i) for i in range(3)]
        cls.instances = [cls.start(i) for i in range(3)]

    @classmethod
    def start(cls, i):
        p = h.process([TANDEM, "--config", cls.settings[i], "--workers", "1"], name="tandem-%d" % i)
        p.wait_for("tandem: listening on", timeout=30)
        return p

    @classmethod
    def tearDownClass(cls):
        for p in cls.instances:
            p.stop()
        super().tearDownClass()

    def test_1_init_wrote_a_fleet_and_status_sees_it(self):
        self.assertEqual(oct(os.stat(self.settings[0]).st_mode & 0o777), "0o600")
        with open(os.path.join(self.dir, "inventory.ini")) as f:
            inventory = f.read()
        self.assertIn("tandem-2 ansible_host=127.0.23.3 tandem_address=127.0.23.3", inventory)
        with open(os.path.join(self.dir, "prometheus", "tandem.json")) as f:
            self.assertEqual(json.load(f)[0]["targets"], ["%s:%d" % (a, self.metrics_port) for a in self.addresses])
        rc, out, err = ctl("status", "--config", self.settings[0], "--json")
        self.assertEqual(rc, 0, out + err)
        s = json.loads(out)
        self.assertEqual(sorted(i["index"] for i in s["instances"]), [0, 1, 2])
        self.assertEqual({i["primary_cluster"] for i in s["instances"]}, {"ORIGIN"})
        rc, out, err = ctl("status", "--config", self.settings[0], "--token", "not-the-token")
        self.assertEqual(rc, 1)
        self.assertIn("HTTP 401", out)
        rc, out, err = ctl("status", "--config", self.settings[0])
        self.assertEqual(len([l for l in out.splitlines() if " up " in l]), 3, out)

    def test_2_set_flips_every_instance_then_a_stopped_one_is_named(self):
        rc, out, err = ctl("set", "primary-cluster", "TARGET", "--config", self.settings[0], "--dry-run")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(out.count("primary_cluster: ORIGIN -> TARGET"), 3, out)
        rc, out, err = ctl("set", "primary-cluster", "target", "--config", self.settings[0])
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(out.count("primary_cluster = TARGET"), 3, out)
        self.assertIn("primary_cluster: TARGET", out)  # the reminder for the settings files
        rc, out, err = ctl("status", "--config", self.settings[0], "--json")
        self.assertEqual({i["primary_cluster"] for i in json.loads(out)["instances"]}, {"TARGET"})
        rc, out, err = ctl("set", "read-mode", "SOMETIMES", "--config", self.settings[0])
        self.assertEqual(rc, 2)
        self.assertIn("read_mode", err)
        # write_mode is live only where a journal directory was set at start: not here.
        rc, out, err = ctl("set", "write-mode", "DUAL_ASYNC_ON_SECONDARY", "--config", self.settings[0])
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(out.count("write_journal_dir was not set"), 3, out)
        self.instances[1].stop()
        try:
            rc, out, err = ctl("status", "--config", self.settings[0])
            self.assertEqual(rc, 1)
            self.assertRegex(out, r"127\.0\.23\.2:\d+ +down")
            rc, out, err = ctl("set", "primary-cluster", "ORIGIN", "--config", self.settings[0])
            self.assertEqual(rc, 1)
            self.assertRegex(out, r"127\.0\.23\.2:\d+ +FAILED")
            self.assertIn("1 of 3 instances did not apply", err)
            # The others did. Instance 1 comes back with its file's ORIGIN; one instance changed by
            # hand makes the fleet disagree, and status says so.
            self.__class__.instances[1] = self.start(1)
            token = [l.split(": ", 1)[1].strip('"') for l in open(self.settings[0]).read().splitlines() if l.startswith("admin_token")][0]
            self.assertEqual(http(self.metrics_port, "/api/v1/settings", "PUT", {"primary_cluster": "TARGET"}, token=token,
                                  host="127.0.23.3")[0], 200)
            rc, out, err = ctl("status", "--config", self.settings[0])
            self.assertEqual(rc, 1)
            self.assertIn("instances disagree on the primary cluster", out)
            rc, out, err = ctl("set", "primary-cluster", "ORIGIN", "--config", self.settings[0])
            self.assertEqual(rc, 0, out + err)
        finally:
            if self.instances[1].proc.poll() is not None:
                self.__class__.instances[1] = self.start(1)

    def test_3_preflight_diffs_the_schemas(self):
        rc, out, err = ctl("preflight", "--config", self.settings[0])
        self.assertEqual(rc, 0, out + err)
        self.assertIn("origin: reachable at", out)
        self.assertIn("protocol versions v5, v4, v3", out)
        self.assertIn("2 of 2 nodes up", out)
        self.origin.execute("CREATE TYPE app.addr (street text, zip int)")
        self.origin.execute("CREATE TABLE app.orders (id uuid PRIMARY KEY, total decimal, ship frozen<addr>)")
        self.target.execute("CREATE TABLE app.orders (id uuid PRIMARY KEY, total decimal)")
        self.target.execute("CREATE KEYSPACE other WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
        self.origin.execute("CREATE KEYSPACE other WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}")
        try:
            rc, out, err = ctl("preflight", "--config", self.settings[0])
            self.assertEqual(rc, 3, out + err)
            self.assertIn("schema: type app.addr does not exist on target", out)
            self.assertIn("schema: table app.orders: column ship (frozen<addr>) does not exist on target", out)
            self.assertIn("warning: keyspace other: replication", out)
        finally:
            for c in (self.origin, self.target):
                c.execute("DROP TABLE app.orders")
                c.execute("DROP KEYSPACE other")
            self.origin.execute("DROP TYPE app.addr")
        # A port held bound but not listening refuses connections for as long as it is held (a
        # port only found free could be taken by another test's server before preflight runs).
        closed = socket.socket()
        closed.bind((self.target.address, 0))
        try:
            unreachable = os.path.join(self.dir, "unreachable.yml")
            with open(self.settings[0]) as f, open(unreachable, "w") as g:
                g.write(f.read().replace("target_port: %d" % self.target.port, "target_port: %d" % closed.getsockname()[1]))
            rc, out, err = ctl("preflight", "--config", unreachable)
        finally:
            closed.close()
        self.assertEqual(rc, 1, out + err)
        self.assertIn("target: FAILED", out)


class init_asks(unittest.TestCase):
    def test_the_questions_write_the_same_files(self):
        out_dir = tempfile.mkdtemp()
        try:
            answers = "\n".join(["10.0.0.1,10.0.0.2", "", "dc1", "cassandra", "pa ss", "", "10.1.0.1", "9142", "", "", "",
                                  "10.2.0.1,10.2.0.2", "", "", out_dir]) + "\n"
            p = subprocess.run([TANDEMCTL, "init"], input=answers, capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("Origin cluster", p.stdout)
            with open(os.path.join(out_dir, "settings", "tandem-1.yml")) as f:
                text = f.read()
            for line in ('origin_contact_points: "10.0.0.1,10.0.0.2"', "origin_local_datacenter: dc1", "origin_username: cassandra",
                         'origin_password: "pa ss"', "target_port: 9142", "proxy_topology_index: 1",
                         "proxy_topology_addresses: 10.2.0.1,10.2.0.2", "proxy_listen_address: 10.2.0.2"):
                self.assertIn(line, text)
            self.assertRegex(text, r"admin_token: [0-9a-f]{48}")
            # Nothing to go on: a clear error, exit 2.
            p = subprocess.run([TANDEMCTL, "init", "--non-interactive", "--output-dir", out_dir], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2)
            self.assertIn("--origin-contact-points", p.stderr)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    CQLSIM, TANDEM, TANDEMCTL = sys.argv[1:4]
    unittest.main(argv=sys.argv[:1] + sys.argv[4:], verbosity=2)
