#pragma once
// The proxy: control connections, worker threads, and per client connection a session with one
// origin and one target connection (and, in dual-read mode, an async connection to the
// secondary). See ../shared/DESIGN.md for the data path and zdm-spec.md for every rule cited
// in proxy.cc.
//
// Threads: start() runs on the caller's thread; each worker owns its listener, sessions and
// cluster connections; control connections have a thread each. Proxy-wide state that workers
// read is immutable (settings at start), atomic (the live settings: primary cluster, read
// mode), or locked and off the request path (cluster views, the prepared store behind each
// worker's cache).

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/astra.hh"
#include "core/config.hh"
#include "core/control.hh"
#include "core/prepared.hh"
#include "net/tls.hh"
#include "core/virtual_tables.hh"
#include "net/worker.hh"

namespace tandem::core {

struct proxy_options {
    size_t workers = 1;
    size_t prepared_capacity = 100000;  // entries in the proxy-wide prepared map
    uint32_t connect_attempt_ms = 2000; // per node; the next node is tried after that
};

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

// Counters behind /metrics and the shutdown log line. Each worker writes its own copy
// (relaxed atomics, one writer each); metrics_text() and totals() sum them.
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
    std::atomic<uint64_t> unrecognized_statements{0};  // routed to both as writes (lexed as "other")
    std::atomic<int64_t> inflight{0};
};

// The zdm_<cluster>_* series of one node (R10.1, R4.19), per worker; made when tandem first
// opens a connection to the node.
struct node_metrics {
    // client_timeout, read_timeout, read_failure, write_timeout, write_failure, overloaded,
    // unavailable, unprepared, other
    static constexpr size_t error_kinds = 9;
    std::atomic<uint64_t> failed[error_kinds] = {};
    latency_histogram reads, writes;
    std::atomic<int64_t> connections{0}, used_stream_ids{0};
    std::atomic<uint64_t> failed_connections{0};
};
const char* node_error_name(size_t kind);
size_t node_error_kind(int32_t cql_error_code);

class worker_ctx;

class proxy {
public:
    proxy(config cfg, proxy_options opts);
    ~proxy();
    proxy(const proxy&) = delete;
    proxy& operator=(const proxy&) = delete;

    // Opens the control connections (waiting until both clusters answered, logging each
    // failure), binds the listener and starts the workers. Throws std::runtime_error with a
    // message for the operator when it cannot.
    void start();
    // Stop accepting, answer new requests OVERLOADED, let in-flight requests finish until
    // `deadline_ms`, then close everything.
    void shutdown(uint32_t deadline_ms);
    // From a signal thread: makes a start() still waiting for the clusters give up; the caller
    // then runs shutdown().
    void request_stop();

    // In-process, without sockets or clusters (bench/session_bench.cc, tests/core/session_test.cc):
    // `w` runs the memory transport (net::worker::start_memory) on the caller's thread, and the
    // two views stand for what the control connections would have learned.
    void start_memory(net::worker& w, std::shared_ptr<const cluster_view> origin, std::shared_ptr<const cluster_view> target);
    // A client connection on that worker, served by a session as an accepted one would be; its
    // cluster connections are opened through the memory transport at the next poll().
    net::connection& open_memory_client();
    uint16_t port() const { return _port; }
    bool stopping() const { return _stopping.load(); }

    // Live settings (SIGHUP): primary_cluster, read_mode, log_level. Returns what changed.
    std::string apply_live(const config& c);

    // For sessions ----------------------------------------------------------------------------
    const config& cfg() const { return _cfg; }
    const proxy_options& options() const { return _opts; }
    cluster_role primary() const { return static_cast<cluster_role>(_primary.load(std::memory_order_relaxed)); }
    read_mode mode() const { return static_cast<read_mode>(_read_mode.load(std::memory_order_relaxed)); }
    std::shared_ptr<const cluster_view> view(cluster_role r) const;
    prepared_store& prepared() { return _prepared; }
    const proxy_topology& topology() const { return _topology; }
    std::map<std::string, int64_t> totals() const;
    // /metrics and /health/readiness (zdm-spec §10).
    std::string metrics_text() const;
    std::pair<int, std::string> readiness() const;
    bool started() const { return _started.load(); }
    std::atomic<int64_t>& client_connections() { return _clients; }
    uint8_t lower_cluster_version() const;
    // TLS: the client-facing context (proxy_tls_*), and each cluster's (null: plain TCP).
    const net::tls_context* client_tls() const { return _client_tls.get(); }
    const net::tls_context* cluster_tls(cluster_role r) const { return _cluster_tls[r == cluster_role::origin ? 0 : 1].get(); }

private:
    config _cfg;
    proxy_options _opts;
    proxy_topology _topology;
    std::shared_ptr<net::tls_context> _client_tls;
    std::shared_ptr<net::tls_context> _cluster_tls[2];
    std::optional<secure_bundle> _bundle[2];  // Astra (R1.25)
    std::unique_ptr<control_connection> _cc[2];
    std::shared_ptr<const cluster_view> _fixed_view[2];  // start_memory()
    std::unique_ptr<net::connection_handler> new_session(worker_ctx& ctx, net::connection& c);
    prepared_store _prepared;
    std::atomic<uint8_t> _primary;
    std::atomic<uint8_t> _read_mode;
    std::atomic<int64_t> _clients{0};
    std::atomic<bool> _stopping{false};
    std::atomic<bool> _started{false};
    uint16_t _port = 0;
    std::vector<std::unique_ptr<net::worker>> _workers;
    std::vector<std::unique_ptr<worker_ctx>> _ctx;
    std::vector<std::thread> _threads;
};

}  // namespace tandem::core
