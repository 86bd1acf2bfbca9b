// cqlsim end to end through a socket: prepared single-row INSERTs, then SELECTs by key,
// pipelined 128 deep on one connection. cqlsim runs on a worker thread pinned to CPU 0, the
// client on CPU 1. Target: 150,000 requests per second, so cqlsim never limits a tandem
// benchmark. Usage: cqlsim_e2e_bench [--seconds S]
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <thread>

#include "bench/loopback.hh"
#include "cql/envelope.hh"
#include "cql/query.hh"
#include "cql/result.hh"
#include "cql/startup.hh"
#include "net/worker.hh"
#include "tools/cqlsim/server.hh"

using namespace tandem;

namespace {

using tandem::bench::pin;

struct client {
    int fd = -1;
    std::string in;
    int16_t next_stream = 0;

    explicit client(uint16_t port) : fd(tandem::bench::dial(port)) {}
    ~client() { ::close(fd); }

    void send_all(const std::string& bytes) {
        size_t off = 0;
        while (off < bytes.size()) {
            ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, 0);
            if (n <= 0) std::exit(1);
            off += static_cast<size_t>(n);
        }
    }
    std::string request(cql::opcode op, const std::string& body) {
        cql::envelope_header h;
        h.version = 4;
        h.op = op;
        h.stream = static_cast<int16_t>(next_stream++ & 0x7FFF);
        return cql::make_envelope(h, body);
    }
    // Reads `count` responses; returns the body of the last one and how many were errors.
    std::pair<std::string, int> receive(int count) {
        int errors = 0;
        std::string last;
        char buf[65536];
        while (count > 0) {
            auto s = cql::split_envelope(in);
            if (s.status == cql::parse_status::ok) {
                if (s.envelope.header.op == cql::opcode::error) ++errors;
                last.assign(s.envelope.body);
                in.erase(0, s.consumed);
                --count;
                continue;
            }
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) std::exit(1);
            in.append(buf, static_cast<size_t>(n));
        }
        return {last, errors};
    }
    std::string call(cql::opcode op, const std::string& body) {
        send_all(request(op, body));
        return receive(1).first;
    }
};

std::string query_body(const std::string& q) {
    cql::query_message m;
    m.query = q;
    std::string b;
    m.encode(b, 4);
    return b;
}

double run(client& c, const std::string& id, bool insert, double seconds) {
    constexpr int depth = 128;
    std::string value(100, 'v');
    std::string batch, storage;
    uint64_t done = 0;
    int64_t key = 0;
    auto start = std::chrono::steady_clock::now();
    auto end = start + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
        batch.clear();
        for (int i = 0; i < depth; ++i) {
            char k[8];
            cql::store_be64(k, static_cast<uint64_t>(key++ % 100000));
            cql::bound_value vals[2] = {{{}, cql::value_ref::of(std::string_view(k, 8))}, {{}, cql::value_ref::of(value)}};
            cql::execute_message e;
            e.id = id;
            e.params.cl = cql::consistency::one;
            e.params.values = cql::value_list::build(std::span(vals, insert ? 2 : 1), false, storage);
            std::string body;
            e.encode(body, 4);
            batch += c.request(cql::opcode::execute, body);
        }
        c.send_all(batch);
        auto [last, errors] = c.receive(depth);
        if (errors) {
            std::fprintf(stderr, "cqlsim_e2e_bench: %d errors\n", errors);
            std::exit(1);
        }
        done += depth;
    }
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return static_cast<double>(done) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 3;
    if (argc == 3 && std::string(argv[1]) == "--seconds") seconds = std::atof(argv[2]);
    cqlsim::server_config cfg;
    cfg.port = 0;
    cfg.cluster.nodes.push_back(cqlsim::node_info{"127.0.0.1", 0, "datacenter1", "rack1", {}, {}});
    cqlsim::server srv(cfg);
    net::worker w;
    std::promise<uint16_t> bound;
    std::thread t([&] {
        pin(0);
        w.run([&](net::worker& self) {
            srv.start(self);
            bound.set_value(srv.data().config().nodes[0].port);
        });
    });
    uint16_t port = bound.get_future().get();
    pin(1);
    {
        client c(port);
        cql::startup_message s;
        s.options = {{"CQL_VERSION", "3.0.0"}};
        std::string sb;
        s.encode(sb);
        c.call(cql::opcode::startup, sb);
        c.call(cql::opcode::query, query_body("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"));
        c.call(cql::opcode::query, query_body("CREATE TABLE ks.kv (k bigint PRIMARY KEY, v text)"));
        auto prep = [&](const std::string& q) {
            cql::prepare_message p{q, {}};
            std::string b;
            p.encode(b, 4);
            auto r = cql::result_message::decode(c.call(cql::opcode::prepare, b), 4);
            return r->prepared_id;
        };
        std::string ins = prep("INSERT INTO ks.kv (k, v) VALUES (?, ?)");
        std::string sel = prep("SELECT v FROM ks.kv WHERE k = ?");
        double insert_rate = run(c, ins, true, seconds);
        double select_rate = run(c, sel, false, seconds);
        std::printf("cqlsim end to end, one connection, 128 in flight, server on one core:\n");
        std::printf("  prepared INSERT     %10.0f requests/s  (target 150000: %s)\n", insert_rate, insert_rate >= 150000 ? "met" : "NOT met");
        std::printf("  prepared SELECT     %10.0f requests/s  (target 150000: %s)\n", select_rate, select_rate >= 150000 ? "met" : "NOT met");
    }
    w.stop(100);
    t.join();
    return 0;
}
