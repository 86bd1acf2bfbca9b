#pragma once
// Control connections (zdm-spec §1.2): one per cluster, on its own thread with a small net/
// worker, speaking CQL through the shared client library (core/client/connection.hh); it sends
// a handful of requests a minute and is never on the request path. It negotiates the
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

#include "core/client/connection.hh"
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
    // Blocks until the first view is published, stop() is called, the worker failed, or the
    // deadline passes.
    bool wait_ready(int64_t timeout_ms);
    // The worker thread could not run (io_uring refused, say: last_error() says why): it never
    // connects, so waiting for it is pointless.
    bool failed() const;
    // Heartbeat and reconnect failures since the last success (readiness, R1.14).
    int64_t failures() const { return _failures.load(std::memory_order_relaxed); }
    // How many views were published: a reader that saw this number has the latest view.
    uint64_t published() const { return _published.load(std::memory_order_acquire); }
    std::string last_error() const;

private:
    struct endpoint {
        std::string host;
        uint16_t port;
        std::string server_name;  // an Astra node's host id, else empty
    };
    // On the worker's thread.
    void connect_round();
    void connect_next();
    void opened(client::connection* c, const std::string& error, const endpoint& where);
    void refresh(bool initial);
    void on_event(const client::reply& r);
    void heartbeat();
    void lost(const std::string& why);
    // One control request with request_timeout_ms; `on_fail` gets why it failed.
    void ask(cql::opcode op, const std::string& body, std::function<void(const client::reply&)> on_ok,
             std::function<void(const std::string&)> on_fail);
    void publish(std::shared_ptr<const cluster_view> v);

    control_settings _s;
    log_fn _log;
    std::thread _thread;
    std::atomic<bool> _stop{false};
    mutable std::mutex _lock;
    std::condition_variable _ready_cv;
    std::shared_ptr<const cluster_view> _view;
    std::string _last_error;
    bool _failed = false;  // the worker could not run (start())
    std::atomic<int64_t> _failures{0};
    std::atomic<uint64_t> _published{0};

    // The worker's state (its thread only).
    std::unique_ptr<net::worker> _w;
    client::connection* _conn = nullptr;
    uint64_t _gen = 0;  // bumped per connection: callbacks of an earlier one are ignored
    std::vector<endpoint> _round;
    size_t _next = 0;
    std::string _round_error;
    std::shared_ptr<cluster_view> _serving;  // the view of the connection being served
    std::string _sticky_dc;
    bool _was_up = false;
    bool _refreshing = false, _refresh_again = false;
    bool _asking = false;  // a control request is out (one at a time: one request timer)
    double _backoff_ms = 0;
    net::timer _retry_timer, _heartbeat_timer, _request_timer;
};

}  // namespace tandem::core
