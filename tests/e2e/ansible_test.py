#!/usr/bin/python3
"""The Ansible deployment end to end, on this machine: `tandemctl init` writes the inventory,
site.yml deploys three instances as plain processes (one temporary prefix each, as if on three
hosts), tandemctl sees indexes 0, 1, 2; switch.yml flips the primary of all three live (their
PIDs unchanged); site.yml with a new binary upgrades them one at a time (new PIDs), keeping the
switched primary.

Usage: ansible_test.py <cqlsim> <tandem> <tandemctl>
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tandem_harness as h  # noqa: E402

CQLSIM = TANDEM = TANDEMCTL = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = os.path.join(ROOT, "deploy", "ansible")


class ansible(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin = h.cluster(CQLSIM, "origin", "127.0.25.1")
        cls.target = h.cluster(CQLSIM, "target", "127.0.26.1")
        cls.dir = tempfile.mkdtemp()
        cls.addresses = ["127.0.27.%d" % i for i in (1, 2, 3)]
        p = subprocess.run([TANDEMCTL, "init", "--non-interactive", "--output-dir", cls.dir, "--instances", ",".join(cls.addresses),
                            "--proxy-port", str(h.free_port("127.0.27.1")), "--metrics-port", str(h.free_port("127.0.27.1")),
                            "--origin-contact-points", cls.origin.address, "--origin-port", str(cls.origin.port),
                            "--target-contact-points", cls.target.address, "--target-port", str(cls.target.port)],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        cls.inventory = os.path.join(cls.dir, "inventory.ini")
        cls.prefix = os.path.join(cls.dir, "hosts")
        cls.binary = os.path.join(cls.dir, "tandem-1")
        shutil.copy(TANDEM, cls.binary)

    @classmethod
    def tearDownClass(cls):
        for i in range(3):
            try:
                with open(cls.pidfile(i)) as f:
                    os.kill(int(f.read()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        cls.origin.stop()
        cls.target.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def pidfile(cls, i):
        return os.path.join(cls.prefix, "tandem-%d" % i, "run", "tandem-%d.pid" % i)

    def pids(self):
        out = []
        for i in range(3):
            with open(self.pidfile(i)) as f:
                out.append(int(f.read()))
        return out

    def playbook(self, name, **extra):
        extra = dict({"tandem_service_manager": "process", "tandem_prefix": self.prefix + "/{{ inventory_hostname }}",
                      "tandem_binary": self.binary, "tandem_workers": 1, "ansible_connection": "local",
                      "ansible_python_interpreter": "/usr/bin/python3"}, **extra)
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=os.path.join(self.dir, "tmp"),
                   ANSIBLE_HOME=os.path.join(self.dir, "ansible"), ANSIBLE_ROLES_PATH=os.path.join(PLAYBOOKS, "roles"))
        p = subprocess.run(["ansible-playbook", "-i", self.inventory, os.path.join(PLAYBOOKS, name), "-e", json.dumps(extra)],
                           capture_output=True, text=True, timeout=300, env=env)
        self.assertEqual(p.returncode, 0, p.stdout[-6000:] + p.stderr[-3000:])
        return p.stdout

    def status(self):
        p = subprocess.run([TANDEMCTL, "status", "--config", os.path.join(self.dir, "settings", "tandem-0.yml"), "--json"],
                           capture_output=True, text=True, timeout=30)
        return p.returncode, json.loads(p.stdout)

    def test_deploy_switch_upgrade(self):
        out = self.playbook("site.yml")
        self.assertIn("tandem-2", out)
        rc, s = self.status()
        self.assertEqual(rc, 0, s)
        self.assertEqual(sorted(i["index"] for i in s["instances"]), [0, 1, 2])
        first = self.pids()
        # Run again: nothing changed, nothing restarts.
        out = self.playbook("site.yml")
        self.assertEqual(self.pids(), first)
        self.assertRegex(out, r"tandem-0 +: ok=\d+ +changed=0")

        out = self.playbook("switch.yml", tandem_primary_cluster="TARGET")
        rc, s = self.status()
        self.assertEqual({i["primary_cluster"] for i in s["instances"]}, {"TARGET"})
        self.assertEqual(self.pids(), first, "a live switch restarts nothing")
        with open(os.path.join(self.dir, "group_vars", "tandem.yml")) as f:
            self.assertIn('primary_cluster: "TARGET"', f.read())

        # A new binary: each instance restarted in turn, each ready before the next; the switched
        # primary is kept (group_vars was updated).
        with open(self.binary, "ab") as f:
            f.write(b"\0")
        out = self.playbook("site.yml")
        after = self.pids()
        self.assertTrue(all(a != b for a, b in zip(first, after)), (first, after))
        rc, s = self.status()
        self.assertEqual(rc, 0, s)
        self.assertEqual({i["primary_cluster"] for i in s["instances"]}, {"TARGET"})
        # serial 1: each host's restart and readiness wait come before the next host's.
        order = [l for l in out.splitlines() if l.startswith(("RUNNING HANDLER", "TASK [tandem : Wait until"))]
        self.assertGreaterEqual(len(order), 6, out)


if __name__ == "__main__":
    CQLSIM, TANDEM, TANDEMCTL = sys.argv[1:4]
    unittest.main(argv=sys.argv[:1] + sys.argv[4:], verbosity=2)
