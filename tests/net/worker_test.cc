// The runtime on real loopback sockets: a worker thread serving, plain blocking sockets as
// clients.
#include "net/worker.hh"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "tests/support/deny_io_uring.hh"

namespace tandem::net {
namespace {

using namespace std::chrono_literals;

// A worker on its own thread with one listener.
class server {
public:
    worker w;
    std::thread thread;
    uint16_t port = 0;

    server(worker_config cfg, worker::accept_fn on_accept) : w(cfg) {
        std::promise<uint16_t> bound;
        auto f = bound.get_future();
        thread = std::thread([&, fn = std::move(on_accept)]() mutable {
            w.run([&](worker& self) { bound.set_value(self.listen("127.0.0.1", 0, std::move(fn))); });
        });
        port = f.get();
    }
    ~server() {
        w.stop(200);
        thread.join();
    }
    // Runs `fn` on the worker thread and returns its result.
    template <typename F>
    auto on_worker(F fn) {
        std::promise<decltype(fn())> p;
        auto f = p.get_future();
        w.post([&] { p.set_value(fn()); });
        return f.get();
    }
};

int connect_client(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

std::string read_exactly(int fd, size_t n) {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
        ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
        if (r <= 0) break;
        got += static_cast<size_t>(r);
    }
    out.resize(got);
    return out;
}

std::string pattern(size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + seed) & 0xFF);
    return s;
}

// Echoes without copying: the received buffer itself is queued for sending.
struct echo : connection_handler {
    void on_data(connection& c, rx_buffer data) override { c.send(std::move(data)); }
    void on_close(connection&, int) override {}
};

worker_config small_buffers(uint32_t size, uint32_t count) {
    worker_config cfg;
    cfg.buffer_size = size;
    cfg.buffer_count = count;
    return cfg;
}

TEST(worker, echo_with_every_split_and_tiny_buffers) {
    server s(small_buffers(64, 16), [](connection&) { return std::make_unique<echo>(); });
    int fd = connect_client(s.port);
    ASSERT_GE(fd, 0);
    std::string msg = pattern(300, 1);
    for (size_t cut = 0; cut <= msg.size(); cut += 7) {
        ASSERT_TRUE(write_all(fd, std::string_view(msg).substr(0, cut)));
        ASSERT_TRUE(write_all(fd, std::string_view(msg).substr(cut)));
        ASSERT_EQ(read_exactly(fd, msg.size()), msg) << cut;
    }
    for (char c : msg) ASSERT_TRUE(write_all(fd, std::string_view(&c, 1)));  // one byte per segment
    EXPECT_EQ(read_exactly(fd, msg.size()), msg);
    std::string big = pattern(200'000, 3);  // spans thousands of 64-byte buffers
    std::thread writer([&] { write_all(fd, big); });
    auto got = read_exactly(fd, big.size());
    EXPECT_EQ(got.size(), big.size());
    EXPECT_TRUE(got == big);
    writer.join();
    ::close(fd);
}

TEST(worker, latency_mode_polls_while_traffic_flows_and_sleeps_when_idle) {
    worker_config cfg;
    cfg.busy_poll_us = 2000;  // long enough that a ping-pong's next request arrives within it
    server s(cfg, [](connection&) { return std::make_unique<echo>(); });
    int fd = connect_client(s.port);
    ASSERT_GE(fd, 0);
    for (int i = 0; i < 200; ++i) {
        std::string msg = pattern(64, static_cast<unsigned>(i));
        ASSERT_TRUE(write_all(fd, msg));
        ASSERT_EQ(read_exactly(fd, msg.size()), msg) << i;
    }
    auto busy = s.on_worker([&] { return s.w.stats(); });
    EXPECT_GT(busy.spins, 100u);
    EXPECT_GT(busy.spin_hits, 100u) << "most requests of a ping-pong arrive while the worker polls";
    // Idle: at most the poll that followed the last request, then sleep (no CPU burnt).
    std::this_thread::sleep_for(300ms);
    auto idle = s.on_worker([&] { return s.w.stats(); });
    EXPECT_LE(idle.spins - busy.spins, 2u);
    EXPECT_LE(idle.spin_ns - busy.spin_ns, 2u * 2000 * 1000 + 1000 * 1000);
    ::close(fd);
}

TEST(worker, without_latency_mode_no_poll) {
    server s(worker_config{}, [](connection&) { return std::make_unique<echo>(); });
    int fd = connect_client(s.port);
    ASSERT_GE(fd, 0);
    for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(write_all(fd, "ping"));
        ASSERT_EQ(read_exactly(fd, 4), "ping");
    }
    EXPECT_EQ(s.on_worker([&] { return s.w.stats().spins; }), 0u);
    ::close(fd);
}

TEST(worker, a_held_turn_handles_what_arrived_at_the_hooks_time) {
    worker_config cfg;
    cfg.hold_until_hook_due = true;
    server s(cfg, [](connection&) { return std::make_unique<echo>(); });
    int fd = connect_client(s.port);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(write_all(fd, "ping"));  // no hook yet: served at once
    ASSERT_EQ(read_exactly(fd, 4), "ping");
    // The hook wants its next turn 100 ms from now, then none: what arrives meanwhile waits.
    const auto due = std::chrono::steady_clock::now() + 100ms;
    s.on_worker([&] {
        s.w.set_turn_hook([due]() -> uint64_t {
            const auto now = std::chrono::steady_clock::now();
            if (now >= due) return UINT64_MAX;
            return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(due - now).count());
        });
        return 0;
    });
    auto sent = std::chrono::steady_clock::now();
    ASSERT_TRUE(write_all(fd, "held"));
    ASSERT_EQ(read_exactly(fd, 4), "held");
    EXPECT_GE(std::chrono::steady_clock::now(), due) << "the echo left at the hook's time, not when the data arrived";
    EXPECT_GE(std::chrono::steady_clock::now() - sent, 80ms);
    // Past it, the hook asks for no particular time: data is served as it arrives again.
    sent = std::chrono::steady_clock::now();
    ASSERT_TRUE(write_all(fd, "free"));
    ASSERT_EQ(read_exactly(fd, 4), "free");
    EXPECT_LT(std::chrono::steady_clock::now() - sent, 500ms);
    s.on_worker([&] {
        s.w.set_turn_hook(nullptr);
        return 0;
    });
    ::close(fd);
}

// Holds received buffers until the ring is empty (or 5 ms have passed, for the tail of the
// stream), then copies and releases them all: a fast sender finds the ring dry again and again.
struct hoarder : connection_handler {
    std::vector<rx_buffer> held;
    timer flush_timer;
    connection* conn = nullptr;
    void flush() {
        std::string copy;
        for (auto& b : held) copy.append(b.view());
        held.clear();
        conn->send(std::move(copy));
    }
    void on_data(connection& c, rx_buffer data) override {
        conn = &c;
        held.push_back(std::move(data));
        if (c.owner().buffers().available() == 0) {
            flush();
        } else if (!flush_timer.armed()) {
            flush_timer.set_callback([this] { flush(); });
            c.owner().timers().arm(flush_timer, 5);
        }
    }
    void on_close(connection&, int) override {}
};

TEST(worker, buffer_ring_running_dry_loses_nothing) {
    server s(small_buffers(256, 8), [](connection&) { return std::make_unique<hoarder>(); });
    int fd = connect_client(s.port);
    ASSERT_GE(fd, 0);
    std::string big = pattern(1 << 20, 5);
    std::thread writer([&] { write_all(fd, big); });
    auto got = read_exactly(fd, big.size());
    EXPECT_EQ(got.size(), big.size());
    EXPECT_TRUE(got == big);
    writer.join();
    EXPECT_GT(s.on_worker([&] { return s.w.stats().recv_enobufs; }), 0u);
    ::close(fd);
}

struct flood : connection_handler {
    std::promise<int>* closed;
    explicit flood(std::promise<int>* p) : closed(p) {}
    void on_data(connection& c, rx_buffer) override {
        for (int i = 0; i < 64; ++i) c.send(std::string(128 * 1024, 'x'));
    }
    void on_close(connection&, int error) override { closed->set_value(error); }
};

TEST(worker, peer_reset_mid_send) {
    std::promise<int> closed;
    auto result = closed.get_future();
    server s(worker_config{}, [&](connection&) { return std::make_unique<flood>(&closed); });
    int fd = connect_client(s.port);
    ASSERT_TRUE(write_all(fd, "go"));
    EXPECT_EQ(read_exactly(fd, 1000).size(), 1000u);
    linger lg{1, 0};  // close with RST while the server is still sending
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::close(fd);
    ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
    int error = result.get();
    EXPECT_TRUE(error == -ECONNRESET || error == -EPIPE) << error;
    EXPECT_EQ(s.on_worker([&] { return s.w.connection_count(); }), 0u);
}

// The proxy's rule: when the connection we write to is over its limit, stop reading the peer
// that feeds it. Here both are the same connection (an echo): memory stays bounded while the
// client does not read, and every byte arrives once it does.
struct bounded_echo : connection_handler {
    std::atomic<size_t>* peak;
    explicit bounded_echo(std::atomic<size_t>* p) : peak(p) {}
    void on_data(connection& c, rx_buffer data) override {
        c.send(std::move(data));
        if (c.queued_bytes() > *peak) *peak = c.queued_bytes();
        if (c.over_limit()) c.pause_reading();
    }
    void on_drained(connection& c) override { c.resume_reading(); }
    void on_close(connection&, int) override {}
};

// Pauses after each delivery (a session whose requests the pool cannot take), until told to stop.
struct one_at_a_time : connection_handler {
    std::atomic<size_t> bytes{0}, deliveries{0};
    std::atomic<bool> keep_pausing{true};
    connection* conn = nullptr;
    void on_data(connection& c, rx_buffer data) override {
        conn = &c;
        bytes += data.view().size();
        ++deliveries;
        if (keep_pausing) c.pause_reading();
    }
    void on_close(connection&, int) override {}
};

// After a resume, megabytes waiting in the socket do not arrive in one go to a handler that
// could not pass on what it had: one buffer, and none after it pauses again.
TEST(worker, a_resumed_connection_gets_one_buffer_before_it_can_pause_again) {
    std::atomic<one_at_a_time*> h{nullptr};
    server s(worker_config{}, [&](connection&) {
        auto p = std::make_unique<one_at_a_time>();
        h = p.get();
        return p;
    });
    int fd = connect_client(s.port);
    ASSERT_GE(fd, 0);
    const std::string data = pattern(8 << 20, 3);
    std::thread writer([&] { write_all(fd, data); });  // blocks until the server reads it all
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while ((!h || h.load()->deliveries == 0) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(h && h.load()->deliveries > 0);
    one_at_a_time& handler = *h;
    std::this_thread::sleep_for(50ms);  // the socket fills while reading is paused
    const size_t buffer = worker_config{}.buffer_size;
    for (int i = 0; i < 20; ++i) {
        const size_t before = handler.bytes;
        s.on_worker([&] {
            handler.conn->resume_reading();
            return 0;
        });
        std::this_thread::sleep_for(20ms);
        const size_t got = handler.bytes - before;
        EXPECT_GT(got, 0u) << i;
        EXPECT_LE(got, buffer) << i << ": a resume handed over more than one buffer";
    }
    handler.keep_pausing = false;  // now read it all
    s.on_worker([&] {
        handler.conn->resume_reading();
        return 0;
    });
    writer.join();
    deadline = std::chrono::steady_clock::now() + 10s;
    while (handler.bytes < data.size() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(handler.bytes, data.size());
    ::close(fd);
}

TEST(worker, slow_reader_back_pressure_bounds_memory) {
    std::atomic<size_t> peak{0};
    worker_config cfg = small_buffers(16 * 1024, 16);
    cfg.send_queue_limit_bytes = 64 * 1024;  // below the 256 KiB of buffers, so the limit acts first
    // Once reading pauses, at most the buffers the kernel already filled still arrive.
    const size_t bound = cfg.send_queue_limit_bytes + size_t{cfg.buffer_size} * cfg.buffer_count;
    server s(cfg, [&](connection&) { return std::make_unique<bounded_echo>(&peak); });
    int fd = connect_client(s.port);
    std::string big = pattern(16 << 20, 9);
    std::thread writer([&] { write_all(fd, big); });
    std::this_thread::sleep_for(300ms);  // the client reads nothing for a while
    size_t during = peak.load();
    EXPECT_GT(during, cfg.send_queue_limit_bytes);  // the limit was reached...
    EXPECT_LE(during, bound);                       // ...and held
    auto got = read_exactly(fd, big.size());
    EXPECT_EQ(got.size(), big.size());
    EXPECT_TRUE(got == big);
    writer.join();
    EXPECT_LE(peak.load(), bound);
    ::close(fd);
}

// Short owned strings live inside their queue entries: queued while a send is in flight, they
// must not move under the kernel. An echo that answers in 7-byte strings, to a client that
// reads late, so the send queue fills and grows while sends are in flight.
struct short_string_echo : connection_handler {
    std::atomic<size_t>* capacity = nullptr;  // the send queue's, when data came in
    void on_data(connection& c, rx_buffer data) override {
        if (capacity) *capacity = c.queue_capacity();
        auto v = data.view();
        for (size_t at = 0; at < v.size(); at += 7) c.send(std::string(v.substr(at, 7)));
    }
    void on_close(connection&, int) override {}
};

TEST(worker, short_strings_queued_during_a_send_arrive_intact_and_in_order) {
    server s(small_buffers(4096, 64), [](connection&) { return std::make_unique<short_string_echo>(); });
    int fd = connect_client(s.port);
    std::string data = pattern(1 << 20, 5);
    std::thread writer([&] { write_all(fd, data); });
    std::this_thread::sleep_for(200ms);  // the client reads nothing for a while: sends stay in flight
    auto got = read_exactly(fd, data.size());
    writer.join();
    EXPECT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data);
    ::close(fd);
}

// A burst grows a connection's send queue far past what steady traffic needs: once drained it
// gives that memory back (64 client connections that each took a burst kept 5 MiB when the
// queue kept up to 1,024 pieces).
struct burst_echo : short_string_echo {
    std::atomic<size_t>* peak = nullptr;
    void on_data(connection& c, rx_buffer data) override {
        short_string_echo::on_data(c, std::move(data));
        if (c.queue_capacity() > *peak) *peak = c.queue_capacity();
    }
};

// A client of a server whose connections answer with burst_echo.
struct burst_client {
    std::atomic<size_t> capacity{0}, peak{0};
    server s{small_buffers(4096, 64), [this](connection&) {
                 auto h = std::make_unique<burst_echo>();
                 h->capacity = &capacity;
                 h->peak = &peak;
                 return h;
             }};
    int fd = connect_client(s.port);
    ~burst_client() { ::close(fd); }
    // Sends `bytes` and reads them back (in 7-byte pieces on the server's side).
    bool echo(size_t bytes, int seed) {
        const std::string data = pattern(bytes, seed);
        return write_all(fd, data) && read_exactly(fd, data.size()) == data;
    }
};

TEST(worker, a_send_queue_grown_by_a_burst_is_given_back_once_drained) {
    burst_client c;
    // One receive of 4 KiB answered in 7-byte pieces: about 600 queued in one turn.
    ASSERT_TRUE(c.echo(4096, 6));
    EXPECT_GT(c.peak.load(), 256u) << "the burst grew the queue";
    ASSERT_TRUE(c.echo(7, 1));  // the next data finds the queue drained
    EXPECT_LE(c.capacity.load(), 256u) << "and it gave the room back";
}

TEST(worker, a_send_queue_that_stays_far_from_full_gives_its_room_back) {
    burst_client c;
    // 100 pieces in one turn: room for 128 or so (some may wait for a send in flight), under
    // the size given back at once.
    ASSERT_TRUE(c.echo(700, 7));
    EXPECT_GE(c.peak.load(), 64u);
    EXPECT_LE(c.peak.load(), 256u);
    // Then one piece at a time, each sent before the next comes.
    for (int i = 0; i < 80; ++i) ASSERT_TRUE(c.echo(7, i));
    EXPECT_LE(c.capacity.load(), 16u) << "a ring a quarter full at most, drain after drain, was given back";
}

TEST(worker, five_thousand_connections_on_one_worker) {
    // Both ends live in this process: 10,000 descriptors and then some. Raise the soft limit
    // as far as the hard limit allows.
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 12000) {
        lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 12000);
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    ASSERT_GE(lim.rlim_cur, 12000u) << "RLIMIT_NOFILE hard limit too low for 5,000 connections: raise it (ulimit -Hn)";
    server s(worker_config{}, [](connection&) { return std::make_unique<echo>(); });
    constexpr int n = 5000;
    std::vector<int> fds;
    fds.reserve(n);
    for (int i = 0; i < n; ++i) {
        int fd = connect_client(s.port);
        ASSERT_GE(fd, 0) << i;
        fds.push_back(fd);
    }
    for (int i = 0; i < n; ++i) ASSERT_TRUE(write_all(fds[static_cast<size_t>(i)], "ping" + std::to_string(i % 10)));
    for (int i = 0; i < n; ++i) {
        ASSERT_EQ(read_exactly(fds[static_cast<size_t>(i)], 5), "ping" + std::to_string(i % 10));
    }
    EXPECT_EQ(s.on_worker([&] { return s.w.connection_count(); }), static_cast<size_t>(n));
    for (int fd : fds) ::close(fd);
    for (int i = 0; i < 200 && s.on_worker([&] { return s.w.connection_count(); }) > 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(s.on_worker([&] { return s.w.connection_count(); }), 0u);
}

TEST(worker, cross_thread_messages_arrive_in_order) {
    server s(worker_config{}, [](connection&) { return std::make_unique<echo>(); });
    constexpr int senders = 4, per_sender = 20000;
    std::vector<int> last(senders, -1);
    std::atomic<int> out_of_order{0}, received{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < senders; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < per_sender; ++i) {
                s.w.post([&, t, i] {
                    if (last[static_cast<size_t>(t)] != i - 1) ++out_of_order;
                    last[static_cast<size_t>(t)] = i;
                    ++received;
                });
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(s.on_worker([&] { return received.load(); }), senders * per_sender);
    EXPECT_EQ(out_of_order.load(), 0);
}

struct connect_probe : connection_handler {
    void on_data(connection&, rx_buffer) override {}
    void on_close(connection&, int) override {}
};

TEST(worker, connect_succeeds_refuses_and_times_out) {
    server s(worker_config{}, [](connection&) { return std::make_unique<echo>(); });
    auto try_connect = [&](const std::string& host, uint16_t port, uint32_t timeout_ms) {
        std::promise<int> done;
        auto f = done.get_future();
        s.w.post([&] {
            auto addr = resolve_address(host, port);
            s.w.connect(addr->first, addr->second, timeout_ms, std::make_unique<connect_probe>(), [&](connection* c, int err) {
                if (c) c->close();
                done.set_value(err);
            });
        });
        return f.get();
    };
    EXPECT_EQ(try_connect("127.0.0.1", s.port, 1000), 0);
    // A port nobody listens on: find one by binding and closing.
    int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(probe, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(probe);
    EXPECT_EQ(try_connect("127.0.0.1", ntohs(a.sin_port), 1000), -ECONNREFUSED);
    // A listener that never accepts, its backlog full: further SYNs are dropped, so only the
    // timeout ends the attempt.
    int full = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in fa{};
    fa.sin_family = AF_INET;
    fa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(full, reinterpret_cast<sockaddr*>(&fa), sizeof fa);
    ::listen(full, 0);
    socklen_t flen = sizeof fa;
    getsockname(full, reinterpret_cast<sockaddr*>(&fa), &flen);
    std::vector<int> fillers;
    for (int i = 0; i < 4; ++i) {
        int f = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ::connect(f, reinterpret_cast<sockaddr*>(&fa), sizeof fa);
        fillers.push_back(f);
    }
    std::this_thread::sleep_for(50ms);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(try_connect("127.0.0.1", ntohs(fa.sin_port), 100), -ETIMEDOUT);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    for (int f : fillers) ::close(f);
    ::close(full);
}

TEST(worker, shutdown_with_traffic_in_flight) {
    auto s = std::make_unique<server>(small_buffers(4096, 64), [](connection&) { return std::make_unique<echo>(); });
    std::atomic<bool> done{false};
    std::vector<std::thread> clients;
    std::atomic<int> ended{0};
    for (int i = 0; i < 8; ++i) {
        clients.emplace_back([&, port = s->port] {
            int fd = connect_client(port);
            std::string chunk = pattern(8192, 2);
            char buf[8192];
            while (!done) {
                if (!write_all(fd, chunk)) break;
                if (::recv(fd, buf, sizeof buf, 0) <= 0) break;
            }
            ++ended;
            ::close(fd);
        });
    }
    std::this_thread::sleep_for(200ms);
    auto start = std::chrono::steady_clock::now();
    s.reset();  // stop(200) and join: must return with clients still sending
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    for (int i = 0; i < 100 && ended < 8; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(ended.load(), 8);  // every client saw its connection end
    done = true;
    for (auto& c : clients) c.join();
}

TEST(worker, listen_on_a_bad_address_fails_with_a_message) {
    worker w;
    std::string message;
    std::thread t([&] {
        w.run([&](worker& self) {
            try {
                self.listen("not-an-address", 0, [](connection&) { return std::make_unique<echo>(); });
            } catch (const std::exception& e) {
                message = e.what();
            }
            self.stop(0);
        });
    });
    t.join();
    EXPECT_EQ(message, "cannot parse listen address 'not-an-address'");
}

// What every program says when io_uring is refused: each test refuses it in a child (a death
// test) and checks the worker's error names what to fix.
[[noreturn]] void print_run_error_with_io_uring_refused(int error) {
    if (!tandem::testing::deny_io_uring(error)) std::_Exit(3);
    worker w;
    try {
        w.run([](worker&) {});
    } catch (const std::exception& e) {
        std::fputs(e.what(), stderr);
        std::_Exit(0);
    }
    std::_Exit(4);  // the worker ran: the filter did not refuse io_uring
}

TEST(worker, a_ring_refused_by_a_seccomp_filter_names_the_sysctl_and_the_profile) {
    EXPECT_EXIT(
        print_run_error_with_io_uring_refused(EPERM),
        ::testing::ExitedWithCode(0),
        "cannot set up io_uring: Operation not permitted: io_uring is refused to this process: kernel.io_uring_disabled is "
        "[0-2] .*seccomp filter blocks io_uring_setup");
}

TEST(worker, a_kernel_without_io_uring_says_so) {
    EXPECT_EXIT(
        print_run_error_with_io_uring_refused(ENOSYS),
        ::testing::ExitedWithCode(0), "cannot set up io_uring: Function not implemented: this kernel or sandbox has no io_uring");
}

}  // namespace
}  // namespace tandem::net
