// cqlbench: a CQL load generator. Closed loop (connections x requests in flight) or open loop
// at a fixed rate (latency from the intended send time), prepared INSERT / SELECT by key /
// UPDATE / mixed / BATCH, keys uniform, sequential or zipfian; a log-linear latency histogram; a
// JSON summary. Like a driver it discovers the nodes of the contact point's datacenter and
// routes each request to the node that owns its partition key (or round robin): the connections,
// discovery, token ring and prepared statements are the shared client library's (core/client/).
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/client/cluster.hh"
#include "core/consistency.hh"
#include "core/histogram.hh"
#include "cql/error_body.hh"
#include "cql/query.hh"
#include "net/worker.hh"
#include "tools/cqlbench/workload.hh"

using namespace tandem;

namespace {

uint64_t now_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

struct options {
    std::string host = "127.0.0.1";
    uint16_t port = 9042;
    int connections = 4;  // per node
    int depth = 32;
    double duration_s = 10;
    double warmup_s = 1;
    uint64_t requests = 0;  // stop after this many (0: run for the duration)
    double rate = 0;        // open loop when > 0
    double coalesce_us = 0;  // open loop: send what is due every this many µs (0: each request at its time)
    bool batch_replies = false;  // open loop: read replies only at the send ticks
    std::string workload = "mixed";
    size_t batch_size = 10;
    double read_ratio = 0.5;
    uint64_t keys = 100000;
    std::string distribution = "uniform";
    size_t value_size = 100;
    std::string keyspace = "cqlbench", table = "kv";
    bool no_schema = false;
    std::string user, password;
    bool json = false;
    int protocol = 4;  // 4, or 5 (v5 framing after READY)
    std::string routing = "token";  // token, round-robin, contact-point
    std::string compression = "none";
    bool client_timestamps = true;  // a default timestamp on every request, as drivers send
};

enum class request_kind : uint8_t { insert, select, update, batch };

struct request {
    request_kind kind;
    uint64_t key;  // the partition key (a batch's first)
};

// The run (one worker thread: no locks). Replies come back tagged with their intended send time.
struct run_state : core::client::reply_sink {
    options opt;
    net::worker* w = nullptr;
    std::unique_ptr<core::client::cluster> cl;
    std::shared_ptr<const core::client::prepared_statement> insert, select, update;
    cqlbench::key_chooser keys{cqlbench::key_chooser::kind::uniform, 1, 1};
    std::mt19937_64 rng{42};
    std::string value;
    core::histogram hist;
    std::map<std::string, uint64_t> errors;
    uint64_t sent = 0, done = 0;
    uint64_t inflight = 0;
    bool started = false;  // set-up done, prepared ids known
    uint64_t measure_from_ns = 0, stop_at_ns = 0;
    bool stopping = false;
    std::unique_ptr<cqlbench::schedule> sched;
    std::vector<core::envelope_writer*> flush_list;  // v5 writers with frames for this turn
    std::string storage, body;
    core::timestamp_generator timestamps;
    size_t node_count = 0, connection_count = 0;  // when the load started
    std::string fatal;
    void fail(const std::string& why) {
        if (fatal.empty()) fatal = why;
        w->stop(0);
    }

    request next_request() {
        const auto& wl = opt.workload;
        request r{request_kind::insert, keys.next()};
        if (wl == "select") r.kind = request_kind::select;
        if (wl == "update") r.kind = request_kind::update;
        if (wl == "batch") r.kind = request_kind::batch;
        if (wl == "mixed" && std::uniform_real_distribution<double>(0, 1)(rng) < opt.read_ratio) r.kind = request_kind::select;
        return r;
    }
    void issue(uint64_t intended_ns);
    void encode(const request& rq);
    void fill();
    void on_reply(core::client::connection&, uint64_t intended, const core::client::reply& r) override {
        --inflight;
        uint64_t t = now_ns();
        if (r.is_error()) {
            auto e = cql::error_message::decode(r.body, cql::effective_version(r.header.version));
            ++errors[e ? std::string(cql::to_string(e->code)) : "MALFORMED_ERROR"];
        } else if (intended >= measure_from_ns) {
            hist.record(t - intended);
            ++done;
        }
        fill();
    }
};

// The body of one request, in `body`.
void run_state::encode(const request& rq) {
    const auto version = static_cast<uint8_t>(opt.protocol);
    body.clear();
    if (rq.kind == request_kind::batch) {
        // An UNLOGGED batch of --batch-size prepared INSERTs (routed by its first key).
        const size_t n = opt.batch_size;
        std::vector<std::string> bkeys(n, std::string(8, '\0'));
        std::vector<std::array<cql::bound_value, 2>> vals(n);
        std::vector<std::string> storages(n);
        std::vector<cql::batch_child> children(n);
        for (size_t i = 0; i < n; ++i) {
            cql::store_be64(bkeys[i].data(), i == 0 ? rq.key : keys.next());
            vals[i] = {cql::bound_value{{}, cql::value_ref::of(bkeys[i])}, cql::bound_value{{}, cql::value_ref::of(value)}};
            children[i].prepared = true;
            children[i].query_or_id = insert->id;
            children[i].values = cql::value_list::build(vals[i], false, storages[i]);
        }
        cql::batch_message b;
        b.type = cql::batch_type::unlogged;
        b.cl = cql::consistency::local_one;
        if (opt.client_timestamps) b.timestamp = timestamps.next();
        b.children = cql::batch_children::build(children, storage);
        b.encode(body, version);
        return;
    }
    char key[8];
    cql::store_be64(key, rq.key);
    cql::execute_message e;
    e.params.cl = cql::consistency::local_one;
    if (opt.client_timestamps) e.params.timestamp = timestamps.next();
    if (rq.kind == request_kind::update) {
        // UPDATE ... SET v = ? WHERE k = ?: the value first.
        cql::bound_value uvals[2] = {{{}, cql::value_ref::of(value)}, {{}, cql::value_ref::of(std::string_view(key, 8))}};
        e.id = update->id;
        e.params.values = cql::value_list::build(uvals, false, storage);
    } else {
        bool read = rq.kind == request_kind::select;
        cql::bound_value vals[2] = {{{}, cql::value_ref::of(std::string_view(key, 8))}, {{}, cql::value_ref::of(value)}};
        e.id = read ? select->id : insert->id;
        e.params.values = cql::value_list::build(std::span(vals, read ? 1 : 2), false, storage);
        e.params.skip_metadata = read;
    }
    e.encode(body, version);
}

// Token-aware: the owner of the key's token (the library falls back along the ring when that
// node is down or full); round robin: every connection in turn.
void run_state::issue(uint64_t intended_ns) {
    request rq = next_request();
    char key[8];
    cql::store_be64(key, rq.key);
    auto* c = cl->pick(opt.routing == "token" ? std::optional<std::string_view>(std::string_view(key, 8)) : std::nullopt);
    if (!c) {
        ++errors["CLIENT_BACKLOG"];  // every connection has all its stream ids in flight
        return;
    }
    encode(rq);
    if (!c->request(rq.kind == request_kind::batch ? cql::opcode::batch : cql::opcode::execute, body, intended_ns)) {
        ++errors["CLIENT_BACKLOG"];
        return;
    }
    ++inflight;
    ++sent;
}

// Closed loop: keep connections x depth requests in flight.
void run_state::fill() {
    if (sched || !started) return;
    const uint64_t budget = static_cast<uint64_t>(cl->connection_count()) * static_cast<uint64_t>(opt.depth);
    while (!stopping && inflight < budget && (opt.requests == 0 || sent < opt.requests)) {
        uint64_t before = sent;
        issue(now_ns());
        if (sent == before) break;  // no room anywhere: wait for replies
    }
}

std::string query_body(const std::string& q, int version) {
    cql::query_message m;
    m.query = q;
    m.params.cl = cql::consistency::local_one;
    std::string b;
    m.encode(b, static_cast<uint8_t>(version));
    return b;
}

void print_summary(const run_state& r, double seconds) {
    auto us = [&](double q) { return static_cast<double>(r.hist.quantile(q)) / 1000.0; };
    uint64_t errors = 0;
    for (auto& [k, v] : r.errors) errors += v;
    if (r.opt.json) {
        std::printf("{\"requests\": %llu, \"seconds\": %.3f, \"throughput\": %.1f, \"errors\": %llu, \"nodes\": %zu, "
                    "\"connections\": %zu, \"routing\": \"%s\", "
                    "\"latency_us\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p99.9\": %.1f, \"p99.99\": %.1f, \"max\": %.1f, \"mean\": %.1f}, "
                    "\"errors_by_kind\": {",
                    static_cast<unsigned long long>(r.done), seconds, static_cast<double>(r.done) / seconds,
                    static_cast<unsigned long long>(errors), r.node_count, r.connection_count, r.opt.routing.c_str(), us(0.5), us(0.9),
                    us(0.99), us(0.999), us(0.9999), static_cast<double>(r.hist.max()) / 1000.0, r.hist.mean() / 1000.0);
        bool first = true;
        for (auto& [k, v] : r.errors) {
            std::printf("%s\"%s\": %llu", first ? "" : ", ", k.c_str(), static_cast<unsigned long long>(v));
            first = false;
        }
        std::printf("}}\n");
        return;
    }
    std::printf("cqlbench: %llu requests in %.2f s: %.0f requests/s, %llu errors (%zu nodes, %zu connections, %s routing)\n",
                static_cast<unsigned long long>(r.done), seconds, static_cast<double>(r.done) / seconds,
                static_cast<unsigned long long>(errors), r.node_count, r.connection_count, r.opt.routing.c_str());
    std::printf("latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  p99.99 %.1f  max %.1f\n", us(0.5), us(0.9), us(0.99),
                us(0.999), us(0.9999), static_cast<double>(r.hist.max()) / 1000.0);
    for (auto& [k, v] : r.errors) std::printf("errors: %s %llu\n", k.c_str(), static_cast<unsigned long long>(v));
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"cqlbench: load for a CQL endpoint (cqlsim, tandem, or any Cassandra-compatible cluster)"};
    options o;
    app.add_option("--host", o.host, "contact point")->capture_default_str();
    app.add_option("--port", o.port, "native protocol port (every node's)")->capture_default_str();
    app.add_option("--connections", o.connections, "connections per node")->check(CLI::Range(1, 1024))->capture_default_str();
    app.add_option("--depth", o.depth, "requests in flight per connection (closed loop)")->check(CLI::Range(1, 32000))->capture_default_str();
    app.add_option("--duration", o.duration_s, "seconds to measure")->check(CLI::PositiveNumber)->capture_default_str();
    app.add_option("--warmup", o.warmup_s, "seconds before measuring")->check(CLI::NonNegativeNumber)->capture_default_str();
    app.add_option("--requests", o.requests, "stop after this many requests instead of a duration");
    app.add_option("--rate", o.rate, "open loop: requests per second (latency from the intended send time)");
    app.add_option("--coalesce-us", o.coalesce_us,
                   "open loop: wake at most every this many µs and send all that is due, as a driver that coalesces "
                   "writes does (gocql: 200); latency still counts from each request's intended time (0: wake for each request)")
        ->check(CLI::Range(0.0, 100000.0))
        ->capture_default_str();
    app.add_flag("--batch-replies", o.batch_replies,
                 "open loop: handle replies only when requests are sent (every --coalesce-us), not as they arrive: one "
                 "wake-up per tick instead of one per burst of replies, so the load generator costs its core less; a reply "
                 "waits up to that long, counted in its latency");
    app.add_option("--workload", o.workload, "insert, select, mixed, update or batch (UNLOGGED, --batch-size INSERTs)")
        ->check(CLI::IsMember({"insert", "select", "mixed", "update", "batch"}))
        ->capture_default_str();
    app.add_option("--protocol", o.protocol, "native protocol version: 4, or 5 (framed, as drivers speak it by default)")
        ->check(CLI::IsMember({4, 5}))
        ->capture_default_str();
    app.add_option("--routing", o.routing,
                   "token (each request to the node owning its key, as drivers' token-aware policy), round-robin (every "
                   "connection in turn), or contact-point (no discovery: only the contact point)")
        ->check(CLI::IsMember({"token", "round-robin", "contact-point"}))
        ->capture_default_str();
    app.add_option("--compression", o.compression, "none, lz4 or snappy (v4 bodies; v5 frames: lz4 only)")
        ->check(CLI::IsMember({"none", "lz4", "snappy"}))
        ->capture_default_str();
    app.add_option("--batch-size", o.batch_size, "statements per BATCH")->check(CLI::Range(1, 1000))->capture_default_str();
    app.add_option("--read-ratio", o.read_ratio, "share of reads in the mixed workload")->check(CLI::Range(0.0, 1.0))->capture_default_str();
    app.add_option("--keys", o.keys, "distinct partition keys")->check(CLI::PositiveNumber)->capture_default_str();
    app.add_option("--distribution", o.distribution, "uniform, sequential or zipfian")
        ->check(CLI::IsMember({"uniform", "sequential", "zipfian"}))->capture_default_str();
    app.add_option("--value-size", o.value_size, "bytes per value")->capture_default_str();
    app.add_option("--keyspace", o.keyspace, "keyspace")->capture_default_str();
    app.add_option("--table", o.table, "table")->capture_default_str();
    app.add_flag("--no-schema", o.no_schema, "do not create the keyspace and table");
    app.add_flag("!--no-client-timestamps", o.client_timestamps,
                 "send no default timestamp (drivers send one on every request by default; without it tandem adds one to "
                 "each dual write)");
    app.add_option("--user", o.user, "username (PasswordAuthenticator)");
    app.add_option("--password", o.password, "password");
    app.add_flag("--json", o.json, "print the summary as JSON");
    CLI11_PARSE(app, argc, argv);

    if (o.protocol == 5 && o.compression == "snappy") {
        std::fprintf(stderr, "cqlbench: protocol v5 compresses frames with lz4 only; use --compression lz4 or --protocol 4\n");
        return 2;
    }
    if (o.batch_replies && o.rate <= 0) {
        std::fprintf(stderr, "cqlbench: --batch-replies needs the open loop (--rate)\n");
        return 2;
    }
    run_state r;
    r.opt = o;
    r.value.assign(o.value_size, 'v');
    cqlbench::key_chooser::kind kind;
    cqlbench::parse_kind(o.distribution, kind);
    r.keys = cqlbench::key_chooser(kind, o.keys, 1);
    net::worker_config wc;
    wc.hold_until_hook_due = o.batch_replies;
    net::worker w(wc);
    r.w = &w;
    core::client::cluster_options co;
    co.host = o.host;
    co.port = o.port;
    co.connections_per_node = o.connections;
    co.discover = o.routing != "contact-point";
    co.connection.username = o.user;
    co.connection.password = o.password;
    co.connection.max_version = co.connection.min_version = static_cast<uint8_t>(o.protocol);
    co.connection.compression = cql::compression_from_name(o.compression).value_or(cql::compression::none);
    co.connection.flush_list = &r.flush_list;
    co.log = [](const std::string& line) { std::fprintf(stderr, "cqlbench: %s\n", line.c_str()); };
    r.cl = std::make_unique<core::client::cluster>(w, co);
    const bool tty = isatty(STDOUT_FILENO) && !o.json;
    net::timer ticker, progress;
    uint64_t started = 0;
    uint64_t last_done = 0;

    auto start_load = [&] {
        for (auto* c : r.cl->all_connections()) c->set_sink(&r);
        r.node_count = r.cl->nodes().size();
        r.connection_count = r.cl->connection_count();
        r.started = true;
        started = now_ns();
        r.measure_from_ns = started + static_cast<uint64_t>(o.warmup_s * 1e9);
        r.stop_at_ns = r.measure_from_ns + static_cast<uint64_t>(o.duration_s * 1e9);
        if (o.rate > 0) r.sched = std::make_unique<cqlbench::schedule>(o.rate, started);
        ticker.set_callback([&] {
            uint64_t t = now_ns();
            if ((t >= r.stop_at_ns && o.requests == 0) || (o.requests && r.sent >= o.requests)) {
                r.stopping = true;
                if (r.inflight == 0 || t >= r.stop_at_ns + 2'000'000'000ULL) {
                    w.stop(100);
                    return;
                }
            }
            w.timers().arm(ticker, 1);
        });
        if (r.sched) prctl(PR_SET_TIMERSLACK, 1UL);  // the kernel's default 50 µs slack would delay every wake-up
        w.timers().arm(ticker, 1);
        if (tty) {
            progress.set_callback([&] {
                double elapsed = static_cast<double>(now_ns() - started) / 1e9;
                std::printf("\r%6.1f s  %9.0f requests/s  p99 %8.1f us  errors %zu   ", elapsed,
                            static_cast<double>(r.done - last_done), static_cast<double>(r.hist.quantile(0.99)) / 1000.0, r.errors.size());
                std::fflush(stdout);
                last_done = r.done;
                w.timers().arm(progress, 1000);
            });
            w.timers().arm(progress, 1000);
        }
        r.fill();
    };

    // Set-up, one step after the other: the schema on one connection, then the statements
    // prepared on every node (Cassandra keeps them per node; drivers prepare everywhere).
    std::function<void(size_t)> prepare_step;
    const std::string t = o.keyspace + "." + o.table;
    const std::pair<std::string, std::shared_ptr<const core::client::prepared_statement>*> statements[] = {
        {"INSERT INTO " + t + " (k, v) VALUES (?, ?)", &r.insert},
        {"SELECT v FROM " + t + " WHERE k = ?", &r.select},
        {"UPDATE " + t + " SET v = ? WHERE k = ?", &r.update}};
    prepare_step = [&](size_t i) {
        if (i == std::size(statements)) {
            start_load();
            return;
        }
        r.cl->prepare(statements[i].first, [&, i](std::shared_ptr<const core::client::prepared_statement> st, const std::string& err) {
            if (!st) {
                r.fail(err);
                return;
            }
            *statements[i].second = std::move(st);
            prepare_step(i + 1);
        });
    };
    std::vector<std::pair<std::string, std::string>> schema;
    if (!o.no_schema) {
        schema = {{"CREATE KEYSPACE IF NOT EXISTS " + o.keyspace + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
                   "cannot create the keyspace"},
                  {"CREATE TABLE IF NOT EXISTS " + t + " (k bigint PRIMARY KEY, v blob)", "cannot create the table"}};
    }
    std::function<void(size_t)> schema_step = [&](size_t i) {
        if (i == schema.size()) {
            prepare_step(0);
            return;
        }
        auto* c = r.cl->pick();
        bool sent = c && c->request(cql::opcode::query, query_body(schema[i].first, o.protocol), [&, i](const core::client::reply& rep) {
            if (rep.is_error()) {
                r.fail(schema[i].second + ": " + rep.describe());
                return;
            }
            schema_step(i + 1);
        });
        if (!sent) r.fail(schema[i].second + ": no connection");
    };

    try {
        w.run([&](net::worker& self) {
            // Once per loop turn: in the open loop, requests leave at their intended times, to the
            // microsecond (the loop wakes for the next one; the timer wheel's 1 ms ticks would add
            // up to 1 ms of scheduling delay to every latency); v5 frames queued this turn leave.
            // With --coalesce-us requests leave only at ticks that far apart, whatever else woke
            // the loop (replies do): those that fell due meanwhile leave together, their latency
            // still counted from their own intended times.
            self.set_turn_hook([&, coalesce_ns = static_cast<uint64_t>(o.coalesce_us * 1000), next_tick_ns = uint64_t{0}]() mutable -> uint64_t {
                uint64_t wait = UINT64_MAX;
                if (r.sched && !r.stopping) {
                    uint64_t tn = now_ns();
                    if (tn >= next_tick_ns) {
                        for (uint64_t due = r.sched->due(tn); due > 0; --due) r.issue(r.sched->take());
                        next_tick_ns = tn + coalesce_ns;
                    }
                    uint64_t next = std::max(r.sched->next_ns(), next_tick_ns);
                    tn = now_ns();
                    wait = next > tn ? (next - tn) / 1000 : 0;
                }
                for (auto* wr : r.flush_list) wr->flush();
                r.flush_list.clear();
                return wait;
            });
            r.cl->connect([&](const std::string& error) {
                if (!error.empty()) {
                    r.fail(error);
                    return;
                }
                schema_step(0);
            });
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cqlbench: %s\n", e.what());
        return 1;
    }
    if (tty) std::printf("\n");
    if (!r.fatal.empty()) {
        std::fprintf(stderr, "cqlbench: %s\n", r.fatal.c_str());
        return 1;
    }
    double measured = static_cast<double>(std::min(now_ns(), r.stop_at_ns) - r.measure_from_ns) / 1e9;
    if (o.requests) measured = static_cast<double>(now_ns() - r.measure_from_ns) / 1e9;
    print_summary(r, measured > 0 ? measured : 1e-9);
    r.cl.reset();
    return 0;
}
