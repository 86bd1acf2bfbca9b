#pragma once
// The HTTP endpoint on metrics_address:metrics_port (zdm-spec §10): /metrics (Prometheus text),
// /health/liveness and /health/readiness, and the admin API to come, on cpp-httplib's server
// (its own small thread pool, blocking sockets: scrapes and probes come a few times a minute
// and never touch the request path). It starts before the proxy (R1.3) and tandem keeps
// running without HTTP when the address cannot be bound.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace tandem::core {

struct http_request {
    std::string method;  // GET, PUT, ...
    std::string path;    // without the query string
    std::string body;
    std::string authorization;  // the Authorization header, or empty
    std::string remote;         // the caller's address, for logs
};

struct http_response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

class admin_server {
public:
    using handler = std::function<http_response(const http_request&)>;
    explicit admin_server(handler h);
    ~admin_server();
    admin_server(const admin_server&) = delete;
    admin_server& operator=(const admin_server&) = delete;

    // Binds (port 0 picks one) and starts serving; returns an error text (empty on success).
    std::string start(const std::string& address, uint16_t port);
    void stop();
    uint16_t port() const { return _port; }

private:
    handler _handler;
    std::unique_ptr<httplib::Server> _server;
    uint16_t _port = 0;
    std::thread _thread;
};

}  // namespace tandem::core
