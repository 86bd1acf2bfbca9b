#pragma once
// cqlsim's protocol side: one listener per node on a shared worker, the handshake (versions,
// compression, v5 framing, authentication), and requests handed to the cluster.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "net/tls.hh"
#include "net/worker.hh"
#include "tools/cqlsim/cluster.hh"

namespace tandem::cqlsim {

// A connection that asked for events (REGISTER); it knows how to frame them.
class event_sink {
public:
    virtual ~event_sink() = default;
    virtual void push_event(net::connection& c, const std::string& body) = 0;
};

// The address of node `i`: the base address with its last octet raised by i.
std::string node_address(const std::string& base, int i);

struct server_config {
    cluster_config cluster;
    std::string address = "127.0.0.1";  // node i listens on address + i (last octet)
    uint16_t port = 9042;
    std::vector<std::pair<std::string, std::string>> credentials;  // empty: no authentication
    // The last `dead_nodes` nodes are listed in system.peers but never listen (connections to
    // them are refused): a node a proxy or driver must route around.
    int dead_nodes = 0;
    std::shared_ptr<net::tls_context> tls;  // TLS on every node (--tls-cert/--tls-key), or none
};

class server {
public:
    explicit server(server_config cfg);
    // On the worker's thread: sets up the nodes (addresses, tokens) and listens. Throws
    // std::runtime_error naming the address when a node cannot listen.
    void start(net::worker& w);
    cluster& data() { return *_cluster; }
    const server_config& config() const { return _cfg; }
    const std::vector<std::string>& listening() const { return _listening; }

    // Connections registered for events, by kind.
    void subscribe(net::connection& c, event_sink& sink, const std::string& kind);
    void unsubscribe(net::connection& c);
    void broadcast(const std::string& kind, const std::string& body);
    bool check_credentials(std::string_view user, std::string_view password) const;
    // A number for a new client connection (cqlsim.requests' `connection`).
    int64_t next_connection_id() { return ++_connections; }
    // After a change to cqlsim.nodes: STATUS_CHANGE UP/DOWN for every node whose state moved.
    void announce_status_changes();

private:
    server_config _cfg;
    std::unique_ptr<cluster> _cluster;
    std::vector<std::string> _listening;
    struct subscription {
        event_sink* sink;
        std::set<std::string> kinds;
    };
    std::map<net::connection*, subscription> _subscribers;
    std::vector<bool> _announced_up;
    int64_t _connections = 0;
};

}  // namespace tandem::cqlsim
