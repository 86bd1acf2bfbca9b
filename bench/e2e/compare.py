#!/usr/bin/python3
"""The benchmark bench: the same cqlbench load against each target, interleaved, medians.

Targets: "direct" (cqlbench -> cqlsim origin), "tandem" (-> tandem -> origin and target),
"tandem-spin" (the same in latency mode, proxy_busy_poll_us = --spin-us), "tandem-shared"
(cluster_connections SHARED: the worker's pooled cluster connections), "tandem-journal"
(write_mode DUAL_ASYNC_ON_SECONDARY, its journal in a temporary directory on the local disk),
"haproxy" (-> HAProxy `mode tcp` -> origin: a forwarder that neither parses nor dual-writes, the
floor for any proxy), and any extra proxy given as --extra NAME='command with {port} {origin_host}
{origin_port} {target_host} {target_port}' (it must listen on {port}).

Shapes: "latency" (1 connection, 1 request in flight), "rate" (open loop, --rate requests/s
over 4 connections, latency from the intended send time), "throughput" (4 connections x 32 in
flight). Workload: prepared statements, half SELECT by key, half INSERT.

Placement on this 2-core machine, said in the output: the proxy under test runs pinned to CPU 1;
the clusters and cqlbench run pinned to CPU 0. Through tandem every INSERT is executed by both
clusters, on the same CPU 0 that also runs cqlbench: compare the proxies with each other first.

Per target: throughput, p50/p99/p99.9, the proxy's CPU seconds per 100k requests (/proc), its
peak RSS (VmHWM), each as a ratio to direct and to HAProxy from the same invocation. Writes
the table to --markdown, the percentile curves to --plot (gnuplot), and with --idle N the
resident memory of tandem (and tandem-shared) holding N idle client connections. Also each
tandem's client connect-to-READY time (TCP connect, STARTUP, READY; median of 200, one at a time).

Usage: compare.py <build dir> [--seconds S] [--rounds N] [--rate R] [--markdown F] [--plot F] [--idle N] [--spin-us N]
       compare.py <build dir> --workers 1,2,4 [--cluster-connections SHARED] [--seconds S] [--rounds N] [--markdown F]
                                                                                  (the scaling table only)
"""
import argparse
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e"))
import tandem_harness as h  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
PERCENTILES = ["p50", "p90", "p99", "p99.9", "p99.99", "max"]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def pin(pid, cpu):
    if os.cpu_count() and os.cpu_count() > cpu:
        try:
            os.sched_setaffinity(pid, {cpu})
        except OSError:
            pass


def pin_tree(pid, cpu):
    """Pins a process and its threads (tandem's workers and control connections)."""
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            pin(int(tid), cpu)
    except OSError:
        pin(pid, cpu)


PROTOCOL = 4


def cqlbench(build, host, port, shape, seconds, rate, schema):
    # contact-point: every request through the target under test, even if the cluster behind it
    # has more nodes (discovery would reach them directly).
    argv = [os.path.join(build, "tools/cqlbench/cqlbench"), "--host", host, "--port", str(port),
            "--routing", "contact-point", "--workload", "mixed", "--protocol", str(PROTOCOL),
            "--duration", str(seconds), "--warmup", "0.5", "--keys", "10000", "--json"]
    if shape == "latency":
        argv += ["--connections", "1", "--depth", "1"]
    elif shape.startswith("throughput-"):  # the scaling table: connections scale with workers
        argv += ["--connections", shape.split("-")[1], "--depth", "32"]
    elif shape == "rate":
        argv += ["--connections", "4", "--depth", "64", "--rate", str(rate)]
    else:
        argv += ["--connections", "4", "--depth", "32"]
    if not schema:
        argv.append("--no-schema")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if shape.startswith("throughput-") and os.cpu_count() > 2:
        os.sched_setaffinity(p.pid, list(range(os.cpu_count() // 2)))
    else:
        pin(p.pid, 0)
    out, err = p.communicate(timeout=seconds * 4 + 60)
    if p.returncode != 0:
        raise RuntimeError("cqlbench against %s:%d failed: %s%s" % (host, port, out, err))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = json.loads(out.strip().splitlines()[-1])
    # cqlbench's own CPU (it must stay well below the proxy's per request to measure it).
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    r["bench_cpu_per_100k"] = spent / max(r["requests"], 1) * 100000
    return r


class haproxy:
    def __init__(self, origin, port, directory):
        self.cfg = os.path.join(directory, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write("global\n  nbthread 1\n  maxconn 9000\n"
                    "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n"
                    "listen cql\n  bind 127.0.0.1:%d\n  server origin %s:%d\n" % (port, origin.address, origin.port))
        self.proc = h.process(["haproxy", "-db", "-f", self.cfg], name="haproxy")
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or self.proc.proc.poll() is not None:
                    raise RuntimeError("haproxy did not start:\n" + self.proc.output())
                time.sleep(0.1)
        self.pid = self.proc.proc.pid

    def stop(self):
        self.proc.stop()


class extra_proxy:
    def __init__(self, command, port, origin, target):
        argv = command.format(port=port, origin_host=origin.address, origin_port=origin.port, target_host=target.address,
                              target_port=target.port)
        self.proc = h.process(["/bin/sh", "-c", "exec " + argv], name=argv)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        self.pid = self.proc.proc.pid

    def stop(self):
        self.proc.stop()


def open_files_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return 1024


def idle_connections_rss(instances, count):
    """Opens `count` client connections spread evenly over the proxy instances [(pid, port)],
    each through STARTUP (so the proxy holds its cluster connections too), and returns (RSS
    before, RSS with the first half open, RSS after) in KiB, summed over the instances. The
    second half's growth is the marginal cost of a client connection: by then every receive
    buffer of the worker's ring has been touched (each first STARTUP into a buffer maps a page,
    a fixed cost the first half pays), and nothing was freed for the second half to reuse."""
    startup = struct.pack(">H", 1) + struct.pack(">H", 11) + b"CQL_VERSION" + struct.pack(">H", 5) + b"3.0.0"
    frame = struct.pack(">BBhBI", 4, 0, 1, 1, len(startup)) + startup
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    before = sum(h.status_kb(pid, "VmRSS") for pid, _ in instances)
    socks = []
    try:
        mid = before
        for i in range(count):
            s = socket.create_connection(("127.0.0.1", instances[i % len(instances)][1]), timeout=10)
            s.sendall(frame)
            socks.append(s)
            if len(socks) % 500 == 0 or len(socks) == count // 2:
                for t in socks[-(len(socks) % 500 or 500):]:
                    t.recv(64)  # READY
            if len(socks) == count // 2:
                time.sleep(1)
                mid = sum(h.status_kb(pid, "VmRSS") for pid, _ in instances)
        for t in socks[len(socks) - len(socks) % 500:]:
            t.recv(64)
        time.sleep(1)
        after = sum(h.status_kb(pid, "VmRSS") for pid, _ in instances)
    finally:
        for s in socks:
            s.close()
    return before, mid, after


def connect_to_ready(port, count=200):
    """Median and p99 microseconds from connect() to READY, one client connection at a time."""
    startup = struct.pack(">H", 1) + struct.pack(">H", 11) + b"CQL_VERSION" + struct.pack(">H", 5) + b"3.0.0"
    frame = struct.pack(">BBhBI", 4, 0, 1, 1, len(startup)) + startup
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(frame)
        reply = s.recv(64)
        times.append((time.perf_counter() - t0) * 1e6)
        s.close()
        if len(reply) < 5 or reply[4] != 0x02:
            raise RuntimeError("no READY from port %d: %r" % (port, reply))
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def publish(text, markdown):
    """Prints a report and writes it to `markdown` when given."""
    print(text)
    if markdown:
        with open(markdown, "w") as f:
            f.write(text + "\n")


def gnuplot(work, png, rows, commands):
    """Writes `rows` (lines of numbers) as data.dat in `work` and draws `png` with gnuplot;
    `commands` (after the terminal settings) may name the data file as {dat}."""
    dat = os.path.join(work, "data.dat")
    with open(dat, "w") as f:
        f.write("".join(row + "\n" for row in rows))
    script = os.path.join(work, "plot.gp")
    with open(script, "w") as f:
        f.write('set terminal pngcairo size 900,540\nset output "%s"\n' % png)
        f.write(commands.replace("{dat}", dat))
    subprocess.run(["gnuplot", script], check=True)


def scaling(args, counts):
    """Requests/s and CPU per request of tandem with each worker count, the same load on each,
    interleaved rounds, medians. On 2 cores tandem shares CPU 1 (1 worker) or both CPUs (more)
    with the clusters and cqlbench; on a larger machine the clusters and cqlbench get the first
    half of the CPUs and tandem the rest."""
    cqlsim = os.path.join(args.build, "tools/cqlsim/cqlsim")
    cpus = os.cpu_count()
    bench_cpus = list(range(cpus // 2)) if cpus > 2 else [0]
    proxy_cpus = list(range(cpus // 2, cpus)) if cpus > 2 else [1]
    origin = h.cluster(cqlsim, "origin", "127.0.1.1", nodes=1)
    target = h.cluster(cqlsim, "target", "127.0.2.1", nodes=1)
    for c in (origin, target):
        os.sched_setaffinity(c.proc.proc.pid, bench_cpus)
    instances = {}
    results = {}
    try:
        for n in counts:
            t = h.tandem(os.path.join(args.build, "tools/tandem/tandem"), origin, target, workers=n,
                         settings={"heartbeat_interval_ms": 30000, "proxy_max_client_connections": 100000,
                                   "cluster_connections": args.cluster_connections})
            for tid in os.listdir("/proc/%d/task" % t.proc.proc.pid):
                os.sched_setaffinity(int(tid), proxy_cpus if cpus > 2 else [1] if n == 1 else [0, 1])
            instances[n] = t
        cqlbench(args.build, "127.0.0.1", instances[counts[0]].port, "latency", 0.2, args.rate, True)
        for _ in range(args.rounds):
            for n, t in instances.items():
                pid = t.proc.proc.pid
                c0 = cpu_seconds(pid)
                r = cqlbench(args.build, "127.0.0.1", t.port, "throughput-%d" % (8 * n), args.seconds, args.rate, False)
                r["cpu_per_100k"] = (cpu_seconds(pid) - c0) / max(r["requests"], 1) * 100000
                results.setdefault(n, []).append(r)
    finally:
        for t in instances.values():
            t.stop()
        origin.stop()
        target.stop()
    where = ("tandem on CPUs %s, clusters and cqlbench on %s" % (proxy_cpus, bench_cpus) if cpus > 2 else
             "1 worker on CPU 1, more on both CPUs; clusters and cqlbench on CPU 0")
    lines = ["Scaling with workers: %d CPUs, %s; cluster_connections %s; throughput shape (8 connections per worker x 32 "
             "in flight), medians of %d rounds of %.0f s." % (cpus, where, args.cluster_connections, args.rounds, args.seconds), "",
             "| workers | req/s | vs 1 worker | p50 µs | p99 µs | tandem CPU s / 100k req |", "|---|---|---|---|---|---|"]
    base = statistics.median(r["throughput"] for r in results[counts[0]])
    for n in counts:
        tp = statistics.median(r["throughput"] for r in results[n])
        lines.append("| %d | %.0f | %.2fx | %.0f | %.0f | %.2f |" % (
            n, tp, tp / base, statistics.median(r["latency_us"]["p50"] for r in results[n]),
            statistics.median(r["latency_us"]["p99"] for r in results[n]), statistics.median(r["cpu_per_100k"] for r in results[n])))
    publish("\n".join(lines), args.markdown)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--markdown")
    ap.add_argument("--plot")
    ap.add_argument("--idle", type=int, default=0, help="client connections for the memory check (0: skip)")
    ap.add_argument("--extra", action="append", default=[], help="NAME=COMMAND of another proxy to compare")
    ap.add_argument("--protocol", type=int, choices=(4, 5), default=4, help="native protocol version cqlbench speaks")
    ap.add_argument("--workers", help="comma-separated worker counts: only the scaling table (throughput shape, "
                                       "tandem with each count, unpinned on a machine with more cores than 2)")
    ap.add_argument("--cluster-connections", choices=("PER_CLIENT", "SHARED"), default="PER_CLIENT",
                    help="tandem's cluster_connections in the scaling table (--workers)")
    ap.add_argument("--spin-us", type=int, default=50,
                    help="also measure tandem in latency mode (proxy_busy_poll_us) as target tandem-spin (0: skip)")
    ap.add_argument("--no-journal", action="store_true", help="skip the tandem-journal target (write_mode DUAL_ASYNC_ON_SECONDARY)")
    ap.add_argument("--no-shared", action="store_true", help="skip the tandem-shared target (cluster_connections SHARED)")
    args = ap.parse_args()
    global PROTOCOL
    PROTOCOL = args.protocol
    work = tempfile.mkdtemp(prefix="tandem-bench-")
    if args.workers:
        return scaling(args, [int(n) for n in args.workers.split(",")])
    cqlsim = os.path.join(args.build, "tools/cqlsim/cqlsim")
    origin = h.cluster(cqlsim, "origin", "127.0.1.1", nodes=1)
    target = h.cluster(cqlsim, "target", "127.0.2.1", nodes=1)
    for c in (origin, target):
        pin(c.proc.proc.pid, 0)
    proxies = {}
    endpoints = {"direct": (origin.address, origin.port, None)}
    results = {}
    idle = None
    idle_shared = None
    ready_times = {}
    try:
        t = h.tandem(os.path.join(args.build, "tools/tandem/tandem"), origin, target, workers=1,
                     settings={"heartbeat_interval_ms": 30000, "proxy_max_client_connections": 100000})
        pin_tree(t.proc.proc.pid, 1)
        proxies["tandem"] = t
        endpoints["tandem"] = ("127.0.0.1", t.port, t.proc.proc.pid)
        spin = None
        if args.spin_us:
            spin = h.tandem(os.path.join(args.build, "tools/tandem/tandem"), origin, target, workers=1,
                            settings={"heartbeat_interval_ms": 30000, "proxy_max_client_connections": 100000,
                                      "proxy_busy_poll_us": args.spin_us})
            pin_tree(spin.proc.proc.pid, 1)
            proxies["tandem-spin"] = spin
            endpoints["tandem-spin"] = ("127.0.0.1", spin.port, spin.proc.proc.pid)
        if not args.no_shared:
            sh = h.tandem(os.path.join(args.build, "tools/tandem/tandem"), origin, target, workers=1,
                          settings={"heartbeat_interval_ms": 30000, "proxy_max_client_connections": 100000,
                                    "cluster_connections": "SHARED"})
            pin_tree(sh.proc.proc.pid, 1)
            proxies["tandem-shared"] = sh
            endpoints["tandem-shared"] = ("127.0.0.1", sh.port, sh.proc.proc.pid)
        if not args.no_journal:
            jt = h.tandem(os.path.join(args.build, "tools/tandem/tandem"), origin, target, workers=1,
                          settings={"heartbeat_interval_ms": 30000, "proxy_max_client_connections": 100000,
                                    "write_mode": "DUAL_ASYNC_ON_SECONDARY",
                                    "write_journal_dir": os.path.join(work, "journal")})
            pin_tree(jt.proc.proc.pid, 1)
            proxies["tandem-journal"] = jt
            endpoints["tandem-journal"] = ("127.0.0.1", jt.port, jt.proc.proc.pid)
        if shutil.which("haproxy"):
            hp = haproxy(origin, h.free_port(), work)
            pin(hp.pid, 1)
            proxies["haproxy"] = hp
            endpoints["haproxy"] = ("127.0.0.1", int(open(hp.cfg).read().split("bind 127.0.0.1:")[1].split()[0]), hp.pid)
        for spec in args.extra:
            name, command = spec.split("=", 1)
            port = h.free_port()
            e = extra_proxy(command, port, origin, target)
            pin(e.pid, 1)
            proxies[name] = e
            endpoints[name] = ("127.0.0.1", port, e.pid)
        # Schema, created through tandem so both clusters have it.
        cqlbench(args.build, "127.0.0.1", t.port, "latency", 0.2, args.rate, True)
        for shape in ("latency", "rate", "throughput"):
            for _ in range(args.rounds):
                for name, (host, port, pid) in endpoints.items():
                    cpu0 = cpu_seconds(pid) if pid else 0
                    r = cqlbench(args.build, host, port, shape, args.seconds, args.rate, False)
                    r["cpu_per_100k"] = (cpu_seconds(pid) - cpu0) / max(r["requests"], 1) * 100000 if pid else None
                    results.setdefault((shape, name), []).append(r)
        for name, (host, port, pid) in endpoints.items():
            if pid:
                for r in results[("throughput", name)]:
                    r["rss_peak_kb"] = h.status_kb(pid, "VmHWM")
        idle_cpu = {}
        for name in ("tandem", "tandem-spin"):  # an idle instance must not burn a core
            if name in endpoints:
                pid = endpoints[name][2]
                c0 = cpu_seconds(pid)
                time.sleep(5)
                idle_cpu[name] = (cpu_seconds(pid) - c0) / 5 * 100
        ready_times = {name: connect_to_ready(endpoints[name][1]) for name in ("tandem", "tandem-shared") if name in endpoints}
        if args.idle:
            # Each client connection holds three sockets in tandem (client, origin, target): past
            # the per-process open-files limit the connections are spread over more instances, as
            # a ZDM deployment runs several.
            limit = open_files_limit(t.proc.proc.pid)
            per_instance = max(1, (limit - 200) // 3)
            count = -(-args.idle // per_instance)
            instances = [(t.proc.proc.pid, t.port)]
            for _ in range(count - 1):
                more = h.tandem(os.path.join(args.build, "tools/tandem/tandem"), origin, target, workers=1,
                                settings={"heartbeat_interval_ms": 30000, "proxy_max_client_connections": 100000})
                pin_tree(more.proc.proc.pid, 1)
                proxies["tandem-idle-%d" % len(instances)] = more
                instances.append((more.proc.proc.pid, more.port))
            before, mid, after = idle_connections_rss(instances, args.idle)
            idle = (before, mid, after, len(instances), limit)
            if "tandem-shared" in endpoints:
                # One socket per client connection: one instance holds them all.
                idle_shared = idle_connections_rss([(endpoints["tandem-shared"][2], endpoints["tandem-shared"][1])], args.idle)
    finally:
        for p in proxies.values():
            p.stop()
        origin.stop()
        target.stop()

    def med(shape, name, f):
        vals = [f(r) for r in results[(shape, name)] if f(r) is not None]
        return statistics.median(vals) if vals else None

    lines = []
    lines.append("Machine: %s, %d CPUs, kernel %s. Proxy pinned to CPU 1; cqlsim clusters and cqlbench pinned to CPU 0. "
                 "Medians of %d interleaved rounds of %.0f s; workload: prepared statements, 50%% SELECT by key / 50%% INSERT "
                 "(100-byte values, 10,000 keys), protocol v%d; rate shape: %d requests/s." % (
                     platform.processor() or platform.machine(), os.cpu_count(), platform.release(), args.rounds,
                     args.seconds, args.protocol, args.rate))
    lines.append("")
    lines.append("| shape | target | req/s | p50 µs | p99 µs | p99.9 µs | proxy CPU s / 100k req | vs direct (req/s, p50, p99) | vs HAProxy (req/s, p50, p99, CPU) |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for shape in ("latency", "rate", "throughput"):
        for name in endpoints:
            tp = med(shape, name, lambda r: r["throughput"])
            p50 = med(shape, name, lambda r: r["latency_us"]["p50"])
            p99 = med(shape, name, lambda r: r["latency_us"]["p99"])
            p999 = med(shape, name, lambda r: r["latency_us"]["p99.9"])
            cpu = med(shape, name, lambda r: r.get("cpu_per_100k"))
            dtp, d50, d99 = (med(shape, "direct", lambda r, k=k: r["throughput"] if k == 0 else r["latency_us"]["p50" if k == 1 else "p99"])
                             for k in range(3))
            vs_direct = "%.2fx, %.2fx, %.2fx" % (tp / dtp, p50 / d50, p99 / d99) if name != "direct" else "—"
            if "haproxy" in endpoints and name not in ("haproxy", "direct"):
                htp = med(shape, "haproxy", lambda r: r["throughput"])
                h50 = med(shape, "haproxy", lambda r: r["latency_us"]["p50"])
                h99 = med(shape, "haproxy", lambda r: r["latency_us"]["p99"])
                hcpu = med(shape, "haproxy", lambda r: r.get("cpu_per_100k"))
                vs_hap = "%.2fx, %.2fx, %.2fx, %s" % (tp / htp, p50 / h50, p99 / h99, "%.2fx" % (cpu / hcpu) if cpu and hcpu else "—")
            else:
                vs_hap = "—"
            errors = sum(r["errors"] for r in results[(shape, name)])
            lines.append("| %s | %s | %.0f | %.0f | %.0f | %.0f | %s | %s | %s |%s" % (
                shape, name, tp, p50, p99, p999, "%.2f" % cpu if cpu is not None else "—", vs_direct, vs_hap,
                "" if errors == 0 else " %d errors" % errors))
    lines.append("")
    for name, (host, port, pid) in endpoints.items():
        if pid:
            rss = med("throughput", name, lambda r: r.get("rss_peak_kb"))
            lines.append("- %s peak RSS (VmHWM) after the runs: %.1f MiB" % (name, rss / 1024))
    for name, pct in idle_cpu.items():
        lines.append("- %s idle (no client traffic, 5 s): %.2f%% of a core%s" % (
            name, pct, " (latency mode: proxy_busy_poll_us %d)" % args.spin_us if name == "tandem-spin" else ""))
    if idle:
        before, mid, after, instances, limit = idle
        spread = "" if instances == 1 else (" over %d tandem instances (this machine allows %d open files per process; "
                                            "each client connection holds 3 sockets in tandem)" % (instances, limit))
        lines.append("- tandem with %d idle client connections%s (each with its origin and target connection): RSS %.1f MiB "
                     "-> %.1f MiB, %.2f KiB per client connection (the second half's growth)" % (
                         args.idle, spread, before / 1024, after / 1024, (after - mid) / (args.idle - args.idle // 2)))
    if idle_shared:
        before, mid, after = idle_shared
        lines.append("- tandem-shared with %d idle client connections (cluster connections shared): RSS %.1f MiB -> %.1f MiB, "
                     "%.2f KiB per client connection (the second half's growth)" % (
                         args.idle, before / 1024, after / 1024, (after - mid) / (args.idle - args.idle // 2)))
    for name, (p50, p99) in ready_times.items():
        lines.append("- %s client connect-to-READY (connect, STARTUP, READY; 200 one at a time): median %.0f µs, p99 %.0f µs" % (
            name, p50, p99))
    bench_cpu = med("throughput", "direct", lambda r: r["bench_cpu_per_100k"])
    tandem_cpu = med("throughput", "tandem", lambda r: r.get("cpu_per_100k"))
    lines.append("- cqlbench's own CPU under the throughput load: %.2f s per 100k requests (tandem: %.2f, so one core of "
                 "cqlbench drives %.1fx what one core of tandem forwards; it includes warm-up)" % (
                     bench_cpu, tandem_cpu, tandem_cpu / bench_cpu if bench_cpu else 0))
    publish("\n".join(lines), args.markdown)
    if args.plot and shutil.which("gnuplot"):
        rows = ["%d %s" % (i, " ".join("%.1f" % med("rate", n, lambda r, p=p: r["latency_us"][p]) for n in endpoints))
                for i, p in enumerate(PERCENTILES)]
        gnuplot(work, args.plot, rows,
                'set title "Latency at %d requests/s (open loop, from the intended send time)"\n' % args.rate +
                'set ylabel "latency (µs)"\nset logscale y\nset grid\nset key left top\n' +
                "set xtics (%s)\n" % ", ".join('"%s" %d' % (p, i) for i, p in enumerate(PERCENTILES)) +
                "plot " + ", ".join('"{dat}" using 1:%d with linespoints title "%s"' % (i + 2, n) for i, n in enumerate(endpoints)) + "\n")
        print("plot: %s" % args.plot)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
