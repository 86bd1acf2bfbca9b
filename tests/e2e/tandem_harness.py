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


def status_kb(pid, key):
    """A /proc/<pid>/status field in KiB (VmRSS, VmHWM), or 0."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


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
    # The server certificate names loopback, for clients that verify host names (an HTTPS client).
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:127.0.3.1\n")
    for who in ("server", "client"):
        csr = os.path.join(directory, who + ".csr")
        run("req", *ec, "-keyout", paths[who + ".key"], "-out", csr, "-subj", "/CN=tandem test " + who)
        run("x509", "-req", "-in", csr, "-CA", paths["ca.pem"], "-CAkey", paths["ca.key"], "-CAcreateserial",
            "-out", paths[who + ".pem"], "-days", "2", *(["-extfile", ext] if who == "server" else []))
    return paths


class astra_front:
    """What an Astra database shows a client, in front of a plain cqlsim cluster: a metadata
    service (HTTPS, client certificate required) naming an SNI proxy, and the SNI proxy itself
    (TLS, client certificate required), which sends each connection to the node whose host id is
    the TLS server name. bundle_path is a secure connect bundle for it. sni_names lists the
    server names connections asked for; metadata_requests counts the metadata calls."""

    def __init__(self, behind, certs, directory, address="127.0.3.1"):
        import http.server
        import json
        import ssl
        import zipfile
        from cassandra.cluster import Cluster
        c = Cluster([behind.address], port=behind.port)
        c.connect()
        self.nodes = {str(host.host_id): (host.endpoint.address, host.endpoint.port) for host in c.metadata.all_hosts()}
        self.datacenter = next(iter(c.metadata.all_hosts())).datacenter
        c.shutdown()
        self.sni_names = []
        self.metadata_requests = 0
        self._stop = threading.Event()

        def server_context():
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certs["server.pem"], certs["server.key"])
            ctx.load_verify_locations(certs["ca.pem"])
            ctx.verify_mode = ssl.CERT_REQUIRED
            return ctx

        # The SNI proxy.
        self._sni_ctx = server_context()
        self._sni_ctx.sni_callback = lambda sock, name, ctx: setattr(sock, "tandem_sni", name) or None
        self._listener = socket.socket()
        self._listener.bind((address, 0))
        self._listener.listen(64)
        self.sni_address = "%s:%d" % self._listener.getsockname()
        threading.Thread(target=self._accept, daemon=True).start()

        # The metadata service.
        front = self

        class handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/metadata":
                    self.send_error(404)
                    return
                front.metadata_requests += 1
                body = json.dumps({"version": 1, "region": "local", "contact_info": {
                    "type": "sni_proxy", "local_dc": front.datacenter, "contact_points": sorted(front.nodes),
                    "sni_proxy_address": front.sni_address}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._http = http.server.ThreadingHTTPServer((address, 0), handler)
        self._http.socket = server_context().wrap_socket(self._http.socket, server_side=True)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.bundle_path = os.path.join(directory, "secure-connect-test.zip")
        with zipfile.ZipFile(self.bundle_path, "w") as z:
            z.writestr("config.json", json.dumps({"host": address, "port": self._http.server_address[1],
                                                  "keyspace": "app", "localDC": self.datacenter}))
            z.write(certs["ca.pem"], "ca.crt")
            z.write(certs["client.pem"], "cert")
            z.write(certs["client.key"], "key")

    def _accept(self):
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        import ssl
        try:
            tls = self._sni_ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        name = getattr(tls, "tandem_sni", None)
        self.sni_names.append(name)
        if name not in self.nodes:
            tls.close()
            return
        node = socket.create_connection(self.nodes[name])

        def pump(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        back = threading.Thread(target=pump, args=(node, tls), daemon=True)
        back.start()
        pump(tls, node)
        back.join()
        node.close()
        tls.close()

    def stop(self):
        self._stop.set()
        self._listener.close()
        self._http.shutdown()
        self._http.server_close()


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

    def __init__(self, cqlsim, name, base_address, nodes=2, auth=None, extra=(), dead=0, certs=None, port=None):
        self.name = name
        self.address = base_address
        self.port = port or free_port(base_address)
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
        # Every end-to-end test also runs with shared cluster connections (ctest's *_shared runs).
        if os.environ.get("TANDEM_TEST_CLUSTER_CONNECTIONS"):
            self.settings["cluster_connections"] = os.environ["TANDEM_TEST_CLUSTER_CONNECTIONS"]
        self.settings.update(settings or {})
        self.settings = {k: v for k, v in self.settings.items() if v is not None}  # None: leave the key out
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
