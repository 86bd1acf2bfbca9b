#!/usr/bin/python3
"""Memory while the target stalls: what tandem holds per request in flight.

One cqlsim node per cluster on CPU 0 (with cqlbench), tandem with one worker on CPU 1. cqlbench
runs open loop (--rate, 64 connections, mixed workload, requests sent every 200 µs as gocql
coalesces writes). After --before seconds the target cluster is stopped (SIGSTOP) for --stall
seconds, then continued; the run goes on for --after seconds. Every --every seconds this script
samples tandem's RSS (VmRSS) and the requests in flight and held (its admin API).

Reports, per --cluster-connections mode given: RSS before the stall (median of the samples before
it), the peak during it, the most requests in tandem (in flight or held before a cluster), RSS
--after seconds later (last sample), and the bytes tandem grew per request it had: (peak RSS - RSS
before) / that most. Each stall is repeated --runs times (a fresh tandem and clusters each
time); the medians are reported. What the stall holds must come back: the verdict asks that the
last sample is within 25% of the growth above the RSS before (no leak), and no error reached a
client except a timeout (WRITE_TIMEOUT or READ_TIMEOUT: a request that waited longer than
proxy_request_timeout_ms).

Usage: stall.py <build dir> [--rate 40000] [--stall 1.5] [--runs 3] [--cluster-connections SHARED,PER_CLIENT]
                [--no-client-timestamps] [--setting KEY=VALUE ...] [--markdown F]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import shutil

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e"))
import tandem_harness as h  # noqa: E402
from compare import publish  # noqa: E402
from soak import bench_argv, on_cpu0, rig  # noqa: E402


# The errors tandem answers a request it gave up on with (proxy_request_timeout_ms, 10 s here).
TIMEOUTS = {"WRITE_TIMEOUT", "READ_TIMEOUT"}


def status(t):
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/status" % t.http_port, timeout=5) as r:
        return json.loads(r.read().decode())


def one_stall(args, mode):
    settings = {"proxy_request_timeout_ms": 10000}
    for kv in args.setting:
        key, _, value = kv.partition("=")
        settings[key] = int(value) if value.lstrip("-").isdigit() else value
    work, origin, target, t = rig(args.build, mode, "tandem-stall-", settings)
    pid = t.proc.proc.pid
    samples = []
    stopped = False
    try:
        p = subprocess.run(bench_argv(args.build, t.port, 1, schema=True), capture_output=True, text=True, timeout=60, preexec_fn=on_cpu0)
        assert p.returncode == 0, p.stderr
        seconds = args.before + args.stall + args.after
        argv = bench_argv(args.build, t.port, seconds, rate=args.rate, coalesce_us=200, batch_replies=True)
        if not args.client_timestamps:
            argv.append("--no-client-timestamps")
        load = subprocess.Popen(argv,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=on_cpu0)
        start = time.time()
        phase = "before"
        while load.poll() is None:
            time.sleep(args.every)
            now = time.time() - start
            if phase == "before" and now >= args.before:
                target.proc.signal(signal.SIGSTOP)
                stopped, phase = True, "stall"
            elif phase == "stall" and now >= args.before + args.stall:
                target.proc.signal(signal.SIGCONT)
                stopped, phase = False, "after"
            try:
                s = status(t)
            except OSError:
                continue
            samples.append({"t": now, "phase": phase, "rss_kb": h.status_kb(pid, "VmRSS"), "inflight": s["inflight"], "held": s["held"],
                            "errors": s["errors"]})
        out, err = load.communicate()
        assert load.returncode == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
    finally:
        if stopped:
            target.proc.signal(signal.SIGCONT)
        t.stop()
        origin.stop()
        target.stop()
        shutil.rmtree(work, ignore_errors=True)
    before = sorted(s["rss_kb"] for s in samples if s["phase"] == "before" and s["t"] >= 1)
    rss_before = before[len(before) // 2]
    peak = max(samples, key=lambda s: s["rss_kb"])
    most = max(s["inflight"] + s["held"] for s in samples)
    return {"before": rss_before, "peak": peak["rss_kb"], "after": samples[-1]["rss_kb"], "inflight": most,
            "per_request": (peak["rss_kb"] - rss_before) * 1024 / max(most, 1), "requests": summary["requests"],
            "errors": summary["errors"], "errors_by_kind": summary.get("errors_by_kind", {})}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--rate", type=int, default=40000)
    ap.add_argument("--before", type=float, default=4)
    ap.add_argument("--stall", type=float, default=1.5)
    ap.add_argument("--after", type=float, default=6)
    ap.add_argument("--every", type=float, default=0.05)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cluster-connections", default="SHARED,PER_CLIENT")
    ap.add_argument("--no-client-timestamps", dest="client_timestamps", action="store_false",
                    help="cqlbench sends no default timestamp: tandem adds one to every dual write (a body of its own)")
    ap.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                    help="another tandem setting for every run (repeatable), e.g. cluster_connections_per_node=2")
    ap.add_argument("--markdown")
    args = ap.parse_args()
    lines = ["Target stalled (SIGSTOP) %.1f s under cqlbench open loop at %d req/s (64 connections, mixed workload), "
             "tandem with one worker on CPU 1%s; requests %s; medians of %d runs." % (
                 args.stall, args.rate, "".join(", " + kv for kv in args.setting),
                 "with client timestamps (as drivers send)" if args.client_timestamps else "without client timestamps",
                 args.runs), "",
             "| mode | RSS before | peak | in flight or held, at most | bytes per request in flight | RSS %.0f s after | requests | errors |" % args.after,
             "|---|---|---|---|---|---|---|---|"]
    ok = True
    for mode in args.cluster_connections.split(","):
        runs = [one_stall(args, mode) for _ in range(args.runs)]
        for r in runs:
            print("%s: %s" % (mode, json.dumps(r)), flush=True)
            # What the stall took comes back: the last sample within 25% of the growth (no leak).
            if r["after"] - r["before"] > 0.25 * max(r["peak"] - r["before"], 1):
                ok = False
            if any(k not in TIMEOUTS for k in r["errors_by_kind"]):
                ok = False

        def med(k):
            v = sorted(r[k] for r in runs)
            return v[len(v) // 2]
        lines.append("| %s | %.1f MiB | %.1f MiB | %d | %.0f | %.1f MiB | %d | %d |" % (
            mode, med("before") / 1024, med("peak") / 1024, med("inflight"), med("per_request"), med("after") / 1024,
            med("requests"), med("errors")))
    lines.append("")
    lines.append("verdict: %s" % ("PASS (what the stall held came back, no error but timeouts)" if ok else "FAIL"))
    publish("\n".join(lines), args.markdown)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
