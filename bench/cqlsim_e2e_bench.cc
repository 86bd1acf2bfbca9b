// cqlsim end to end through a socket: prepared single-row INSERTs, then SELECTs by key,
// 128 in flight on one connection of the shared client library. cqlsim runs on a worker thread pinned to CPU 0, the
// client on CPU 1. Target: 150,000 requests per second, so cqlsim never limits a tandem
// benchmark. Usage: cqlsim_e2e_bench [--seconds S]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <thread>

#include "bench/loopback.hh"
#include "core/client/cluster.hh"
#include "cql/envelope.hh"
#include "cql/query.hh"
#include "cql/result.hh"
#include "cql/startup.hh"
#include "net/worker.hh"
#include "tools/cqlsim/server.hh"

using namespace tandem;

namespace {

using tandem::bench::pin;

// A closed loop of prepared statements on one connection of the shared client library
// (core/client/), `depth` in flight, tagged replies (no allocation per request).
struct closed_loop : core::client::reply_sink {
    static constexpr int depth = 128;
    net::worker& w;
    core::client::connection* c = nullptr;
    std::string id;
    bool insert = true;
    std::string value = std::string(100, 'v');
    std::string body, storage;
    int64_t key = 0;
    uint64_t done = 0, errors = 0;
    int inflight = 0;
    std::chrono::steady_clock::time_point start, end;
    std::function<void(double)> finished;

    explicit closed_loop(net::worker& wk) : w(wk) {}
    void begin(double seconds, std::function<void(double)> then) {
        finished = std::move(then);
        done = 0;
        start = std::chrono::steady_clock::now();
        end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
        c->set_sink(this);
        for (int i = 0; i < depth; ++i) issue();
    }
    void issue() {
        char k[8];
        cql::store_be64(k, static_cast<uint64_t>(key++ % 100000));
        cql::bound_value vals[2] = {{{}, cql::value_ref::of(std::string_view(k, 8))}, {{}, cql::value_ref::of(value)}};
        cql::execute_message e;
        e.id = id;
        e.params.cl = cql::consistency::one;
        e.params.values = cql::value_list::build(std::span(vals, insert ? 2 : 1), false, storage);
        body.clear();
        e.encode(body, c->version());
        if (c->request(cql::opcode::execute, body, 0)) ++inflight;
    }
    void on_reply(core::client::connection&, uint64_t, const core::client::reply& r) override {
        --inflight;
        if (r.is_error()) ++errors;
        ++done;
        if (std::chrono::steady_clock::now() < end) {
            issue();
        } else if (inflight == 0) {
            double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            finished(static_cast<double>(done) / elapsed);
        }
    }
};

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
    net::worker cw;
    core::client::cluster_options co;
    co.port = port;
    co.discover = false;
    co.connection.max_version = 4;
    core::client::cluster cl(cw, co);
    closed_loop loop(cw);
    double insert_rate = 0, select_rate = 0;
    std::string failure;
    auto fail = [&](const std::string& why) {
        failure = why;
        cw.stop(0);
    };
    auto measure = [&](std::shared_ptr<const core::client::prepared_statement> ins, std::shared_ptr<const core::client::prepared_statement> sel) {
        loop.c = cl.pick();
        loop.id = ins->id;
        loop.begin(seconds, [&, sel](double rate) {
            insert_rate = rate;
            loop.insert = false;
            loop.id = sel->id;
            loop.begin(seconds, [&](double rate2) {
                select_rate = rate2;
                cw.stop(0);
            });
        });
    };
    const std::string schema[] = {"CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
                                  "CREATE TABLE ks.kv (k bigint PRIMARY KEY, v text)"};
    cw.run([&](net::worker&) {
        cl.connect([&](const std::string& err) {
            if (!err.empty()) return fail(err);
            cl.pick()->request(cql::opcode::query, core::client::query_body(schema[0], 4), [&](const core::client::reply& r) {
                if (r.is_error()) return fail(r.describe());
                cl.pick()->request(cql::opcode::query, core::client::query_body(schema[1], 4), [&](const core::client::reply& r2) {
                    if (r2.is_error()) return fail(r2.describe());
                    cl.prepare("INSERT INTO ks.kv (k, v) VALUES (?, ?)", [&](auto ins, const std::string& e1) {
                        if (!ins) return fail(e1);
                        cl.prepare("SELECT v FROM ks.kv WHERE k = ?", [&, ins](auto sel, const std::string& e2) {
                            if (!sel) return fail(e2);
                            measure(ins, sel);
                        });
                    });
                });
            });
        });
    });
    if (!failure.empty() || loop.errors) {
        std::fprintf(stderr, "cqlsim_e2e_bench: %s\n", failure.empty() ? (std::to_string(loop.errors) + " errors").c_str() : failure.c_str());
        return 1;
    }
    std::printf("cqlsim end to end, one connection, 128 in flight, server on one core:\n");
    std::printf("  prepared INSERT     %10.0f requests/s  (target 150000: %s)\n", insert_rate, insert_rate >= 150000 ? "met" : "NOT met");
    std::printf("  prepared SELECT     %10.0f requests/s  (target 150000: %s)\n", select_rate, select_rate >= 150000 ? "met" : "NOT met");
    w.stop(100);
    t.join();
    return 0;
}
