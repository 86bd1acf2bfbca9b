#!/usr/bin/python3
"""The soak: tandem under 80% of its measured maximum for 10 minutes, watched every 10 s.

One cqlsim node per cluster, tandem with one worker (pinned to CPU 1; clusters and cqlbench to
CPU 0, as in compare.py).

First the maximum, in the soak's own shape: cqlbench closed loop (64 connections x 8 in flight,
mixed workload, --probe seconds) gives an upper bound, then a binary search over open-loop rates
below it keeps the highest that is sustained (every request sent on time, no error, p99 under
--slo-ms). --maximum closed takes the closed loop's throughput instead; --rate N skips both.

Then cqlbench open loop at --load (default 0.8) of the maximum, 64 connections, for --seconds.
The open loop sends what fell due every --coalesce-us (default 200 µs, gocql's default write
coalescing; latency still counts from each request's due time): woken for every request, it made
a wake-up and a segment per request for everything on CPU 0, and straight to one cqlsim node,
without tandem, could not hold 70% of the closed-loop maximum. It handles the replies at those ticks
too (cqlbench --batch-replies; --no-batch-replies: as they arrive): straight to one cqlsim node at
40k req/s that took cqlbench from 41% to 27% of CPU 0 (medians of 3), a reply waiting up to 200 µs. Meanwhile this script samples,
every --every seconds, tandem's RSS (VmRSS), open fds, CPU (/proc) and the last minute's p99 and
errors, the requests in flight and held (its admin API), the CPU of CPU 0's processes (origin, target, cqlbench) and how long each
waited for the core while runnable (/proc schedstat), each CPU's idle and
steal time (/proc/stat: steal is the host running another guest). Beside it,
a probe (--probe-rate requests/s, one connection) straight to each cluster: a stall one sees too
is that cluster's, not tandem's. Verdict: after the first minute RSS stays within 5% and fds
within 2 of their first values, and neither cqlbench nor tandem counted an error. Writes
--markdown and --plot.

Usage: soak.py <build dir> [--seconds 600] [--every 10] [--probe 30] [--load 0.8] [--maximum open|closed] [--slo-ms 100]
                 [--rate N] [--coalesce-us 200] [--cluster-connections SHARED] [--markdown F] [--plot F]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e"))
import tandem_harness as h  # noqa: E402
from compare import cpu_seconds, gnuplot, pin, pin_tree, publish  # noqa: E402


def bench_argv(build, port, seconds, rate=None, schema=False, host="127.0.0.1", connections=64, depth=8, coalesce_us=0, batch_replies=False):
    argv = [os.path.join(build, "tools/cqlbench/cqlbench"), "--host", host, "--port", str(port), "--routing", "contact-point",
            "--workload", "mixed", "--connections", str(connections), "--depth", str(depth), "--duration", str(seconds), "--warmup", "1",
            "--keys", "100000", "--json"]
    if rate:
        argv += ["--rate", str(rate), "--coalesce-us", str(coalesce_us)]
        if batch_replies and coalesce_us:
            argv.append("--batch-replies")
    if not schema:
        argv.append("--no-schema")
    return argv


def on_cpu0():
    """preexec_fn: every cqlbench of the soak (the closed loop, the search, the load, the probes) starts
    on CPU 0 with the clusters, so the maximum is measured on the same cores the soak then has."""
    if os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {0})


def rig(build, mode, prefix, settings=None):
    """The soak's placement: one cqlsim node per cluster on CPU 0, tandem (cluster_connections
    `mode`) with one worker on CPU 1. Returns (work directory, origin, target, tandem)."""
    os.environ["TANDEM_TEST_CLUSTER_CONNECTIONS"] = mode  # read by the harness
    work = tempfile.mkdtemp(prefix=prefix)
    cqlsim = os.path.join(build, "tools/cqlsim/cqlsim")
    origin = h.cluster(cqlsim, "origin", "127.0.1.1", nodes=1)
    target = h.cluster(cqlsim, "target", "127.0.2.1", nodes=1)
    for c in (origin, target):
        pin(c.proc.proc.pid, 0)
    t = h.tandem(os.path.join(build, "tools/tandem/tandem"), origin, target, workers=1, directory=work,
                 settings=dict({"proxy_max_client_connections": 100000}, **(settings or {})))
    pin_tree(t.proc.proc.pid, 1)
    return work, origin, target, t


def cpu_times():
    """/proc/stat's per-CPU ticks: {cpu: (idle, steal)}. Idle includes iowait (a process asleep in
    io_uring_enter with requests in flight counts as iowait); steal is the host running another guest."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                v = line.split()
                out[int(v[0][3:])] = (int(v[4]) + int(v[5]), int(v[8]))
    return out


def waited_seconds(pid):
    """Seconds the process's threads spent runnable but waiting for a CPU (/proc/PID/task/*/schedstat,
    second field): with CPU 0 saturated its processes wait about as long as they run."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def sustained(summary, rate, slo_ms):
    """An open-loop run kept up: every request sent on time and answered, p99 under the SLO."""
    return summary["errors"] == 0 and summary["throughput"] >= 0.99 * rate and summary["latency_us"]["p99"] <= slo_ms * 1000


def open_loop_maximum(args, port, closed):
    """The highest open-loop rate (between 20% and 100% of the closed-loop throughput) that is
    sustained, by binary search; returns it and the rates tried."""
    lo, hi, best, tried = 0.2, 1.0, None, []
    for _ in range(args.steps):
        f = (lo + hi) / 2
        rate = int(closed * f)
        p = subprocess.run(bench_argv(args.build, port, args.probe, rate=rate, coalesce_us=args.coalesce_us, batch_replies=args.batch_replies),
                           capture_output=True, text=True,
                           timeout=args.probe * 4 + 60, preexec_fn=on_cpu0)
        assert p.returncode == 0, p.stderr
        summary = json.loads(p.stdout.strip().splitlines()[-1])
        ok = sustained(summary, rate, args.slo_ms)
        tried.append((rate, summary["latency_us"]["p99"] / 1000, ok))
        print("open loop at %d req/s (%.0f%% of closed): p99 %.1f ms, %d errors: %s" % (
            rate, f * 100, summary["latency_us"]["p99"] / 1000, summary["errors"], "sustained" if ok else "not sustained"), flush=True)
        if ok:
            lo, best = f, rate
        else:
            hi = f
        time.sleep(2)  # let a backlog drain before the next rate
    if best is None:
        raise SystemExit("no open-loop rate down to %d req/s was sustained (p99 under %.0f ms)" % (int(closed * lo), args.slo_ms))
    return best, tried


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--every", type=float, default=10)
    ap.add_argument("--probe", type=float, default=30, help="seconds of the closed loop and of each step of the search")
    ap.add_argument("--load", type=float, default=0.8)
    ap.add_argument("--maximum", choices=("open", "closed"), default="open",
                    help="open: the highest open-loop rate sustained (searched); closed: the closed-loop throughput")
    ap.add_argument("--coalesce-us", type=float, default=200,
                    help="the load's cqlbench sends what is due every this many µs, as gocql does by default (0: one wake-up per request)")
    ap.add_argument("--no-batch-replies", dest="batch_replies", action="store_false",
                    help="cqlbench handles replies as they arrive (default: at its send ticks, --batch-replies: about a third less "
                         "of the clusters' core for the load generator)")
    ap.add_argument("--rate", type=int, help="soak at this many requests/s; skips measuring the maximum")
    ap.add_argument("--slo-ms", type=float, default=100, help="p99 a sustained open-loop rate stays under")
    ap.add_argument("--steps", type=int, default=6, help="binary search steps for --maximum open")
    ap.add_argument("--probe-rate", type=int, default=200, help="requests/s of each probe straight to a cluster")
    ap.add_argument("--cluster-connections", choices=("PER_CLIENT", "SHARED"), default="PER_CLIENT",
                    help="tandem's cluster_connections setting")
    ap.add_argument("--markdown")
    ap.add_argument("--plot")
    args = ap.parse_args()
    work, origin, target, t = rig(args.build, args.cluster_connections, "tandem-soak-")
    pid = t.proc.proc.pid
    samples = []
    try:
        # The closed loop also creates the schema (so with --rate it runs 1 s, for that alone).
        p = subprocess.run(bench_argv(args.build, t.port, 1 if args.rate else args.probe, schema=True), capture_output=True, text=True,
                           timeout=args.probe * 4 + 60, preexec_fn=on_cpu0)
        assert p.returncode == 0, p.stderr
        closed = json.loads(p.stdout.strip().splitlines()[-1])["throughput"]
        maximum, search = None, []
        if args.rate:
            rate = args.rate
        else:
            print("closed loop: %.0f req/s" % closed, flush=True)
            maximum = closed
            if args.maximum == "open":
                maximum, search = open_loop_maximum(args, t.port, closed)
            rate = int(maximum * args.load)
            print("maximum %.0f req/s" % maximum, flush=True)
        print("soaking at %d req/s for %.0f s" % (rate, args.seconds), flush=True)
        load = subprocess.Popen(bench_argv(args.build, t.port, args.seconds, rate=rate, coalesce_us=args.coalesce_us, batch_replies=args.batch_replies),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=on_cpu0)
        # The probes: a light load straight to each cluster (not through tandem), beside the soak:
        # a stall one sees too is that cluster's (or its CPU's), not tandem's.
        probes = {}
        for name, c in (("origin", origin), ("target", target)):
            probes[name] = subprocess.Popen(bench_argv(args.build, c.port, args.seconds, rate=args.probe_rate, host=c.address,
                                                       connections=1, depth=1), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                              preexec_fn=on_cpu0)
        start = time.time()
        cpu0 = cpu_seconds(pid)
        # CPU 0's processes too, per sample: which of them had the core when a stall came.
        others = {"origin": origin.proc.proc.pid, "target": target.proc.proc.pid, "cqlbench": load.pid}
        others_cpu = {k: cpu_seconds(v) for k, v in others.items()}
        others_wait = {k: waited_seconds(v) for k, v in others.items()}
        ticks, hz = cpu_times(), os.sysconf("SC_CLK_TCK")
        while load.poll() is None:
            time.sleep(args.every)
            if load.poll() is not None:
                break
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/status" % t.http_port, timeout=5) as r:
                s = json.loads(r.read().decode())
            cpu = cpu_seconds(pid)
            samples.append({"t": time.time() - start, "rss_kb": h.status_kb(pid, "VmRSS"), "fds": len(os.listdir("/proc/%d/fd" % pid)),
                            "cpu_pct": (cpu - cpu0) / args.every * 100, "p99_ms": s["last_minute"]["p99_ms"],
                            "req_s": s["last_minute"]["requests_per_s"], "errors": s["errors"],
                            "inflight": s["inflight"], "held": s["held"]})
            cpu0 = cpu
            now_cpu = {k: cpu_seconds(v) for k, v in others.items()}
            samples[-1]["cpu0"] = {k: (now_cpu[k] - others_cpu[k]) / args.every * 100 for k in others}
            others_cpu = now_cpu
            now_wait = {k: waited_seconds(v) for k, v in others.items()}
            samples[-1]["wait0"] = {k: (now_wait[k] - others_wait[k]) / args.every * 100 for k in others}
            others_wait = now_wait
            now_ticks = cpu_times()
            samples[-1]["idle"] = {c: (now_ticks[c][0] - ticks[c][0]) / hz / args.every * 100 for c in (0, 1) if c in now_ticks}
            samples[-1]["steal"] = {c: (now_ticks[c][1] - ticks[c][1]) / hz / args.every * 100 for c in (0, 1) if c in now_ticks}
            ticks = now_ticks
            print("%6.0f s  rss %6.1f MiB  fds %4d  cpu %5.1f%%  p99 %6.3f ms  %8.0f req/s  errors %d  in flight %d  held %d  CPU 0: %s  idle/steal %s" % (
                samples[-1]["t"], samples[-1]["rss_kb"] / 1024, samples[-1]["fds"], samples[-1]["cpu_pct"], samples[-1]["p99_ms"],
                samples[-1]["req_s"], samples[-1]["errors"], samples[-1]["inflight"], samples[-1]["held"],
                " ".join("%s %.0f%% (waited %.0f%%)" % (k, v, samples[-1]["wait0"][k]) for k, v in samples[-1]["cpu0"].items()),
                " ".join("cpu%d %.0f/%.0f%%" % (c, samples[-1]["idle"][c], samples[-1]["steal"][c]) for c in samples[-1]["idle"])), flush=True)
        out, err = load.communicate()
        assert load.returncode == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
        direct = {}
        for name, probe in probes.items():
            out, err = probe.communicate()
            assert probe.returncode == 0, err
            direct[name] = json.loads(out.strip().splitlines()[-1])
    finally:
        t.stop()
        origin.stop()
        target.stop()

    settled = [s for s in samples if s["t"] >= 60] or samples
    rss0, fds0 = settled[0]["rss_kb"], settled[0]["fds"]
    rss_drift = max(abs(s["rss_kb"] - rss0) / rss0 for s in settled)
    fds_drift = max(abs(s["fds"] - fds0) for s in settled)
    errors = summary["errors"] + samples[-1]["errors"]
    ok = rss_drift <= 0.05 and fds_drift <= 2 and errors == 0
    if args.rate:
        how = "given (--rate)"
    elif search:
        how = ("the highest open-loop rate sustained with p99 under %.0f ms, searched below the closed loop's %.0f req/s: %s" % (
            args.slo_ms, closed, ", ".join("%d %s (p99 %.1f ms)" % (r, "yes" if ok else "no", p99) for r, p99, ok in search)))
    else:
        how = "closed loop, 64 connections x 8 in flight"
    lines = ["Soak: %.0f s at %d req/s (%s), cqlbench open loop (%s), 64 connections, mixed "
             "workload (50%% SELECT / 50%% INSERT, 100,000 keys), tandem (%s) with one worker pinned to CPU 1." % (
                 args.seconds, rate, "given" if maximum is None else "%.0f%% of the %.0f req/s measured first" % (args.load * 100, maximum),
                 ("requests sent every %.0f µs, as gocql coalesces writes%s" % (args.coalesce_us, ", replies handled at those ticks"
                                                                                  if args.batch_replies else ""))
                 if args.coalesce_us else "each request at its time",
                 args.cluster_connections),
             "",
             "- maximum: %s" % how,
             "- cqlbench: %d requests, %.0f req/s, p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, %d errors%s" % (
                 summary["requests"], summary["throughput"], summary["latency_us"]["p50"], summary["latency_us"]["p99"],
                 summary["latency_us"]["p99.9"], summary["errors"],
                 " (%s)" % ", ".join("%s %d" % kv for kv in sorted(summary.get("errors_by_kind", {}).items()))
                 if summary.get("errors_by_kind") else ""),
             "- tandem RSS after the first minute: %.1f MiB first, %.1f-%.1f MiB (drift %.1f%%); fds %d first, %d-%d" % (
                 rss0 / 1024, min(s["rss_kb"] for s in settled) / 1024, max(s["rss_kb"] for s in settled) / 1024, rss_drift * 100, fds0,
                 min(s["fds"] for s in settled), max(s["fds"] for s in settled)),
             *["- probe straight to %s (%d req/s, one connection, beside the soak): p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, "
               "max %.0f µs, %d errors" % (name, args.probe_rate, d["latency_us"]["p50"], d["latency_us"]["p99"],
                                           d["latency_us"]["p99.9"], d["latency_us"].get("max", 0), d["errors"])
               for name, d in direct.items()],
             "- tandem CPU %.0f-%.0f%% of a core; last-minute p99 %.2f-%.2f ms; errors counted by tandem: %d" % (
                 min(s["cpu_pct"] for s in samples), max(s["cpu_pct"] for s in samples), min(s["p99_ms"] for s in settled),
                 max(s["p99_ms"] for s in settled), samples[-1]["errors"]),
             "- requests in tandem per sample: in flight %d-%d (median %d), held before a cluster %d-%d (median %d)" % (
                 min(s["inflight"] for s in samples), max(s["inflight"] for s in samples),
                 sorted(s["inflight"] for s in samples)[len(samples) // 2], min(s["held"] for s in samples),
                 max(s["held"] for s in samples), sorted(s["held"] for s in samples)[len(samples) // 2]) if samples else "no sample",
             "- CPU 0 (medians of the samples): %s" % ", ".join(
                 "%s ran %.0f%%, waited for the core %.0f%%" % (k, sorted(x["cpu0"][k] for x in samples)[len(samples) // 2],
                                                                sorted(x["wait0"][k] for x in samples)[len(samples) // 2])
                 for k in samples[0]["cpu0"]) if samples else "no sample",
             "- verdict: %s" % ("PASS (RSS within 5%, fds flat, no error)" if ok else "FAIL")]
    publish("\n".join(lines), args.markdown)
    if args.plot and shutil.which("gnuplot"):
        rows = ["%.0f %.2f %d %.3f %.1f" % (s["t"], s["rss_kb"] / 1024, s["fds"], s["p99_ms"], s["cpu_pct"]) for s in samples]
        gnuplot(work, args.plot, rows,
                'set title "tandem soak: %d req/s for %.0f s"\nset xlabel "seconds"\nset grid\n' % (rate, args.seconds) +
                'set ylabel "RSS (MiB), fds, CPU (% of a core)"\nset y2label "p99 (ms)"\nset ytics nomirror\nset y2tics\n'
                'plot "{dat}" using 1:2 with lines title "RSS MiB", "{dat}" using 1:3 with lines title "open fds", '
                '"{dat}" using 1:4 axes x1y2 with lines title "p99 ms", "{dat}" using 1:5 axes x1y1 with lines title "CPU %"\n')
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
