// net/ against a plain epoll server, measured in the same run (issue 3's targets):
//   latency:    one connection, 64-byte ping-pong, one request in flight (median, p99)
//   throughput: 64 connections x 16 pipelined 64-byte requests (requests/s, server CPU per request)
// The server runs on one thread pinned to CPU 0, the load generator on CPU 1 (when there are two
// CPUs), and the two servers take turns (A B A B ...); medians over the rounds are reported with
// the io_uring/epoll ratios.
//
// Usage: echo_bench [--rounds N] [--seconds S]
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/loopback.hh"
#include "net/worker.hh"

namespace {

using tandem::bench::dial;
using tandem::bench::pin;
using clock_type = std::chrono::steady_clock;
constexpr size_t message = 64;

// CPU seconds (user + system) used so far by the calling thread.
double thread_cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct server_handle {
    uint16_t port = 0;
    std::function<double()> stop;  // stops the server, returns its CPU seconds
};

// ---- io_uring server (net/) ----
struct echo : tandem::net::connection_handler {
    void on_data(tandem::net::connection& c, tandem::net::rx_buffer data) override { c.send(std::move(data)); }
    void on_close(tandem::net::connection&, int) override {}
};

server_handle start_uring() {
    auto w = std::make_shared<tandem::net::worker>();
    auto cpu = std::make_shared<std::promise<double>>();
    std::promise<uint16_t> bound;
    auto port = bound.get_future();
    auto t = std::make_shared<std::thread>([w, cpu, &bound] {
        pin(0);
        double start = 0;
        w->run([&](tandem::net::worker& self) {
            bound.set_value(self.listen("127.0.0.1", 0, [](tandem::net::connection&) { return std::make_unique<echo>(); }));
            start = thread_cpu_seconds();
        });
        cpu->set_value(thread_cpu_seconds() - start);
        const auto& st = w->stats();
        std::fprintf(stderr, "  [net/ server: %llu loop turns, %llu gather writes, %llu recv stops for lack of buffers]\n",
                     static_cast<unsigned long long>(st.loop_turns), static_cast<unsigned long long>(st.sends),
                     static_cast<unsigned long long>(st.recv_enobufs));
    });
    server_handle h;
    h.port = port.get();
    h.stop = [w, cpu, t] {
        w->stop(100);
        t->join();
        return cpu->get_future().get();
    };
    return h;
}

// ---- epoll server, written for the comparison ----
server_handle start_epoll() {
    auto stop_flag = std::make_shared<std::atomic<bool>>(false);
    auto cpu = std::make_shared<std::promise<double>>();
    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(lfd, 1024);
    socklen_t len = sizeof a;
    getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    auto t = std::make_shared<std::thread>([lfd, stop_flag, cpu] {
        pin(0);
        double start = thread_cpu_seconds();
        int ep = epoll_create1(0);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = lfd;
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
        std::vector<std::string> pending(65536);  // unsent bytes per fd
        std::vector<char> buf(64 * 1024);
        epoll_event events[256];
        while (!*stop_flag) {
            int n = epoll_wait(ep, events, 256, 50);
            for (int i = 0; i < n; ++i) {
                int fd = events[i].data.fd;
                if (fd == lfd) {
                    for (;;) {
                        int c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
                        if (c < 0) break;
                        int on = 1;
                        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
                        epoll_event cev{};
                        cev.events = EPOLLIN;
                        cev.data.fd = c;
                        epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                    }
                    continue;
                }
                auto& out = pending[static_cast<size_t>(fd)];
                if (events[i].events & EPOLLOUT) {
                    ssize_t w = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
                    if (w > 0) out.erase(0, static_cast<size_t>(w));
                    if (out.empty()) {
                        epoll_event cev{};
                        cev.events = EPOLLIN;
                        cev.data.fd = fd;
                        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
                    }
                }
                if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                    ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
                    if (r <= 0) {
                        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
                        ::close(fd);
                        out.clear();
                        continue;
                    }
                    if (out.empty()) {
                        ssize_t w = ::send(fd, buf.data(), static_cast<size_t>(r), MSG_NOSIGNAL);
                        if (w < 0) w = 0;
                        if (w < r) {
                            out.assign(buf.data() + w, static_cast<size_t>(r - w));
                            epoll_event cev{};
                            cev.events = EPOLLIN | EPOLLOUT;
                            cev.data.fd = fd;
                            epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
                        }
                    } else {
                        out.append(buf.data(), static_cast<size_t>(r));
                    }
                }
            }
        }
        ::close(ep);
        ::close(lfd);
        cpu->set_value(thread_cpu_seconds() - start);
    });
    server_handle h;
    h.port = ntohs(a.sin_port);
    h.stop = [stop_flag, cpu, t] {
        *stop_flag = true;
        t->join();
        return cpu->get_future().get();
    };
    return h;
}

struct latency_result {
    double p50_us, p99_us;
};

latency_result ping_pong(uint16_t port, int count) {
    int fd = dial(port, false);
    char out[message], in[message];
    std::memset(out, 'p', sizeof out);
    std::vector<double> samples;
    samples.reserve(static_cast<size_t>(count));
    for (int i = 0; i < count + 1000; ++i) {  // the first 1000 warm up
        auto t0 = clock_type::now();
        ::send(fd, out, sizeof out, 0);
        size_t got = 0;
        while (got < sizeof in) {
            ssize_t r = ::recv(fd, in + got, sizeof in - got, 0);
            if (r <= 0) std::exit(1);
            got += static_cast<size_t>(r);
        }
        if (i >= 1000) samples.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
    }
    ::close(fd);
    std::sort(samples.begin(), samples.end());
    return {samples[samples.size() / 2], samples[samples.size() * 99 / 100]};
}

// 64 connections, 16 requests in flight on each; returns requests per second.
double pipelined(uint16_t port, double seconds, uint64_t& requests) {
    constexpr int conns = 64, depth = 16;
    std::vector<int> fds;
    int ep = epoll_create1(0);
    std::string burst(message * depth, 'q');
    for (int i = 0; i < conns; ++i) {
        int fd = dial(port, true);
        fds.push_back(fd);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = static_cast<uint32_t>(i);
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    std::vector<size_t> partial(conns, 0);
    for (int fd : fds) ::send(fd, burst.data(), burst.size(), 0);
    std::vector<char> buf(64 * 1024);
    std::string reply;
    uint64_t done = 0;
    auto start = clock_type::now();
    auto end = start + std::chrono::duration<double>(seconds);
    epoll_event events[64];
    while (clock_type::now() < end) {
        int n = epoll_wait(ep, events, 64, 10);
        for (int i = 0; i < n; ++i) {
            uint32_t c = events[i].data.u32;
            ssize_t r = ::recv(fds[c], buf.data(), buf.size(), 0);
            if (r <= 0) continue;
            size_t bytes = partial[c] + static_cast<size_t>(r);
            size_t complete = bytes / message;
            partial[c] = bytes % message;
            done += complete;
            if (complete > 0) {
                reply.assign(complete * message, 'q');
                ::send(fds[c], reply.data(), reply.size(), 0);
            }
        }
    }
    double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
    for (int fd : fds) ::close(fd);
    ::close(ep);
    requests = done;
    return static_cast<double>(done) / elapsed;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = 3;
    double seconds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
        else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: echo_bench [--rounds N] [--seconds S]\n");
            return 2;
        }
    }
    pin(1);
    struct series {
        std::vector<double> p50, p99, rps, cpu_us;
    } uring, epoll;
    for (int r = 0; r < rounds; ++r) {
        for (int which = 0; which < 2; ++which) {
            auto& s = which == 0 ? uring : epoll;
            // Latency and throughput on fresh servers, so the CPU figure covers only the
            // pipelined phase.
            auto h = which == 0 ? start_uring() : start_epoll();
            auto lat = ping_pong(h.port, 20000);
            h.stop();
            auto h2 = which == 0 ? start_uring() : start_epoll();
            uint64_t requests = 0;
            double rps = pipelined(h2.port, seconds, requests);
            double cpu = h2.stop();
            s.p50.push_back(lat.p50_us);
            s.p99.push_back(lat.p99_us);
            s.rps.push_back(rps);
            s.cpu_us.push_back(cpu * 1e6 / static_cast<double>(requests));
            std::printf("round %d %-8s p50 %6.1f us  p99 %6.1f us  %8.0f req/s  %5.2f us CPU/req\n", r + 1,
                        which == 0 ? "io_uring" : "epoll", lat.p50_us, lat.p99_us, rps, s.cpu_us.back());
            std::fflush(stdout);
        }
    }
    std::printf("\nmedians of %d rounds (server pinned to CPU 0, load on CPU 1)\n", rounds);
    std::printf("%-10s %10s %10s %12s %14s\n", "server", "p50 us", "p99 us", "req/s", "CPU us/req");
    for (auto* s : {&uring, &epoll}) {
        std::printf("%-10s %10.1f %10.1f %12.0f %14.2f\n", s == &uring ? "io_uring" : "epoll", median(s->p50),
                    median(s->p99), median(s->rps), median(s->cpu_us));
    }
    std::printf("ratio io_uring/epoll: p50 %.2f  throughput %.2f  CPU per request %.2f\n",
                median(uring.p50) / median(epoll.p50), median(uring.rps) / median(epoll.rps),
                median(uring.cpu_us) / median(epoll.cpu_us));
    return 0;
}
