#!/usr/bin/env bash
# Runs each fuzz target for a bounded time, two at a time, starting from its committed corpus
# (copied, so the committed corpus only grows by hand). A crash fails the run and leaves the
# input in build-fuzz/crashes/<target>/: add it to tests/fuzz/corpus/<target>/ and write the
# unit test that pins the fix.
set -uo pipefail
build=$1
seconds=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
run_one() {
    local t=$1
    local work="$build/fuzz-work/$t"
    local crashes="$build/crashes/$t"
    rm -rf "$work"
    mkdir -p "$work" "$crashes"
    cp "$root/tests/fuzz/corpus/$t/"* "$work/"
    if "$build/tests/${t}_fuzz" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
        -artifact_prefix="$crashes/" -print_final_stats=1 "$work" > "$build/fuzz-$t.log" 2>&1; then
        echo "fuzz $t: clean, $(grep -o 'Done [0-9]* runs' "$build/fuzz-$t.log" | head -1)"
    else
        echo "fuzz $t: FAILED, see $build/fuzz-$t.log and $crashes/"
        tail -30 "$build/fuzz-$t.log"
        return 1
    fi
}
pids=()
names=()
for t in "$@"; do
    run_one "$t" &
    pids+=($!)
    names+=("$t")
    if [ ${#pids[@]} -ge 2 ]; then
        wait "${pids[0]}" || status=1
        pids=("${pids[@]:1}")
    fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
