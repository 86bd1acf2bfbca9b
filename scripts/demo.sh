#!/usr/bin/env bash
# The main job (`make run`): a migration through tandem on this machine (two cqlsim clusters,
# tandem between them, the DataStax Python driver, tandem-migrate for the rows that existed
# before; see scripts/demo.py), then what tandem costs
# against connecting directly, and the microbenchmarks.
set -euo pipefail
build=${1:-build}
here=$(dirname "$0")
echo "== a migration through tandem"
/usr/bin/python3 "$here/demo.py" "$build/tools/cqlsim/cqlsim" "$build/tools/tandem/tandem" "$build/tools/tandem-migrate/tandem-migrate"
echo
echo "== what tandem costs: the same cqlbench load direct and through tandem (short runs; see bench/e2e)"
/usr/bin/python3 "$here/../bench/e2e/tandem_overhead.py" "$build" --seconds 1 --rounds 1
echo
echo "== tandem's user-space work per request: the real client session, in process (no sockets)"
"$build/bench/session_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>&1 | grep -E "median|Benchmark"
echo
echo "== cql/ benchmarks"
"$build/bench/cql_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>&1 | grep -E "median|Benchmark"
