#!/usr/bin/python3
"""tandem-migrate's speed against the target's ingest capacity, in one run.

1. origin (one cqlsim node) is loaded with ROWS rows (cqlbench: k bigint, v blob of 100 bytes).
2. cqlbench's prepared INSERT rate into a fresh target cqlsim, closed loop 4 x 32: what the target
   can ingest on this machine.
3. tandem-migrate copy of the ROWS rows into another fresh target: rows/s, and its own CPU seconds
   per 100k rows (getrusage of the child).
4. tandem-migrate validate of the same table (reads both sides): rows/s.
Prints the ratios the issue asks for: copy >= 0.7 x the INSERT rate, validate >= 1.5 x copy.
On this 2-core machine every process shares the two cores: compare rows of one run only.

Usage: migrate_bench.py <build dir> [--rows N] [--seconds S] [--markdown FILE]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e"))
import tandem_harness as h  # noqa: E402

SCHEMA = ["CREATE KEYSPACE bench WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
          "CREATE TABLE bench.kv (k bigint PRIMARY KEY, v blob)"]


def cqlbench(build, cluster, *args, timeout=600):
    argv = [os.path.join(build, "tools/cqlbench/cqlbench"), "--host", cluster.address, "--port", str(cluster.port),
            "--keyspace", "bench", "--no-schema", "--warmup", "0", "--json", *args]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("cqlbench failed: " + p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


def migrate(build, command, origin, target):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    p = subprocess.run([os.path.join(build, "tools/tandem-migrate/tandem-migrate"), command, "--origin", "%s:%d" % (origin.address, origin.port),
                        "--target", "%s:%d" % (target.address, target.port), "--keyspace", "bench", "--consistency", "ONE", "--json", "-"],
                       capture_output=True, text=True, timeout=1800)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 3):
        raise RuntimeError("tandem-migrate %s failed (%d): %s" % (command, p.returncode, p.stderr))
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return summary, wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--markdown")
    args = ap.parse_args()
    cqlsim = os.path.join(args.build, "tools/cqlsim/cqlsim")
    origin = h.cluster(cqlsim, "origin", "127.0.12.1", nodes=1)
    ingest = h.cluster(cqlsim, "ingest", "127.0.13.1", nodes=1)
    target = h.cluster(cqlsim, "target", "127.0.14.1", nodes=1)
    try:
        for c in (origin, ingest, target):
            for stmt in SCHEMA:
                c.execute(stmt)
        cqlbench(args.build, origin, "--workload", "insert", "--distribution", "sequential", "--keys", str(args.rows),
                 "--requests", str(args.rows), "--connections", "4", "--depth", "32")
        insert = cqlbench(args.build, ingest, "--workload", "insert", "--keys", str(args.rows), "--duration", str(args.seconds),
                          "--connections", "4", "--depth", "32")
        copy, copy_wall, copy_cpu = migrate(args.build, "copy", origin, target)
        validate, validate_wall, _ = migrate(args.build, "validate", origin, target)
    finally:
        for c in (origin, ingest, target):
            c.stop()
    copied = copy["rows_read"]
    copy_rate = copied / copy["seconds"]
    validate_rate = (validate["rows_read"] / 2) / validate["seconds"]
    lines = [
        "| measure | value |",
        "|---|---|",
        "| rows in origin's table | %d |" % args.rows,
        "| cqlbench prepared INSERT into a fresh target (4 x 32) | %.0f rows/s |" % insert["throughput"],
        "| tandem-migrate copy | %d rows in %.2f s: %.0f rows/s (%.2fx the INSERT rate; target 0.7x) |" % (
            copied, copy["seconds"], copy_rate, copy_rate / insert["throughput"]),
        "| tandem-migrate CPU during copy | %.3f s per 100k rows |" % (copy_cpu / copied * 100000),
        "| tandem-migrate validate | %.0f rows/s (%.2fx copy; target 1.5x), differences %d |" % (
            validate_rate, validate_rate / copy_rate, validate["missing"] + validate["mismatched"] + validate["extra"]),
    ]
    print("\n".join(lines))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
