#!/usr/bin/python3
"""The Debian package: built by CPack as `make package` builds it, lintian-clean of errors,
installed into a temporary root (dpkg -x) where each tool runs; the systemd unit verified.

Usage: package_test.py <build dir>
"""
import glob
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD = None


class package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        p = subprocess.run(["cpack", "-G", "DEB", "-B", cls.dir], cwd=BUILD, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout + p.stderr
        debs = glob.glob(os.path.join(cls.dir, "tandem_*.deb"))
        assert len(debs) == 1, debs
        cls.deb = debs[0]
        cls.root = os.path.join(cls.dir, "root")
        subprocess.run(["dpkg", "-x", cls.deb, cls.root], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_the_installed_tools_run(self):
        for tool, expect in (("tandem", "tandem version "), ("tandemctl", "tandemctl version "), ("tandem-migrate", "tandem-migrate version ")):
            p = subprocess.run([os.path.join(self.root, "usr", "bin", tool), "--version"], capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, re.escape(expect) + r"\d+\.\d+\.\d+")
            with gzip.open(os.path.join(self.root, "usr", "share", "man", "man1", tool + ".1.gz"), "rt") as f:
                page = f.read()
            self.assertIn(".TH " + tool.upper(), page)
            self.assertIn("\\-\\-help", page)
        self.assertTrue(os.path.exists(os.path.join(self.root, "etc", "tandem", "example.yml")))

    def test_the_example_settings_are_valid(self):
        # tandem loads and validates the shipped example (it then fails only on the unreachable clusters).
        p = subprocess.run([os.path.join(self.root, "usr", "bin", "tandemctl"), "preflight", "--config",
                            os.path.join(self.root, "etc", "tandem", "example.yml")], capture_output=True, text=True, timeout=120)
        self.assertIn("is valid", p.stdout, p.stdout + p.stderr)

    def test_control_files(self):
        info = subprocess.run(["dpkg-deb", "-I", self.deb], capture_output=True, text=True, check=True).stdout
        self.assertIn("Package: tandem", info)
        self.assertRegex(info, r"Depends: .*liburing")
        conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", self.deb], capture_output=True, check=True).stdout
        self.assertIn(b"conffiles", conffiles)
        self.assertIn(b"postinst", conffiles)

    def test_lintian_finds_no_error(self):
        p = subprocess.run(["lintian", "--tag-display-limit", "0", self.deb], capture_output=True, text=True, timeout=600)
        errors = [l for l in p.stdout.splitlines() if l.startswith("E:")]
        self.assertEqual(errors, [], p.stdout)

    def test_the_systemd_unit_verifies(self):
        unit = os.path.join(self.root, "usr", "lib", "systemd", "system", "tandem@.service")
        with open(unit) as f:
            text = f.read()
        for key in ("ExecReload=/bin/kill -HUP $MAINPID", "LimitNOFILE=", "NoNewPrivileges=yes", "ProtectSystem=strict",
                    "ExecStart=/usr/bin/tandem --config /etc/tandem/%i.yml"):
            self.assertIn(key, text)
        # systemd-analyze checks the installed binary exists: point the unit at the extracted one.
        instance = os.path.join(self.dir, "tandem@test.service")
        with open(instance, "w") as f:
            f.write(text.replace("/usr/bin/tandem", os.path.join(self.root, "usr", "bin", "tandem")))
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", instance], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr.strip(), "")


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv[1])
    unittest.main(argv=sys.argv[:1] + sys.argv[2:], verbosity=2)
