#pragma once
// The proxy's counters and their Prometheus text (zdm-spec §10).
//
// Each worker owns one `worker_metrics` and is the only writer of its counters (relaxed atomics
// written with a plain load and store: no locked read-modify-write on the request path); the
// metrics endpoint's thread reads them and sums over workers. The per-node series are made when
// a worker first opens a connection to a node; the map's shape is locked (off the request path),
// its entries are atomics.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/status.hh"

namespace tandem::core {

// Counters with one writer (their worker) and readers elsewhere (the metrics endpoint): a plain
// load and store, not a locked read-modify-write, on the request path.
template <class T>
inline void bump(std::atomic<T>& a, std::type_identity_t<T> n = 1) {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
template <class T>
inline void drop(std::atomic<T>& a, std::type_identity_t<T> n = 1) {
    a.store(a.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
}

// A Prometheus histogram with fixed bounds (seconds), one writer thread.
struct latency_histogram {
    std::vector<double> bounds_s;
    std::unique_ptr<std::atomic<uint64_t>[]> counts;  // bounds + 1 (the last is +Inf)
    std::atomic<uint64_t> sum_ns{0}, count{0};

    void init(const std::vector<double>& bounds_ms);
    void record(uint64_t ns) {
        double s = static_cast<double>(ns) / 1e9;
        size_t i = 0;
        while (i < bounds_s.size() && s > bounds_s[i]) ++i;
        bump(counts[i]);
        bump(sum_ns, ns);
        bump(count);
    }
};

// Counters behind /metrics and the shutdown log line, one copy per worker.
struct proxy_counters {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> reads_failed_origin{0}, reads_failed_target{0};
    latency_histogram writes, reads_origin, reads_target;  // zdm_proxy_request_duration_seconds
    std::atomic<uint64_t> writes_failed_origin{0}, writes_failed_target{0}, writes_failed_both{0};
    std::atomic<uint64_t> timeouts{0};
    std::atomic<uint64_t> async_sent{0}, async_ok{0}, async_failed{0}, async_skipped{0};
    std::atomic<uint64_t> pscache_misses{0};
    std::atomic<uint64_t> intercepted{0};
    std::atomic<uint64_t> unprepared_healed{0};
    std::atomic<uint64_t> reads_paused{0};        // back-pressure: a connection's reading paused
    std::atomic<uint64_t> login_cache_hits{0};    // SHARED: logins accepted from the login cache
    std::atomic<uint64_t> overloaded_answers{0};  // OVERLOADED answered by tandem itself, not a node
    std::atomic<uint64_t> unrecognized_statements{0};  // routed to both as writes (lexed as "other")
    // write_mode DUAL_ASYNC_ON_SECONDARY: writes answered after the primary and the journal, the
    // secondary's copy failed (kept for the replayer), writes sent as DUAL_SYNC because the
    // journal was full, and writes that stay synchronous (lightweight transactions, counters).
    std::atomic<uint64_t> journaled_writes{0}, journal_secondary_failed{0}, journal_full{0}, journal_sync_writes{0};
    std::atomic<int64_t> inflight{0};
    // Requests read from clients that no cluster has been sent yet: pipelined before the handshake
    // finished, or (SHARED) read before the pool ran out of room and the client was paused.
    std::atomic<int64_t> held{0};
    recent_latency recent;  // every request, for /api/v1/status's last minute
};

// The zdm_<cluster>_* series of one node (R10.1, R4.19), per worker.
struct node_metrics {
    // client_timeout, read_timeout, read_failure, write_timeout, write_failure, overloaded,
    // unavailable, unprepared, other
    static constexpr size_t error_kinds = 9;
    std::atomic<uint64_t> failed[error_kinds] = {};
    latency_histogram reads, writes;
    std::atomic<int64_t> connections{0}, used_stream_ids{0};
    std::atomic<uint64_t> failed_connections{0};

    // One failed request, by the CQL error code of the reply (a client timeout is kind 0).
    void count_error(int32_t cql_error_code);
};
const char* node_error_name(size_t kind);
size_t node_error_kind(int32_t cql_error_code);

// The latency buckets (ms) of each node series: origin, target, async.
struct bucket_settings {
    std::vector<double> origin_ms, target_ms, async_ms;
};

// One worker's counters and node series.
class worker_metrics {
public:
    explicit worker_metrics(bucket_settings buckets);
    proxy_counters counters;
    // The node's series (side 0 origin, 1 target, 2 async), made on first use.
    node_metrics& node(int side, const std::string& endpoint);

    // Reader side (the metrics thread): calls fn(side, endpoint, series) under the map's lock.
    template <class Fn>
    void for_each_node(Fn&& fn) const {
        std::lock_guard g(_nodes_lock);
        for (const auto& [key, m] : _nodes) fn(key.first, key.second, *m);
    }

private:
    bucket_settings _buckets;
    mutable std::mutex _nodes_lock;  // the map's shape only; entries are atomics
    std::map<std::pair<int, std::string>, std::unique_ptr<node_metrics>> _nodes;
};

// Gauges that are proxy-wide rather than per worker.
struct proxy_gauges {
    int64_t client_connections = 0;
    int64_t pscache_entries = 0;
};

// The Prometheus text of every series, summed over workers; names start with `prefix` + "_".
std::string prometheus_text(const std::string& prefix, std::span<const worker_metrics* const> workers, const proxy_gauges& g);
// The counters by name, summed over workers (the shutdown log line, tests).
std::map<std::string, int64_t> metric_totals(std::span<const worker_metrics* const> workers, const proxy_gauges& g);

}  // namespace tandem::core
