#!/usr/bin/env bash
# The main job until the proxy exists: start a 3-node cqlsim, drive it with the DataStax Python
# driver, stop it; then the protocol and store benchmarks.
set -euo pipefail
build=${1:-build}
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$build/tools/cqlsim/cqlsim" --nodes 3 --port "$port" > "$log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 50); do
    [ "$(grep -c 'listening on' "$log")" -ge 3 ] && break
    sleep 0.1
done
cat "$log"
/usr/bin/python3 "$(dirname "$0")/demo.py" "$port"
kill $sim
wait $sim 2>/dev/null || true
echo
echo "== cql/ benchmarks"
"$build/bench/cql_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>&1 | grep -E "median|Benchmark"
echo
echo "== cqlsim store benchmarks (one core, in process)"
"$build/bench/cqlsim_bench" 2>&1 | grep -E "prepared|Benchmark"
echo
echo "== cqlsim end to end through a socket"
"$build/bench/cqlsim_e2e_bench" --seconds 2
