#include "core/admin.hh"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/worker.hh"

namespace tandem::core {

namespace {
const char* reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 503: return "Service Unavailable";
        default: return "Error";
    }
}
}  // namespace

admin_server::~admin_server() { stop(); }

std::string admin_server::start(const std::string& address, uint16_t port) {
    auto addr = net::resolve_address(address, port);
    if (!addr) return "cannot parse metrics_address '" + address + "'";
    int fd = ::socket(addr->first.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::strerror(errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr->first), addr->second) < 0 || ::listen(fd, 64) < 0) {
        std::string e = "cannot listen on " + address + ":" + std::to_string(port) + ": " + std::strerror(errno);
        ::close(fd);
        return e;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    _port = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                             : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    if (::pipe2(_wake, O_CLOEXEC) != 0) {
        ::close(fd);
        return "pipe2 failed";
    }
    _listen = fd;
    _thread = std::thread([this] { serve(); });
    return {};
}

void admin_server::stop() {
    if (_thread.joinable()) {
        char b = 1;
        (void)!::write(_wake[1], &b, 1);
        _thread.join();
    }
    for (int* fd : {&_listen, &_wake[0], &_wake[1]}) {
        if (*fd >= 0) ::close(*fd);
        *fd = -1;
    }
}

void admin_server::serve() {
    for (;;) {
        pollfd p[2] = {{_listen, POLLIN, 0}, {_wake[0], POLLIN, 0}};
        if (::poll(p, 2, -1) < 0 && errno != EINTR) return;
        if (p[1].revents) return;
        if (!(p[0].revents & POLLIN)) continue;
        int c = ::accept4(_listen, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        // One request per connection; a client that sends nothing for 2 s is dropped.
        std::string req;
        char buf[2048];
        while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
            pollfd q{c, POLLIN, 0};
            if (::poll(&q, 1, 2000) <= 0) break;
            ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) break;
            req.append(buf, static_cast<size_t>(n));
        }
        http_response r;
        size_t sp1 = req.find(' ');
        size_t sp2 = sp1 == std::string::npos ? sp1 : req.find(' ', sp1 + 1);
        if (sp2 == std::string::npos) {
            r.status = 400;
            r.body = "bad request\n";
        } else {
            std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
            if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
            r = _handler(req.substr(0, sp1), path);
        }
        std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\nContent-Type: " +
                          r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
                          "\r\nConnection: close\r\n\r\n" + r.body;
        size_t at = 0;
        while (at < out.size()) {
            ssize_t n = ::send(c, out.data() + at, out.size() - at, MSG_NOSIGNAL);
            if (n <= 0) break;
            at += static_cast<size_t>(n);
        }
        ::close(c);
    }
}

}  // namespace tandem::core
