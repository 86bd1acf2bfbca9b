// cqlbench: a CQL load generator. Closed loop (connections x requests in flight) or open loop
// at a fixed rate (latency from the intended send time), prepared INSERT / SELECT by key /
// mixed, keys uniform, sequential or zipfian; a log-linear latency histogram; a JSON summary.
#include <sys/prctl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/histogram.hh"
#include "core/wire.hh"
#include "cql/envelope.hh"
#include "cql/framing.hh"
#include "cql/error_body.hh"
#include "cql/query.hh"
#include "cql/result.hh"
#include "cql/startup.hh"
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
    int connections = 4;
    int depth = 32;
    double duration_s = 10;
    double warmup_s = 1;
    uint64_t requests = 0;  // stop after this many (0: run for the duration)
    double rate = 0;        // open loop when > 0
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
};

// The run, shared by every connection (one worker thread: no locks).
struct run_state {
    options opt;
    net::worker* w = nullptr;
    std::string insert_id, select_id, update_id;
    cqlbench::key_chooser keys{cqlbench::key_chooser::kind::uniform, 1, 1};
    std::mt19937_64 rng{42};
    std::string value;
    core::histogram hist;
    std::map<std::string, uint64_t> errors;
    uint64_t sent = 0, done = 0;
    bool started = false;  // set-up done, prepared ids known
    uint64_t measure_from_ns = 0, stop_at_ns = 0;
    bool stopping = false;
    std::unique_ptr<cqlbench::schedule> sched;
    std::vector<class bench_connection*> conns;
    std::vector<core::envelope_writer*> flush_list;  // v5 writers with frames for this turn
    int ready = 0;
    std::string fatal;
    void fail(const std::string& why) {
        if (fatal.empty()) fatal = why;
        w->stop(0);
    }
};

class bench_connection : public net::connection_handler {
    run_state& _r;
    net::connection* _c = nullptr;
    std::vector<uint64_t> _sent_at;  // by stream id: intended send time (0: free)
    std::vector<int16_t> _free;
    int _inflight = 0;
    // Handshake and set-up replies go to these, in order.
    std::vector<std::function<void(cql::opcode, std::string_view)>> _setup;
    std::string _storage;
    core::envelope_reader _reader{cql::header_limits{}};  // v5 frames after READY / AUTHENTICATE
    core::envelope_writer _writer;                        // v5 sends

public:
    explicit bench_connection(run_state& r) : _r(r) {
        _sent_at.assign(32768, 0);
        for (int i = 32767; i >= 1; --i) _free.push_back(static_cast<int16_t>(i));
    }
    void attach(net::connection& c) { _c = &c; }
    int inflight() const { return _inflight; }

    // Sends one envelope; with v5, once the handshake switched framing on, the envelopes of a
    // loop turn leave together in one frame (core/wire.hh), as drivers coalesce them.
    void send_envelope(cql::opcode op, int16_t stream, const std::string& body) {
        cql::envelope_header h;
        h.version = static_cast<uint8_t>(_r.opt.protocol);
        h.op = op;
        h.stream = stream;
        if (!_reader.framed()) {
            _c->send(cql::make_envelope(h, body));
            return;
        }
        if (!_writer.framed()) {
            _writer.set_flush_list(&_r.flush_list);
            _writer.start_framing(false);
        }
        _writer.send(*_c, h, body);
    }

    void send_setup(cql::opcode op, const std::string& body, std::function<void(cql::opcode, std::string_view)> then) {
        _setup.push_back(std::move(then));
        send_envelope(op, 0, body);
    }

    void send_request(cql::opcode op, int16_t stream, const std::string& body) { send_envelope(op, stream, body); }

    void issue(uint64_t intended_ns) {
        int16_t stream = _free.back();
        _free.pop_back();
        _sent_at[static_cast<size_t>(stream)] = intended_ns;
        ++_inflight;
        ++_r.sent;
        if (_r.opt.workload == "batch") {
            // An UNLOGGED batch of --batch-size prepared INSERTs.
            std::vector<std::string> keys(_r.opt.batch_size, std::string(8, '\0'));
            std::vector<std::array<cql::bound_value, 2>> vals(_r.opt.batch_size);
            std::vector<std::string> storages(_r.opt.batch_size);
            std::vector<cql::batch_child> children(_r.opt.batch_size);
            for (size_t i = 0; i < _r.opt.batch_size; ++i) {
                cql::store_be64(keys[i].data(), _r.keys.next());
                vals[i] = {cql::bound_value{{}, cql::value_ref::of(keys[i])}, cql::bound_value{{}, cql::value_ref::of(_r.value)}};
                children[i].prepared = true;
                children[i].query_or_id = _r.insert_id;
                children[i].values = cql::value_list::build(vals[i], false, storages[i]);
            }
            cql::batch_message b;
            b.type = cql::batch_type::unlogged;
            b.cl = cql::consistency::local_one;
            b.children = cql::batch_children::build(children, _storage);
            std::string body;
            b.encode(body, static_cast<uint8_t>(_r.opt.protocol));
            send_request(cql::opcode::batch, stream, body);
            return;
        }
        bool read = _r.opt.workload == "select" ||
                    (_r.opt.workload == "mixed" && std::uniform_real_distribution<double>(0, 1)(_r.rng) < _r.opt.read_ratio);
        char key[8];
        cql::store_be64(key, _r.keys.next());
        if (_r.opt.workload == "update") {
            // UPDATE ... SET v = ? WHERE k = ?: the value first.
            cql::bound_value uvals[2] = {{{}, cql::value_ref::of(_r.value)}, {{}, cql::value_ref::of(std::string_view(key, 8))}};
            cql::execute_message e;
            e.id = _r.update_id;
            e.params.cl = cql::consistency::local_one;
            e.params.values = cql::value_list::build(uvals, false, _storage);
            std::string body;
            e.encode(body, static_cast<uint8_t>(_r.opt.protocol));
            send_request(cql::opcode::execute, stream, body);
            return;
        }
        cql::bound_value vals[2] = {{{}, cql::value_ref::of(std::string_view(key, 8))}, {{}, cql::value_ref::of(_r.value)}};
        cql::execute_message e;
        e.id = read ? _r.select_id : _r.insert_id;
        e.params.cl = cql::consistency::local_one;
        e.params.values = cql::value_list::build(std::span(vals, read ? 1 : 2), false, _storage);
        e.params.skip_metadata = read;
        std::string body;
        e.encode(body, static_cast<uint8_t>(_r.opt.protocol));
        send_request(cql::opcode::execute, stream, body);
    }

    // Closed loop: keep `depth` requests in flight.
    void fill() {
        if (_r.sched || !_r.started) return;
        while (!_r.stopping && _inflight < _r.opt.depth && (_r.opt.requests == 0 || _r.sent < _r.opt.requests)) issue(now_ns());
    }

    void on_data(net::connection&, net::rx_buffer data) override {
        auto out = _reader.feed(std::move(data), [&](core::inbound_envelope&& e) {
            handle(e.header, e.body);
            return true;
        });
        if (!out.ok) {
            _r.fail("malformed response: " +
                    (out.reason.empty() ? std::string(cql::to_string(out.problem)) : std::string(out.reason)));
            return;
        }
        fill();
    }

    void handle(const cql::envelope_header& h, std::string_view body) {
        if (h.stream == 0 && !_setup.empty()) {
            // v5: frames start after READY or AUTHENTICATE (v5.spec §2.3.1).
            if (_r.opt.protocol == 5 && !_reader.framed() && (h.op == cql::opcode::ready || h.op == cql::opcode::authenticate)) {
                _reader.start_framing(false);
            }
            auto then = std::move(_setup.front());
            _setup.erase(_setup.begin());
            then(h.op, body);
            return;
        }
        if (h.stream < 0) return;  // events
        if (h.stream == 0 || static_cast<size_t>(h.stream) >= _sent_at.size() || _sent_at[static_cast<size_t>(h.stream)] == 0) {
            // A reply for a stream with nothing in flight: an endpoint that answers twice or
            // on the wrong stream (counted, so tests can demand "every request answered once").
            ++_r.errors["UNEXPECTED_REPLY"];
            return;
        }
        uint64_t intended = _sent_at[static_cast<size_t>(h.stream)];
        _sent_at[static_cast<size_t>(h.stream)] = 0;
        _free.push_back(h.stream);
        --_inflight;
        uint64_t t = now_ns();
        if (h.op == cql::opcode::error) {
            auto e = cql::error_message::decode(body, h.version);
            ++_r.errors[e ? std::string(cql::to_string(e->code)) : "MALFORMED_ERROR"];
        } else if (intended >= _r.measure_from_ns) {
            _r.hist.record(t - intended);
            ++_r.done;
        }
    }
    void on_close(net::connection&, int error) override {
        if (!_r.stopping) _r.fail(std::string("connection closed by the server") + (error ? ": " + std::string(std::strerror(-error)) : ""));
    }
};

std::string query_body(const std::string& q, int version) {
    cql::query_message m;
    m.query = q;
    m.params.cl = cql::consistency::local_one;
    std::string b;
    m.encode(b, static_cast<uint8_t>(version));
    return b;
}

std::string error_text(cql::opcode op, std::string_view body) {
    if (op != cql::opcode::error) return "unexpected " + std::string(cql::to_string(op));
    auto e = cql::error_message::decode(body, 4);
    return e ? std::string(cql::to_string(e->code)) + ": " + e->message : "a malformed error";
}

void print_summary(const run_state& r, double seconds) {
    auto us = [&](double q) { return static_cast<double>(r.hist.quantile(q)) / 1000.0; };
    uint64_t errors = 0;
    for (auto& [k, v] : r.errors) errors += v;
    if (r.opt.json) {
        std::printf("{\"requests\": %llu, \"seconds\": %.3f, \"throughput\": %.1f, \"errors\": %llu, "
                    "\"latency_us\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p99.9\": %.1f, \"p99.99\": %.1f, \"max\": %.1f, \"mean\": %.1f}, "
                    "\"errors_by_kind\": {",
                    static_cast<unsigned long long>(r.done), seconds, static_cast<double>(r.done) / seconds,
                    static_cast<unsigned long long>(errors), us(0.5), us(0.9), us(0.99), us(0.999), us(0.9999),
                    static_cast<double>(r.hist.max()) / 1000.0, r.hist.mean() / 1000.0);
        bool first = true;
        for (auto& [k, v] : r.errors) {
            std::printf("%s\"%s\": %llu", first ? "" : ", ", k.c_str(), static_cast<unsigned long long>(v));
            first = false;
        }
        std::printf("}}\n");
        return;
    }
    std::printf("cqlbench: %llu requests in %.2f s: %.0f requests/s, %llu errors\n", static_cast<unsigned long long>(r.done), seconds,
                static_cast<double>(r.done) / seconds, static_cast<unsigned long long>(errors));
    std::printf("latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  p99.99 %.1f  max %.1f\n", us(0.5), us(0.9), us(0.99),
                us(0.999), us(0.9999), static_cast<double>(r.hist.max()) / 1000.0);
    for (auto& [k, v] : r.errors) std::printf("errors: %s %llu\n", k.c_str(), static_cast<unsigned long long>(v));
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"cqlbench: load for a CQL endpoint (cqlsim, tandem, or any Cassandra-compatible cluster)"};
    options o;
    app.add_option("--host", o.host, "contact point")->capture_default_str();
    app.add_option("--port", o.port, "native protocol port")->capture_default_str();
    app.add_option("--connections", o.connections, "connections")->check(CLI::Range(1, 1024))->capture_default_str();
    app.add_option("--depth", o.depth, "requests in flight per connection (closed loop)")->check(CLI::Range(1, 32000))->capture_default_str();
    app.add_option("--duration", o.duration_s, "seconds to measure")->check(CLI::PositiveNumber)->capture_default_str();
    app.add_option("--warmup", o.warmup_s, "seconds before measuring")->check(CLI::NonNegativeNumber)->capture_default_str();
    app.add_option("--requests", o.requests, "stop after this many requests instead of a duration");
    app.add_option("--rate", o.rate, "open loop: requests per second (latency from the intended send time)");
    app.add_option("--workload", o.workload, "insert, select, mixed, update or batch (UNLOGGED, --batch-size INSERTs)")
        ->check(CLI::IsMember({"insert", "select", "mixed", "update", "batch"}))
        ->capture_default_str();
    app.add_option("--protocol", o.protocol, "native protocol version: 4, or 5 (framed, as drivers speak it by default)")
        ->check(CLI::IsMember({4, 5}))
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
    app.add_option("--user", o.user, "username (PasswordAuthenticator)");
    app.add_option("--password", o.password, "password");
    app.add_flag("--json", o.json, "print the summary as JSON");
    CLI11_PARSE(app, argc, argv);

    auto addr = net::resolve_address(o.host, o.port);
    if (!addr) {
        std::fprintf(stderr, "cqlbench: cannot parse the address '%s' (an IPv4 or IPv6 address)\n", o.host.c_str());
        return 2;
    }
    run_state r;
    r.opt = o;
    r.value.assign(o.value_size, 'v');
    cqlbench::key_chooser::kind kind;
    cqlbench::parse_kind(o.distribution, kind);
    r.keys = cqlbench::key_chooser(kind, o.keys, 1);
    net::worker w;
    r.w = &w;
    const bool tty = isatty(STDOUT_FILENO) && !o.json;
    net::timer ticker, progress;
    uint64_t started = 0;
    uint64_t last_done = 0;

    auto start_load = [&] {
        r.started = true;
        started = now_ns();
        r.measure_from_ns = started + static_cast<uint64_t>(o.warmup_s * 1e9);
        r.stop_at_ns = r.measure_from_ns + static_cast<uint64_t>(o.duration_s * 1e9);
        if (o.rate > 0) r.sched = std::make_unique<cqlbench::schedule>(o.rate, started);
        ticker.set_callback([&] {
            uint64_t t = now_ns();
            if ((t >= r.stop_at_ns && o.requests == 0) || (o.requests && r.sent >= o.requests)) {
                r.stopping = true;
                bool idle = true;
                for (auto* c : r.conns) idle = idle && c->inflight() == 0;
                if (idle || t >= r.stop_at_ns + 2'000'000'000ULL) {
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
        for (auto* c : r.conns) c->fill();
    };

    try {
        w.run([&](net::worker& self) {
            // Once per loop turn: in the open loop, requests leave at their intended times, to the
            // microsecond (the loop wakes for the next one; the timer wheel's 1 ms ticks would add
            // up to 1 ms of scheduling delay to every latency); v5 frames queued this turn leave.
            self.set_turn_hook([&]() -> uint64_t {
                uint64_t wait = UINT64_MAX;
                if (r.sched && !r.stopping) {
                    uint64_t t = now_ns();
                    size_t i = 0;
                    for (uint64_t due = r.sched->due(t); due > 0; --due, ++i) {
                        auto* c = r.conns[i % r.conns.size()];
                        if (c->inflight() >= 32000) {
                            ++r.errors["CLIENT_BACKLOG"];
                            r.sched->take();
                            continue;
                        }
                        c->issue(r.sched->take());
                    }
                    uint64_t next = r.sched->next_ns();
                    t = now_ns();
                    wait = next > t ? (next - t) / 1000 : 0;
                }
                for (auto* wr : r.flush_list) wr->flush();
                r.flush_list.clear();
                return wait;
            });
            for (int i = 0; i < o.connections; ++i) {
                auto handler = std::make_unique<bench_connection>(r);
                auto* h = handler.get();
                r.conns.push_back(h);
                self.connect(addr->first, addr->second, 5000, std::move(handler), [&, h, i](net::connection* c, int err) {
                    if (!c) {
                        r.fail("cannot connect to " + o.host + ":" + std::to_string(o.port) + ": " + std::strerror(-err));
                        return;
                    }
                    h->attach(*c);
                    cql::startup_message s;
                    s.options = {{"CQL_VERSION", "3.0.0"}};
                    std::string sb;
                    s.encode(sb);
                    auto after_ready = [&, h, i] {
                        if (i != 0) {
                            if (++r.ready == o.connections) start_load();
                            return;
                        }
                        // Connection 0 sets up the schema and prepares the statements.
                        auto prepare_all = [&, h] {
                            auto prep = [&, h](const std::string& q, std::string* out, std::function<void()> then) {
                                cql::prepare_message p{q, {}};
                                std::string b;
                                p.encode(b, static_cast<uint8_t>(o.protocol));
                                h->send_setup(cql::opcode::prepare, b, [&, out, then](cql::opcode op, std::string_view body) {
                                    auto res = op == cql::opcode::result ? cql::result_message::decode(body, static_cast<uint8_t>(o.protocol)) : cql::result<cql::result_message>(cql::decode_error{""});
                                    if (!res || res->kind != cql::result_kind::prepared) {
                                        r.fail("PREPARE failed: " + error_text(op, body));
                                        return;
                                    }
                                    *out = res->prepared_id;
                                    then();
                                });
                            };
                            std::string t = o.keyspace + "." + o.table;
                            prep("INSERT INTO " + t + " (k, v) VALUES (?, ?)", &r.insert_id, [&, prep, t] {
                                prep("SELECT v FROM " + t + " WHERE k = ?", &r.select_id, [&, prep, t] {
                                    prep("UPDATE " + t + " SET v = ? WHERE k = ?", &r.update_id, [&] {
                                        if (++r.ready == o.connections) start_load();
                                    });
                                });
                            });
                        };
                        if (o.no_schema) {
                            prepare_all();
                            return;
                        }
                        h->send_setup(cql::opcode::query,
                                      query_body("CREATE KEYSPACE IF NOT EXISTS " + o.keyspace +
                                                 " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
                                                 o.protocol),
                                      [&, h, prepare_all](cql::opcode op, std::string_view body) {
                                          if (op == cql::opcode::error) {
                                              r.fail("cannot create the keyspace: " + error_text(op, body));
                                              return;
                                          }
                                          h->send_setup(cql::opcode::query,
                                                        query_body("CREATE TABLE IF NOT EXISTS " + o.keyspace + "." + o.table +
                                                                   " (k bigint PRIMARY KEY, v blob)",
                                                                   o.protocol),
                                                        [&, prepare_all](cql::opcode op2, std::string_view body2) {
                                                            if (op2 == cql::opcode::error) {
                                                                r.fail("cannot create the table: " + error_text(op2, body2));
                                                                return;
                                                            }
                                                            prepare_all();
                                                        });
                                      });
                    };
                    h->send_setup(cql::opcode::startup, sb, [&, h, after_ready](cql::opcode op, std::string_view body) {
                        if (op == cql::opcode::ready) {
                            after_ready();
                        } else if (op == cql::opcode::authenticate) {
                            if (o.user.empty()) {
                                r.fail("the server requires authentication: pass --user and --password");
                                return;
                            }
                            cql::auth_token_message a{cql::plain_sasl_token(o.user, o.password)};
                            std::string ab;
                            a.encode(ab);
                            h->send_setup(cql::opcode::auth_response, ab, [&, after_ready](cql::opcode op2, std::string_view body2) {
                                if (op2 != cql::opcode::auth_success) {
                                    r.fail("authentication failed: " + error_text(op2, body2));
                                    return;
                                }
                                after_ready();
                            });
                        } else {
                            r.fail("STARTUP failed: " + error_text(op, body));
                        }
                    });
                });
            }
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
    return 0;
}
