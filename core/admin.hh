#pragma once
// The HTTP endpoint on metrics_address:metrics_port (zdm-spec §10): /metrics (Prometheus text),
// /health/liveness and /health/readiness. One thread with blocking sockets: scrapes and probes
// come a few times a minute and never touch the request path. It starts before the proxy (R1.3)
// and keeps running without HTTP when the address cannot be bound.

#include <functional>
#include <string>
#include <thread>

namespace tandem::core {

struct http_response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

class admin_server {
public:
    using handler = std::function<http_response(const std::string& method, const std::string& path)>;
    admin_server(handler h) : _handler(std::move(h)) {}
    ~admin_server();
    admin_server(const admin_server&) = delete;
    admin_server& operator=(const admin_server&) = delete;

    // Binds and starts serving; returns an error text (empty on success).
    std::string start(const std::string& address, uint16_t port);
    void stop();
    uint16_t port() const { return _port; }

private:
    void serve();
    handler _handler;
    int _listen = -1;
    int _wake[2] = {-1, -1};
    uint16_t _port = 0;
    std::thread _thread;
};

}  // namespace tandem::core
