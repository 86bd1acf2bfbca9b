#pragma once
// The proxy, assembled: control connections, worker threads (each with its worker_state and
// the client_sessions it accepts), live settings, shutdown. The data path itself is in
// client_session and the files named there; see core/README.md.
//
// Threads: start() runs on the caller's thread; each worker owns its listener, sessions and
// cluster connections; control connections have a thread each. Proxy-wide state that workers
// read is immutable (settings at start), atomic (the live settings: primary cluster, read
// mode), or locked and off the request path (cluster views, the prepared store behind each
// worker's cache).

#include <atomic>
#include <chrono>
#include <mutex>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/astra.hh"
#include "core/config.hh"
#include "core/control.hh"
#include "core/login_cache.hh"
#include "core/metrics.hh"
#include "core/prepared.hh"
#include "core/status.hh"
#include "core/table_stats.hh"
#include "net/tls.hh"
#include "core/virtual_tables.hh"
#include "net/worker.hh"

namespace tandem::core {

struct proxy_options {
    size_t workers = 1;
    size_t prepared_capacity = 100000;  // entries in the proxy-wide prepared map
    uint32_t connect_attempt_ms = 2000; // per node; the next node is tried after that
};

class worker_state;
class write_journal;
class journal_replayer;

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

    // Live settings (SIGHUP, PUT /api/v1/settings): primary_cluster, read_mode, log_level.
    // Returns what changed, as (key, value now); empty when nothing did. Serialized.
    using setting_changes = std::vector<std::pair<std::string, std::string>>;
    setting_changes apply_live(const config& c);
    // The live settings now, in a copy of the start-up settings.
    config live_settings() const;

    // /api/v1/status: `window` is the last minute's rates and quantiles.
    std::string status_json(const std::string& version, const window_summary& window) const;
    // Cumulative counts, summed over workers, for the status window.
    status_sample sample_status(double at_s) const;

    // For sessions ----------------------------------------------------------------------------
    const config& cfg() const { return _cfg; }
    const proxy_options& options() const { return _opts; }
    cluster_role primary() const { return static_cast<cluster_role>(_primary.load(std::memory_order_relaxed)); }
    read_mode mode() const { return static_cast<read_mode>(_read_mode.load(std::memory_order_relaxed)); }
    write_mode writes() const { return static_cast<write_mode>(_write_mode.load(std::memory_order_relaxed)); }
    // The write journal (write_journal_dir set), or null.
    write_journal* journal() const { return _journal.get(); }
    table_registry& tables() { return _tables; }
    std::shared_ptr<const cluster_view> view(cluster_role r) const;
    // Changes with every view published (either cluster): a cheap check before view().
    uint64_t views_published() const;
    prepared_store& prepared() { return _prepared; }
    login_cache& logins() { return _logins; }
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
    std::shared_ptr<net::tls_context> cluster_tls_shared(cluster_role r) const { return _cluster_tls[r == cluster_role::origin ? 0 : 1]; }

private:
    config _cfg;
    proxy_options _opts;
    proxy_topology _topology;
    std::shared_ptr<net::tls_context> _client_tls;
    std::shared_ptr<net::tls_context> _cluster_tls[2];
    std::optional<secure_bundle> _bundle[2];  // Astra (R1.25)
    std::unique_ptr<control_connection> _cc[2];
    std::shared_ptr<const cluster_view> _fixed_view[2];  // start_memory()
    std::unique_ptr<net::connection_handler> new_session(worker_state& ctx, net::connection& c);
    std::vector<const worker_metrics*> worker_metrics_list() const;
    proxy_gauges gauges() const;
    prepared_store _prepared;
    login_cache _logins;
    std::atomic<uint8_t> _primary;
    std::atomic<uint8_t> _read_mode;
    std::atomic<uint8_t> _write_mode;
    table_registry _tables;
    std::unique_ptr<write_journal> _journal;
    std::unique_ptr<journal_replayer> _replayer;
    std::string journal_metrics() const;
    std::string journal_json() const;
    mutable std::mutex _live_lock;  // apply_live: one at a time; _log_level
    std::string _log_level;
    std::chrono::steady_clock::time_point _created = std::chrono::steady_clock::now();
    std::atomic<int64_t> _clients{0};
    std::atomic<bool> _stopping{false};
    std::atomic<bool> _started{false};
    uint16_t _port = 0;
    std::vector<std::unique_ptr<net::worker>> _workers;
    std::vector<std::unique_ptr<worker_state>> _ctx;
    std::vector<std::thread> _threads;
};

}  // namespace tandem::core
