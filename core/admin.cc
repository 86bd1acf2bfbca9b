#include "core/admin.hh"

#include <httplib.h>

#include <cerrno>
#include <cstring>

#include "net/worker.hh"

namespace tandem::core {

admin_server::admin_server(handler h) : _handler(std::move(h)) {}

admin_server::~admin_server() { stop(); }

std::string admin_server::start(const std::string& address, uint16_t port) {
    if (!net::resolve_address(address, port)) return "cannot parse metrics_address '" + address + "'";
    _server = std::make_unique<httplib::Server>();
    // Two threads serve scrapes and probes; the default pool (one per core, at least 8) would
    // cost every tandem process threads it never needs.
    _server->new_task_queue = [] { return new httplib::ThreadPool(2); };
    _server->set_read_timeout(2, 0);  // a client that sends nothing for 2 s is dropped
    _server->set_write_timeout(5, 0);
    _server->set_payload_max_length(1 << 20);
    auto serve = [this](const httplib::Request& req, httplib::Response& res) {
        http_request r{req.method, req.path, req.body, req.get_header_value("Authorization"), req.remote_addr + ":" + std::to_string(req.remote_port)};
        http_response out = _handler(r);
        res.status = out.status;
        res.set_content(std::move(out.body), out.content_type.c_str());
    };
    const char* any = R"(/.*)";
    _server->Get(any, serve);
    _server->Put(any, serve);
    _server->Post(any, serve);
    _server->Delete(any, serve);
    _server->Patch(any, serve);
    errno = 0;
    int bound = port == 0 ? _server->bind_to_any_port(address) : (_server->bind_to_port(address, port) ? port : -1);
    if (bound <= 0) {
        std::string e = "cannot listen on " + address + ":" + std::to_string(port) + (errno ? std::string(": ") + std::strerror(errno) : "");
        _server.reset();
        return e;
    }
    _port = static_cast<uint16_t>(bound);
    _thread = std::thread([this] { _server->listen_after_bind(); });
    return {};
}

void admin_server::stop() {
    if (_server) _server->stop();
    if (_thread.joinable()) _thread.join();
    _server.reset();
}

}  // namespace tandem::core
