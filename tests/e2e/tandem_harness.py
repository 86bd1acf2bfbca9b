"""Start two cqlsim clusters (origin and target) and tandem between them, on loopback.

Used by the end-to-end tests and by the demo (scripts/demo.py). Every process is stopped by
stop(); a test that fails still stops them (use the object as a context manager).
"""
import os
import signal
import socket
import subprocess
import threading
import time


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def make_certificates(directory):
    """A test CA, a server certificate and a client certificate it signed (EC P-256, 2 days),
    made with the openssl command. Returns a dict of paths."""
    os.makedirs(directory, exist_ok=True)
    paths = {k: os.path.join(directory, k) for k in ("ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key")}

    def run(*argv):
        subprocess.run(["openssl", *argv], check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", paths["ca.key"], "-out", paths["ca.pem"], "-days", "2", "-subj", "/CN=tandem test CA")
    for who in ("server", "client"):
        csr = os.path.join(directory, who + ".csr")
        run("req", *ec, "-keyout", paths[who + ".key"], "-out", csr, "-subj", "/CN=tandem test " + who)
        run("x509", "-req", "-in", csr, "-CA", paths["ca.pem"], "-CAkey", paths["ca.key"], "-CAcreateserial",
            "-out", paths[who + ".pem"], "-days", "2")
    return paths


def client_ssl_context(certs, with_client_certificate=True):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs["ca.pem"])
    ctx.check_hostname = False
    if with_client_certificate:
        ctx.load_cert_chain(certs["client.pem"], certs["client.key"])
    return ctx


class process:
    """A child whose output is collected by a thread; wait_for() looks for a line."""

    def __init__(self, argv, env=None, name="process"):
        self.name = name
        self.lines = []
        self._cv = threading.Condition()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self._cv:
                self.lines.append(line.rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def wait_for(self, text, count=1, timeout=20):
        deadline = time.time() + timeout
        with self._cv:
            while True:
                found = [l for l in self.lines if text in l]
                if len(found) >= count:
                    return found[count - 1]
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError("%s exited (%s) before printing %r:\n%s" % (
                        self.name, self.proc.returncode, text, "\n".join(self.lines[-30:])))
                left = deadline - time.time()
                if left <= 0:
                    raise RuntimeError("%s did not print %r within %ss:\n%s" % (
                        self.name, text, timeout, "\n".join(self.lines[-30:])))
                self._cv.wait(min(left, 0.2))

    def output(self):
        with self._cv:
            return "\n".join(self.lines)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        self.proc.stdout.close()
        return self.proc.returncode


class cluster:
    """A cqlsim cluster of `nodes` nodes on base_address, .+1, ... all on one port."""

    def __init__(self, cqlsim, name, base_address, nodes=2, auth=None, extra=(), dead=0, certs=None):
        self.name = name
        self.address = base_address
        self.port = free_port(base_address)
        argv = [cqlsim, "--nodes", str(nodes), "--address", base_address, "--port", str(self.port),
                "--cluster-name", name, "--dead-nodes", str(dead), *extra]
        if auth:
            argv += ["--auth", "%s:%s" % auth]
        if certs:
            argv += ["--tls-cert", certs["server.pem"], "--tls-key", certs["server.key"]]
        self.auth = auth
        self.certs = certs
        self.proc = process(argv, name="cqlsim " + name)
        self.proc.wait_for("listening on", count=nodes - dead)

    def session(self, keyspace=None):
        """A direct driver session (not through tandem), to look at what the cluster holds."""
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import Cluster
        kw = {}
        if self.auth:
            kw["auth_provider"] = PlainTextAuthProvider(*self.auth)
        if self.certs:
            kw["ssl_context"] = client_ssl_context(self.certs, with_client_certificate=False)
        c = Cluster([self.address], port=self.port, **kw)
        return c, c.connect(keyspace)

    def requests(self, like=None):
        """Statements every node of this cluster logged (cqlsim.requests), optionally filtered."""
        c, s = self.session()
        try:
            rows = [r.statement for r in s.execute("SELECT statement FROM cqlsim.requests")]
        finally:
            c.shutdown()
        return [r for r in rows if like is None or like in r]

    def execute(self, statement):
        c, s = self.session()
        try:
            return list(s.execute(statement))
        finally:
            c.shutdown()

    def stop(self):
        self.proc.stop()


class tandem:
    """tandem in front of `origin` and `target`, configured by a YAML file (kept for SIGHUP)."""

    def __init__(self, binary, origin, target, settings=None, workers=2, directory="/tmp", env_extra=None):
        self.settings = {
            "origin_contact_points": origin.address,
            "origin_port": origin.port,
            "target_contact_points": target.address,
            "target_port": target.port,
            "proxy_listen_address": "127.0.0.1",
            "proxy_listen_port": 0,
            "metrics_port": 0,
            "heartbeat_interval_ms": 2000,
        }
        if origin.auth:
            self.settings["origin_username"], self.settings["origin_password"] = origin.auth
        if target.auth:
            self.settings["target_username"], self.settings["target_password"] = target.auth
        for prefix, c in (("origin", origin), ("target", target)):
            if c.certs:
                self.settings[prefix + "_tls_server_ca_path"] = c.certs["ca.pem"]
        self.settings.update(settings or {})
        fd, self.config_path = __import__("tempfile").mkstemp(prefix="tandem-", suffix=".yml", dir=directory)
        os.close(fd)
        self.write_config()
        env = dict(os.environ)
        env.update(env_extra or {})
        self.proc = process([binary, "--config", self.config_path, "--workers", str(workers)], env=env, name="tandem")
        line = self.proc.wait_for("tandem: listening on", timeout=30)
        self.port = int(line.rsplit(":", 1)[1])
        line = self.proc.wait_for("tandem: http on", timeout=5)
        self.http_port = int(line.rsplit(":", 1)[1])

    def http(self, path):
        """GET on the metrics/health endpoint: (status, body)."""
        import urllib.error
        import urllib.request
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path), timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric_sum(self, name, label_part=""):
        """The sum of every series of `name` whose labels contain `label_part`."""
        status, body = self.http("/metrics")
        total = 0.0
        for line in body.splitlines():
            if line.startswith(name + "{") and label_part in line:
                total += float(line.split()[-1])
        return total

    def metric(self, name):
        """The value of one series of /metrics (name with labels, as printed)."""
        status, body = self.http("/metrics")
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        raise KeyError(name)

    def write_config(self):
        with open(self.config_path, "w") as f:
            for k, v in self.settings.items():
                f.write("%s: %s\n" % (k, v if not isinstance(v, bool) else str(v).lower()))

    def reload(self, **changes):
        """Rewrites the settings file and sends SIGHUP; returns once tandem has applied it."""
        self.settings.update(changes)
        self.write_config()
        before = len([l for l in self.proc.lines if "SIGHUP: re-read" in l])
        self.proc.signal(signal.SIGHUP)
        self.proc.wait_for("SIGHUP: re-read", count=before + 1)

    def connect(self, keyspace=None, **kw):
        from cassandra.cluster import Cluster
        from cassandra.policies import RoundRobinPolicy
        kw.setdefault("load_balancing_policy", RoundRobinPolicy())
        c = Cluster(["127.0.0.1"], port=self.port, **kw)
        return c, c.connect(keyspace)

    def stop(self):
        rc = self.proc.stop()
        try:
            os.unlink(self.config_path)
        except OSError:
            pass
        return rc
