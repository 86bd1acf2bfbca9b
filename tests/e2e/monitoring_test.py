#!/usr/bin/python3
"""The shipped monitoring, with the real Prometheus: promtool checks the configuration and the
alert rules (and runs their unit tests); a Prometheus started with the shipped configuration
scrapes two tandem instances under load; every Grafana panel's expression is evaluated there
and returns data without error.

Usage: monitoring_test.py <cqlsim> <tandem> <cqlbench>
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tandem_harness as h  # noqa: E402

CQLSIM = TANDEM = CQLBENCH = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MONITORING = os.path.join(ROOT, "deploy", "monitoring")


def panel_queries():
    with open(os.path.join(MONITORING, "grafana", "tandem.json")) as f:
        dashboard = json.load(f)
    for p in dashboard["panels"]:
        for t in p.get("targets", []):
            yield p["title"], t["expr"]


class monitoring(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.config_dir = os.path.join(cls.dir, "prometheus")
        shutil.copytree(MONITORING, cls.config_dir)
        cls.origin = h.cluster(CQLSIM, "origin", "127.0.28.1")
        cls.target = h.cluster(CQLSIM, "target", "127.0.29.1")
        # One instance with a write journal (write_mode DUAL_ASYNC_ON_SECONDARY), so the journal
        # panels have data too.
        journal = {"write_mode": "DUAL_ASYNC_ON_SECONDARY", "write_journal_dir": os.path.join(cls.dir, "journal")}
        cls.tandems = [h.tandem(TANDEM, cls.origin, cls.target, directory=cls.dir, workers=1, settings=settings)
                       for settings in ({}, journal)]
        with open(os.path.join(cls.config_dir, "targets", "test.json"), "w") as f:
            json.dump([{"targets": ["127.0.0.1:%d" % t.http_port for t in cls.tandems]}], f)
        # The shipped configuration, with a scrape every second so the test need not wait 15 s.
        config = os.path.join(cls.config_dir, "prometheus.yml")
        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(text.replace("scrape_interval: 15s", "scrape_interval: 1s").replace("refresh_interval: 30s", "refresh_interval: 1s").replace("scrape_timeout: 5s", "scrape_timeout: 1s"))
        cls.port = h.free_port()
        cls.prometheus = h.process(["prometheus", "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(cls.dir, "tsdb"),
                                    "--web.listen-address=127.0.0.1:%d" % cls.port], name="prometheus")
        cls.prometheus.wait_for("Server is ready to receive web requests", timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.prometheus.stop()
        for t in cls.tandems:
            t.stop()
        cls.origin.stop()
        cls.target.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def query(self, expr):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read().decode())

    def wait_for(self, expr, count, timeout=30):
        deadline = time.time() + timeout
        while True:
            r = self.query(expr)
            if r["status"] == "success" and len(r["data"]["result"]) >= count:
                return r["data"]["result"]
            if time.time() > deadline:
                self.fail("%s: %s" % (expr, r))
            time.sleep(0.5)

    def test_1_promtool_checks_pass(self):
        for args in (["check", "config", os.path.join(self.config_dir, "prometheus.yml")],
                     ["check", "rules", os.path.join(MONITORING, "tandem-rules.yml")],
                     ["test", "rules", os.path.join(MONITORING, "tests", "rules_test.yml")]):
            p = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_2_every_panel_returns_data(self):
        self.wait_for('up{job="tandem"} == 1', 2)
        for t in self.tandems:  # load through both instances: every request kind, two scrapes apart
            for workload in ("insert", "select"):
                p = subprocess.run([CQLBENCH, "--host", "127.0.0.1", "--port", str(t.port), "--workload", workload, "--requests", "3000",
                                    "--warmup", "0"], capture_output=True, text=True, timeout=120)
                self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_for("zdm_tandem_requests_total > 3000", 2)
        time.sleep(3)  # rate() needs two samples after the load
        self.assertEqual(len(self.wait_for("zdm_tandem_control_connection_up == 1", 4)), 4)
        empty = []
        for title, expr in panel_queries():
            q = expr.replace("$instance", ".*").replace("$__rate_interval", "30s")
            r = self.query(q)
            self.assertEqual(r["status"], "success", (title, q, r))
            if not r["data"]["result"]:
                empty.append((title, q))
        self.assertEqual(empty, [], "panels without data")
        rules = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/api/v1/rules" % self.port, timeout=10).read().decode())
        loaded = [r for g in rules["data"]["groups"] for r in g["rules"]]
        self.assertEqual(len(loaded), 12)  # every alert of tandem-rules.yml
        self.assertTrue(all(r["health"] in ("ok", "unknown") for r in loaded), loaded)
        firing = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/api/v1/alerts" % self.port, timeout=10).read().decode())
        self.assertEqual([a for a in firing["data"]["alerts"] if a["state"] == "firing"], [])


if __name__ == "__main__":
    CQLSIM, TANDEM, CQLBENCH = sys.argv[1:4]
    unittest.main(argv=sys.argv[:1] + sys.argv[4:], verbosity=2)
