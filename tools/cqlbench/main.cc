// cqlbench: a CQL load generator. Closed loop (connections x requests in flight) or open loop
// at a fixed rate (latency from the intended send time), prepared INSERT / SELECT by key /
// UPDATE / mixed / BATCH, keys uniform, sequential or zipfian; a log-linear latency histogram; a
// JSON summary. Like a driver it discovers the nodes of the contact point's datacenter and
// routes each request to the node that owns its partition key (or round robin).
#include <arpa/inet.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <deque>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/histogram.hh"
#include "core/wire.hh"
#include "cql/envelope.hh"
#include "cql/error_body.hh"
#include "cql/framing.hh"
#include "cql/murmur3.hh"
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
    int connections = 4;  // per node
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
    std::string routing = "token";  // token, round-robin, contact-point
    std::string compression = "none";
};

enum class request_kind : uint8_t { insert, select, update, batch };

struct request {
    request_kind kind;
    uint64_t key;  // the partition key (a batch's first)
};

class bench_connection;

struct node {
    std::string address;
    sockaddr_storage addr{};
    socklen_t len = 0;
    bool up = true;
    std::vector<bench_connection*> conns;
};

// The run, shared by every connection (one worker thread: no locks).
struct run_state {
    options opt;
    net::worker* w = nullptr;
    cql::compression compression = cql::compression::none;
    std::string insert_id, select_id, update_id;
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
    std::vector<node> nodes;  // [0]: the contact point's
    cqlbench::token_ring ring;
    std::vector<bench_connection*> conns;
    size_t next_conn = 0;                            // round robin
    std::vector<core::envelope_writer*> flush_list;  // v5 writers with frames for this turn
    int ready = 0, expected = 0;
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
    bench_connection* route(const request& rq);
    void issue(uint64_t intended_ns);
    void fill();
};

class bench_connection : public net::connection_handler {
    run_state& _r;
    net::connection* _c = nullptr;
    std::vector<uint64_t> _sent_at;  // by stream id: intended send time (0: free)
    std::vector<int16_t> _free;
    int _inflight = 0;
    // Handshake and set-up replies go to these, in order.
    std::vector<std::function<void(cql::opcode, std::string_view)>> _setup;
    std::string _storage, _scratch, _body;
    std::vector<uint64_t> _batch_keys;
    core::envelope_reader _reader{cql::header_limits{}};  // v5 frames after READY / AUTHENTICATE
    core::envelope_writer _writer;                        // v5 sends
    core::body_codec _codec;                              // v4 compressed bodies

public:
    const uint32_t node_index;
    explicit bench_connection(run_state& r, uint32_t node) : _r(r), node_index(node) {
        _sent_at.assign(32768, 0);
        for (int i = 32767; i >= 1; --i) _free.push_back(static_cast<int16_t>(i));
    }
    void attach(net::connection& c) {
        _c = &c;
        // v4: every message after STARTUP may have a compressed body (flagged); v5 compresses
        // frames instead, once framing starts.
        if (_r.opt.protocol != 5) _codec.kind = _r.compression;
    }
    bool attached() const { return _c != nullptr; }
    int inflight() const { return _inflight; }
    bool has_room() const { return _c && !_free.empty(); }

    // Sends one envelope; with v5, once the handshake switched framing on, the envelopes of a
    // loop turn leave together in one frame (core/wire.hh), as drivers coalesce them.
    void send_envelope(cql::opcode op, int16_t stream, std::string& body) {
        cql::envelope_header h;
        h.version = static_cast<uint8_t>(_r.opt.protocol);
        h.op = op;
        h.stream = stream;
        if (!_reader.framed()) {
            // v4 compression applies to every message after STARTUP (v4.spec §5).
            if (op != cql::opcode::startup && op != cql::opcode::options) _codec.pack(h, body);
            _c->send(cql::make_envelope(h, body));
            return;
        }
        if (!_writer.framed()) {
            _writer.set_flush_list(&_r.flush_list);
            _writer.start_framing(_r.compression == cql::compression::lz4);
        }
        _writer.send(*_c, h, body);
    }

    void send_setup(cql::opcode op, std::string body, std::function<void(cql::opcode, std::string_view)> then) {
        _setup.push_back(std::move(then));
        send_envelope(op, 0, body);
    }

    void issue(uint64_t intended_ns, const request& rq) {
        int16_t stream = _free.back();
        _free.pop_back();
        _sent_at[static_cast<size_t>(stream)] = intended_ns;
        ++_inflight;
        ++_r.inflight;
        ++_r.sent;
        const auto version = static_cast<uint8_t>(_r.opt.protocol);
        _body.clear();
        if (rq.kind == request_kind::batch) {
            // An UNLOGGED batch of --batch-size prepared INSERTs (routed by its first key).
            const size_t n = _r.opt.batch_size;
            std::vector<std::string> keys(n, std::string(8, '\0'));
            std::vector<std::array<cql::bound_value, 2>> vals(n);
            std::vector<std::string> storages(n);
            std::vector<cql::batch_child> children(n);
            for (size_t i = 0; i < n; ++i) {
                cql::store_be64(keys[i].data(), i == 0 ? rq.key : _r.keys.next());
                vals[i] = {cql::bound_value{{}, cql::value_ref::of(keys[i])}, cql::bound_value{{}, cql::value_ref::of(_r.value)}};
                children[i].prepared = true;
                children[i].query_or_id = _r.insert_id;
                children[i].values = cql::value_list::build(vals[i], false, storages[i]);
            }
            cql::batch_message b;
            b.type = cql::batch_type::unlogged;
            b.cl = cql::consistency::local_one;
            b.children = cql::batch_children::build(children, _storage);
            b.encode(_body, version);
            send_envelope(cql::opcode::batch, stream, _body);
            return;
        }
        char key[8];
        cql::store_be64(key, rq.key);
        cql::execute_message e;
        e.params.cl = cql::consistency::local_one;
        if (rq.kind == request_kind::update) {
            // UPDATE ... SET v = ? WHERE k = ?: the value first.
            cql::bound_value uvals[2] = {{{}, cql::value_ref::of(_r.value)}, {{}, cql::value_ref::of(std::string_view(key, 8))}};
            e.id = _r.update_id;
            e.params.values = cql::value_list::build(uvals, false, _storage);
        } else {
            bool read = rq.kind == request_kind::select;
            cql::bound_value vals[2] = {{{}, cql::value_ref::of(std::string_view(key, 8))}, {{}, cql::value_ref::of(_r.value)}};
            e.id = read ? _r.select_id : _r.insert_id;
            e.params.values = cql::value_list::build(std::span(vals, read ? 1 : 2), false, _storage);
            e.params.skip_metadata = read;
        }
        e.encode(_body, version);
        send_envelope(cql::opcode::execute, stream, _body);
    }

    void on_data(net::connection&, net::rx_buffer data) override {
        auto out = _reader.feed(std::move(data), [&](core::inbound_envelope&& e) {
            auto plain = _codec.plain(e.header, e.body, _scratch);
            if (!plain) {
                _r.fail("cannot decompress a response: " + std::string(plain.error()));
                return false;
            }
            handle(e.header, *plain);
            return true;
        });
        if (!out.ok) {
            _r.fail("malformed response: " +
                    (out.reason.empty() ? std::string(cql::to_string(out.problem)) : std::string(out.reason)));
            return;
        }
        _r.fill();
    }

    void handle(const cql::envelope_header& h, std::string_view body) {
        if (h.stream == 0 && !_setup.empty()) {
            // v5: frames start after READY or AUTHENTICATE (v5.spec §2.3.1).
            if (_r.opt.protocol == 5 && !_reader.framed() && (h.op == cql::opcode::ready || h.op == cql::opcode::authenticate)) {
                _reader.start_framing(_r.compression == cql::compression::lz4);
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
        --_r.inflight;
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

// Token-aware: the owner of the key's token, one of its connections with the fewest requests
// in flight; a node that is down or full hands its keys to the next node of the ring. Round
// robin: every connection in turn.
bench_connection* run_state::route(const request& rq) {
    if (opt.routing == "token" && !ring.empty()) {
        char key[8];
        cql::store_be64(key, rq.key);
        int64_t token = cql::murmur3_token(std::string_view(key, 8));
        for (size_t i = 0; i < nodes.size(); ++i) {
            const node& n = nodes[i == 0 ? ring.owner(token) : ring.nth_after(token, i)];
            bench_connection* best = nullptr;
            for (auto* c : n.conns) {
                if (c->has_room() && (!best || c->inflight() < best->inflight())) best = c;
            }
            if (best) return best;
        }
        return nullptr;
    }
    for (size_t i = 0; i < conns.size(); ++i) {
        auto* c = conns[next_conn++ % conns.size()];
        if (c->has_room()) return c;
    }
    return nullptr;
}

void run_state::issue(uint64_t intended_ns) {
    request rq = next_request();
    bench_connection* c = route(rq);
    if (!c) {
        ++errors["CLIENT_BACKLOG"];  // every connection has 32767 requests in flight
        return;
    }
    c->issue(intended_ns, rq);
}

// Closed loop: keep connections x depth requests in flight.
void run_state::fill() {
    if (sched || !started) return;
    const uint64_t budget = static_cast<uint64_t>(conns.size()) * static_cast<uint64_t>(opt.depth);
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

std::string error_text(cql::opcode op, std::string_view body) {
    if (op != cql::opcode::error) return "unexpected " + std::string(cql::to_string(op));
    auto e = cql::error_message::decode(body, 4);
    return e ? std::string(cql::to_string(e->code)) + ": " + e->message : "a malformed error";
}

std::string inet_text(std::optional<std::string_view> cell) {
    if (!cell) return {};
    char text[INET6_ADDRSTRLEN] = "";
    if (cell->size() == 4) inet_ntop(AF_INET, cell->data(), text, sizeof text);
    if (cell->size() == 16) inet_ntop(AF_INET6, cell->data(), text, sizeof text);
    return text;
}

// A set<text> or list<text> cell (v3+: [int] count, then [int]-length elements).
std::vector<std::string> text_collection(std::optional<std::string_view> cell) {
    std::vector<std::string> out;
    if (!cell || cell->size() < 4) return out;
    std::string_view in = *cell;
    auto count = static_cast<int32_t>(cql::load_be32(in.data()));
    in.remove_prefix(4);
    for (int32_t i = 0; i < count && in.size() >= 4; ++i) {
        auto len = static_cast<int32_t>(cql::load_be32(in.data()));
        in.remove_prefix(4);
        if (len < 0 || static_cast<size_t>(len) > in.size()) break;
        out.emplace_back(in.substr(0, static_cast<size_t>(len)));
        in.remove_prefix(static_cast<size_t>(len));
    }
    return out;
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
                    static_cast<unsigned long long>(errors), r.nodes.size(), r.conns.size(), r.opt.routing.c_str(), us(0.5), us(0.9),
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
                static_cast<unsigned long long>(errors), r.nodes.size(), r.conns.size(), r.opt.routing.c_str());
    std::printf("latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  p99.99 %.1f  max %.1f\n", us(0.5), us(0.9), us(0.99),
                us(0.999), us(0.9999), static_cast<double>(r.hist.max()) / 1000.0);
    for (auto& [k, v] : r.errors) std::printf("errors: %s %llu\n", k.c_str(), static_cast<unsigned long long>(v));
}

// Connection set-up, in order: connect, STARTUP (and login), then `then`.
class setup {
public:
    setup(run_state& r, net::worker& w) : _r(r), _w(w) {}

    void open(uint32_t node_index, std::function<void(bench_connection*)> then) {
        node& n = _r.nodes[node_index];
        auto handler = std::make_unique<bench_connection>(_r, node_index);
        auto* h = handler.get();
        _w.connect(n.addr, n.len, 5000, std::move(handler), [this, h, node_index, then](net::connection* c, int err) {
            node& nd = _r.nodes[node_index];
            if (!c) {
                std::string why = "cannot connect to " + nd.address + ":" + std::to_string(_r.opt.port) + ": " + std::strerror(-err);
                if (node_index == 0) {
                    _r.fail(why);
                    return;
                }
                // Like a driver: a discovered node that cannot be reached is marked down and
                // its keys go to the next node of the ring.
                if (nd.up) std::fprintf(stderr, "cqlbench: %s; node marked down\n", why.c_str());
                nd.up = false;
                then(nullptr);
                return;
            }
            h->attach(*c);
            cql::startup_message s;
            s.options = {{"CQL_VERSION", "3.0.0"}};
            if (_r.compression != cql::compression::none) s.options.emplace_back("COMPRESSION", cql::to_string(_r.compression));
            std::string sb;
            s.encode(sb);
            h->send_setup(cql::opcode::startup, sb, [this, h, then](cql::opcode op, std::string_view body) {
                if (op == cql::opcode::ready) {
                    then(h);
                } else if (op == cql::opcode::authenticate) {
                    if (_r.opt.user.empty()) {
                        _r.fail("the server requires authentication: pass --user and --password");
                        return;
                    }
                    cql::auth_token_message a{cql::plain_sasl_token(_r.opt.user, _r.opt.password)};
                    std::string ab;
                    a.encode(ab);
                    h->send_setup(cql::opcode::auth_response, ab, [this, h, then](cql::opcode op2, std::string_view body2) {
                        if (op2 != cql::opcode::auth_success) {
                            _r.fail("authentication failed: " + error_text(op2, body2));
                            return;
                        }
                        then(h);
                    });
                } else {
                    _r.fail("STARTUP failed: " + error_text(op, body));
                }
            });
        });
    }

    // system.local and system.peers: the nodes of the contact point's datacenter and their
    // tokens (the contact point stays node 0).
    void discover(bench_connection* h, std::function<void()> then) {
        const int v = _r.opt.protocol;
        h->send_setup(cql::opcode::query, query_body("SELECT rpc_address, data_center, tokens FROM system.local", v),
                      [this, h, then, v](cql::opcode op, std::string_view body) {
                          auto local = rows(op, body, "system.local");
                          if (!local || local->empty()) return;
                          std::string dc((*local)[0][1].value_or(""));
                          add_tokens(0, (*local)[0][2]);
                          h->send_setup(cql::opcode::query, query_body("SELECT rpc_address, peer, data_center, tokens FROM system.peers", v),
                                        [this, then, dc](cql::opcode op2, std::string_view body2) {
                                            auto peers = rows(op2, body2, "system.peers");
                                            if (!peers) return;
                                            for (auto& row : *peers) {
                                                if (std::string(row[2].value_or("")) != dc) continue;
                                                std::string address = inet_text(row[0]);
                                                if (address.empty() || address == "0.0.0.0" || address == "::") address = inet_text(row[1]);
                                                auto a = net::resolve_address(address, _r.opt.port);
                                                if (!a) continue;
                                                node n;
                                                n.address = address;
                                                n.addr = a->first;
                                                n.len = a->second;
                                                _r.nodes.push_back(n);
                                                add_tokens(static_cast<uint32_t>(_r.nodes.size() - 1), row[3]);
                                            }
                                            _r.ring.build();
                                            then();
                                        });
                      });
    }

private:
    std::optional<std::vector<std::vector<std::optional<std::string_view>>>> rows(cql::opcode op, std::string_view body, const char* table) {
        // The rows are views into the body: keep a copy for as long as they are used.
        const std::string& kept = _keep.emplace_back(body);
        auto res = op == cql::opcode::result ? cql::result_message::decode(kept, static_cast<uint8_t>(_r.opt.protocol))
                                             : cql::result<cql::result_message>(cql::decode_error{""});
        if (!res || res->kind != cql::result_kind::rows) {
            _r.fail(std::string("cannot read ") + table + " to discover the nodes: " + error_text(op, body) +
                    " (--routing contact-point skips discovery)");
            return std::nullopt;
        }
        auto r = res->rows();
        if (!r) {
            _r.fail(std::string("malformed rows from ") + table);
            return std::nullopt;
        }
        return std::move(*r);
    }
    void add_tokens(uint32_t node_index, std::optional<std::string_view> cell) {
        for (auto& t : text_collection(cell)) {
            try {
                _r.ring.add(node_index, std::stoll(t));
            } catch (const std::exception&) {
                // not a Murmur3 token: this node gets no keys by token
            }
        }
    }

    run_state& _r;
    net::worker& _w;
    std::deque<std::string> _keep;  // system table bodies (stable addresses)
};

// Prepares the statements on one connection, one after the other; with keep_ids the ids are the
// run's, else they must equal the contact point's (Cassandra derives them from the text).
// Each reply's callback holds the preparer; the last one lets it go.
struct preparer {
    run_state& r;
    bench_connection* h;
    bool keep_ids;
    std::function<void()> then;
    std::vector<std::pair<std::string, std::string*>> statements;

    preparer(run_state& rs, bench_connection* conn, bool keep, std::function<void()> done)
        : r(rs), h(conn), keep_ids(keep), then(std::move(done)) {
        std::string t = r.opt.keyspace + "." + r.opt.table;
        statements = {{"INSERT INTO " + t + " (k, v) VALUES (?, ?)", &r.insert_id},
                      {"SELECT v FROM " + t + " WHERE k = ?", &r.select_id},
                      {"UPDATE " + t + " SET v = ? WHERE k = ?", &r.update_id}};
    }

    void step(const std::shared_ptr<preparer>& self, size_t i) {
        if (i == statements.size()) {
            then();
            return;
        }
        cql::prepare_message p{statements[i].first, {}};
        std::string b;
        p.encode(b, static_cast<uint8_t>(r.opt.protocol));
        h->send_setup(cql::opcode::prepare, b, [self, i](cql::opcode op, std::string_view body) {
            auto& me = *self;
            auto res = op == cql::opcode::result ? cql::result_message::decode(body, static_cast<uint8_t>(me.r.opt.protocol))
                                                 : cql::result<cql::result_message>(cql::decode_error{""});
            if (!res || res->kind != cql::result_kind::prepared) {
                me.r.fail("PREPARE failed on " + me.r.nodes[me.h->node_index].address + ": " + error_text(op, body));
                return;
            }
            std::string* id = me.statements[i].second;
            if (me.keep_ids) {
                *id = res->prepared_id;
            } else if (*id != res->prepared_id) {
                me.r.fail("node " + me.r.nodes[me.h->node_index].address + " gave another id for " + me.statements[i].first +
                          " than the contact point");
                return;
            }
            me.step(self, i + 1);
        });
    }
};

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
    app.add_option("--user", o.user, "username (PasswordAuthenticator)");
    app.add_option("--password", o.password, "password");
    app.add_flag("--json", o.json, "print the summary as JSON");
    CLI11_PARSE(app, argc, argv);

    if (o.protocol == 5 && o.compression == "snappy") {
        std::fprintf(stderr, "cqlbench: protocol v5 compresses frames with lz4 only; use --compression lz4 or --protocol 4\n");
        return 2;
    }
    auto addr = net::resolve_address(o.host, o.port);
    if (!addr) {
        std::fprintf(stderr, "cqlbench: cannot parse the address '%s' (an IPv4 or IPv6 address)\n", o.host.c_str());
        return 2;
    }
    run_state r;
    r.opt = o;
    r.compression = cql::compression_from_name(o.compression).value_or(cql::compression::none);
    r.value.assign(o.value_size, 'v');
    cqlbench::key_chooser::kind kind;
    cqlbench::parse_kind(o.distribution, kind);
    r.keys = cqlbench::key_chooser(kind, o.keys, 1);
    node contact;
    contact.address = o.host;
    contact.addr = addr->first;
    contact.len = addr->second;
    r.nodes.push_back(contact);
    net::worker w;
    r.w = &w;
    setup su(r, w);
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

    // Every other connection, once the statements are prepared: `connections` per node, the
    // first of each node other than the contact point's preparing the statements there too
    // (Cassandra keeps prepared statements per node; drivers prepare on every node).
    std::function<void(bench_connection*)> joined = [&](bench_connection* h) {
        if (h) {
            r.nodes[h->node_index].conns.push_back(h);
            r.conns.push_back(h);
        }
        if (++r.ready == r.expected) {
            if (r.conns.empty()) {
                r.fail("no node could be reached");
                return;
            }
            start_load();
        }
    };
    auto prepare_on = [&](bench_connection* h, bool keep_ids, std::function<void()> then) {
        auto p = std::make_shared<preparer>(r, h, keep_ids, std::move(then));
        p->step(p, 0);
    };
    auto open_the_rest = [&](bench_connection* first) {
        r.expected = 1;
        for (size_t n = 0; n < r.nodes.size(); ++n) r.expected += o.connections - (n == 0 ? 1 : 0);
        joined(first);
        for (size_t n = 0; n < r.nodes.size(); ++n) {
            for (int i = n == 0 ? 1 : 0; i < o.connections; ++i) {
                bool preparer = n != 0 && i == 0;
                su.open(static_cast<uint32_t>(n), [&, preparer](bench_connection* h) {
                    if (!h || !preparer) {
                        joined(h);
                        return;
                    }
                    prepare_on(h, false, [&, h] { joined(h); });
                });
            }
        }
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
                    for (uint64_t due = r.sched->due(t); due > 0; --due) r.issue(r.sched->take());
                    uint64_t next = r.sched->next_ns();
                    t = now_ns();
                    wait = next > t ? (next - t) / 1000 : 0;
                }
                for (auto* wr : r.flush_list) wr->flush();
                r.flush_list.clear();
                return wait;
            });
            // The contact point: discovery, schema, statements; then every other connection.
            su.open(0, [&](bench_connection* h) {
                auto prepare_then_open = [&, h] { prepare_on(h, true, [&, h] { open_the_rest(h); }); };
                auto schema = [&, h, prepare_then_open] {
                    if (o.no_schema) {
                        prepare_then_open();
                        return;
                    }
                    h->send_setup(cql::opcode::query,
                                  query_body("CREATE KEYSPACE IF NOT EXISTS " + o.keyspace +
                                                 " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
                                             o.protocol),
                                  [&, h, prepare_then_open](cql::opcode op, std::string_view body) {
                                      if (op == cql::opcode::error) {
                                          r.fail("cannot create the keyspace: " + error_text(op, body));
                                          return;
                                      }
                                      h->send_setup(cql::opcode::query,
                                                    query_body("CREATE TABLE IF NOT EXISTS " + o.keyspace + "." + o.table +
                                                                   " (k bigint PRIMARY KEY, v blob)",
                                                               o.protocol),
                                                    [&, prepare_then_open](cql::opcode op2, std::string_view body2) {
                                                        if (op2 == cql::opcode::error) {
                                                            r.fail("cannot create the table: " + error_text(op2, body2));
                                                            return;
                                                        }
                                                        prepare_then_open();
                                                    });
                                  });
                };
                if (o.routing == "contact-point") {
                    schema();
                } else {
                    su.discover(h, schema);
                }
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
    return 0;
}
