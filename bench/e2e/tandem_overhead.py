#!/usr/bin/python3
"""What tandem costs: the same prepared INSERT and SELECT load (cqlbench) directly against a
cqlsim cluster and through tandem in front of two cqlsim clusters (origin and target), runs
interleaved (direct, tandem, direct, tandem, ...), medians reported, tandem as a ratio to direct.

tandem runs one worker thread (one core's worth). Two shapes: "latency" (1 connection, 1 request in flight: the latency tandem adds) and
"throughput" (4 connections x 32 in flight). tandem's CPU seconds per 100k requests come from
/proc/<pid>/stat (utime + stime) over each tandem run.

On a 2-core machine the comparison is not symmetric: through tandem every write is executed by
two cqlsim processes (origin and target) and tandem itself needs CPU, all sharing the same two
cores as cqlbench. The ratios are therefore an upper bound on tandem's cost; compare runs made
in the same invocation only.

Usage: tandem_overhead.py <build dir> [--seconds S] [--rounds N]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e"))
import tandem_harness as h  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cqlbench(build, host, port, workload, shape, seconds, schema):
    conns, depth = (1, 1) if shape == "latency" else (4, 32)
    argv = [os.path.join(build, "tools/cqlbench/cqlbench"), "--port", str(port), "--host", host, "--routing", "contact-point",
            "--workload", workload, "--connections", str(conns), "--depth", str(depth),
            "--duration", str(seconds), "--warmup", "0.5", "--keys", "10000", "--json"]
    if not schema:
        argv.append("--no-schema")
    p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds * 4 + 60)
    if p.returncode != 0:
        raise RuntimeError("cqlbench failed: " + p.stdout + p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    cqlsim = os.path.join(args.build, "tools/cqlsim/cqlsim")
    origin = h.cluster(cqlsim, "origin", "127.0.1.1", nodes=1)
    target = h.cluster(cqlsim, "target", "127.0.2.1", nodes=1)
    proxy = h.tandem(os.path.join(args.build, "tools/tandem/tandem"), origin, target,
                     settings={"heartbeat_interval_ms": 30000}, workers=1)
    results = {}
    try:
        # Schema once on each path (through tandem creates it on both clusters).
        cqlbench(args.build, "127.0.0.1", proxy.port, "insert", "latency", 0.2, True)
        for shape in ("latency", "throughput"):
            for workload in ("insert", "select"):
                runs = {"direct": [], "tandem": []}
                cpu = []
                for _ in range(args.rounds):
                    runs["direct"].append(cqlbench(args.build, origin.address, origin.port, workload, shape, args.seconds, False))
                    before = cpu_seconds(proxy.proc.proc.pid)
                    r = cqlbench(args.build, "127.0.0.1", proxy.port, workload, shape, args.seconds, False)
                    spent = cpu_seconds(proxy.proc.proc.pid) - before
                    cpu.append(spent / max(r["requests"], 1) * 100000)
                    runs["tandem"].append(r)
                results[(shape, workload)] = (runs, cpu)
    finally:
        proxy.stop()
        origin.stop()
        target.stop()

    def med(runs, f):
        return statistics.median(f(r) for r in runs)

    print("tandem against direct (cqlsim), medians of %d interleaved runs of %.0f s each" % (args.rounds, args.seconds))
    print()
    print("| shape | workload | direct req/s | tandem req/s | ratio | direct p50 µs | tandem p50 µs | added p50 µs "
          "| direct p99 µs | tandem p99 µs | tandem CPU s / 100k req |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (shape, workload), (runs, cpu) in results.items():
        d_tp = med(runs["direct"], lambda r: r["throughput"])
        t_tp = med(runs["tandem"], lambda r: r["throughput"])
        d50 = med(runs["direct"], lambda r: r["latency_us"]["p50"])
        t50 = med(runs["tandem"], lambda r: r["latency_us"]["p50"])
        d99 = med(runs["direct"], lambda r: r["latency_us"]["p99"])
        t99 = med(runs["tandem"], lambda r: r["latency_us"]["p99"])
        errors = sum(r["errors"] for r in runs["direct"] + runs["tandem"])
        print("| %s | %s | %.0f | %.0f | %.2fx | %.0f | %.0f | %+.0f | %.0f | %.0f | %.2f |%s" % (
            shape, workload, d_tp, t_tp, t_tp / d_tp, d50, t50, t50 - d50, d99, t99, statistics.median(cpu),
            "" if errors == 0 else " (%d errors)" % errors))


if __name__ == "__main__":
    main()
