#pragma once
// Control connections (zdm-spec §1.2): one per cluster, on its own thread, with blocking sockets
// (it sends a handful of requests a minute and is never on the request path). It negotiates the
// protocol version, learns whether the cluster authenticates, reads system.local/system.peers
// of the local datacenter, heartbeats with OPTIONS, and reconnects with exponential backoff.
// Unlike ZDM Proxy it also listens to STATUS_CHANGE (a node reported down is skipped by new
// client connections) and SCHEMA_CHANGE (the schema_version it serves follows DDL).
//
// Each refresh publishes a new immutable cluster_view; readers take a shared_ptr copy under a
// mutex (at connection set-up and for system table answers, not per request).

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/config.hh"
#include "net/tls.hh"
#include "core/topology.hh"

namespace tandem::core {

struct control_settings {
    std::string name;  // "origin" or "target"
    config::cluster_settings cluster;
    uint8_t max_version = 0x42;
    int64_t heartbeat_interval_ms = 30000;
    int64_t retry_min_ms = 250;
    int64_t retry_max_ms = 30000;
    double retry_factor = 2;
    int64_t request_timeout_ms = 10000;
    std::shared_ptr<net::tls_context> tls;  // cluster TLS (R1.26), or none
    // Astra (R1.25): every connection goes to this SNI proxy, with a node's host id as the TLS
    // server name; the contact points are host ids. The local datacenter is in `cluster`.
    struct sni_proxy {
        std::string host;
        uint16_t port = 0;
        std::vector<std::string> host_ids;
    };
    std::optional<sni_proxy> sni;
};

using log_fn = std::function<void(int level, const std::string& line)>;  // level: 0 debug .. 3 error

class control_connection {
public:
    control_connection(control_settings s, log_fn log);
    ~control_connection();
    control_connection(const control_connection&) = delete;
    control_connection& operator=(const control_connection&) = delete;

    void start();
    void stop();

    // The latest view, or null before the first successful refresh.
    std::shared_ptr<const cluster_view> view() const;
    // Blocks until the first view is published, stop() is called, or the deadline passes.
    bool wait_ready(int64_t timeout_ms);
    // Heartbeat and reconnect failures since the last success (readiness, R1.14).
    int64_t failures() const { return _failures.load(std::memory_order_relaxed); }
    std::string last_error() const;

private:
    void run();
    bool connect_and_serve();
    void publish(std::shared_ptr<const cluster_view> v);
    void sleep_ms(int64_t ms);

    control_settings _s;
    log_fn _log;
    std::thread _thread;
    std::atomic<bool> _stop{false};
    int _wake[2] = {-1, -1};  // a pipe: stop() writes, the thread polls it with its socket
    mutable std::mutex _lock;
    std::condition_variable _ready_cv;
    std::shared_ptr<const cluster_view> _view;
    std::string _last_error;
    std::atomic<int64_t> _failures{0};
};

}  // namespace tandem::core
