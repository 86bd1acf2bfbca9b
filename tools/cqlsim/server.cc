#include "tools/cqlsim/server.hh"

#include <arpa/inet.h>

#include <list>
#include <random>
#include <stdexcept>

#include "cql/classifier.hh"
#include "cql/compression.hh"
#include "cql/envelope.hh"
#include "cql/error_body.hh"
#include "cql/event.hh"
#include "cql/framing.hh"
#include "cql/query.hh"
#include "cql/startup.hh"

namespace tandem::cqlsim {

namespace {

using cql::envelope_header;
using cql::error_message;
using cql::opcode;

std::string nth_address(const std::string& base, int i) {
    in_addr a{};
    if (inet_pton(AF_INET, base.c_str(), &a) != 1) return base;
    uint32_t host = ntohl(a.s_addr) + static_cast<uint32_t>(i);
    a.s_addr = htonl(host);
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
}

// One client connection to one node.
class session_handler : public net::connection_handler, public event_sink {
    server& _srv;
    session _session;
    const int64_t _connection;
    bool _started = false;        // STARTUP done (READY or AUTH_SUCCESS sent)
    bool _auth_pending = false;
    bool _nodes_touched = false;  // the request changed cqlsim.nodes: announce status changes
    std::unique_ptr<net::tls_stream> _tls;  // --tls-cert: every connection speaks TLS
    bool _framed = false;         // v5 framing in both directions
    cql::compression _compression = cql::compression::none;
    std::string _in;
    std::unique_ptr<cql::frame_decoder> _frames;
    // Replies held back by a latency fault; done ones are pruned on the next request.
    struct delayed {
        net::timer timer;
        bool done = false;
    };
    std::list<delayed> _delayed;

    uint8_t supported_max() const { return _srv.data().config().version == "3.11" ? 4 : 5; }

    // Every byte to the client, encrypted when this node speaks TLS.
    void out(net::connection& c, std::string bytes) {
        if (_tls) bytes = _tls->send(bytes);
        if (!bytes.empty()) c.send(std::move(bytes));
    }

    void send(net::connection& c, envelope_header h, std::string body) {
        h.response = true;
        if (!_framed && _compression != cql::compression::none && _started && !body.empty() &&
            h.version < cql::protocol_version::v5) {
            std::string packed;
            cql::compress_body(_compression, body, packed);
            body = std::move(packed);
            h.flags |= cql::envelope_flags::compression;
        }
        std::string env = cql::make_envelope(h, body);
        if (_framed) {
            std::string wire;
            cql::frame_encoder enc(_compression == cql::compression::lz4);
            enc.add_envelope(env, wire);
            enc.flush(wire);
            out(c, std::move(wire));
        } else {
            out(c, std::move(env));
        }
    }

    void send_error(net::connection& c, const envelope_header& req, const error_message& e) {
        envelope_header h = req;
        h.op = opcode::error;
        h.flags = 0;
        std::string body;
        e.encode(body, h.version);
        send(c, h, std::move(body));
    }

    void handle(net::connection& c, const envelope_header& req, std::string_view body_in) {
        envelope_header h = req;
        h.flags = 0;
        std::string decompressed;
        std::string_view body = body_in;
        if (req.flags & cql::envelope_flags::compression) {
            if (_compression == cql::compression::none) {
                send_error(c, req, error_message::protocol("Compressed body received but no compression was negotiated"));
                return;
            }
            auto r = cql::decompress_body(_compression, body, decompressed, 256u << 20);
            if (!r) {
                send_error(c, req, error_message::protocol(std::string(r.error())));
                return;
            }
            body = decompressed;
        }
        auto parts = cql::split_body(req, body);
        if (!parts) {
            send_error(c, req, error_message::protocol(std::string(parts.error())));
            return;
        }
        body = parts->message;
        _session.version = cql::effective_version(req.version);
        const uint8_t v = _session.version;
        auto reply = [&](opcode op, std::string b) {
            envelope_header r = h;
            r.op = op;
            send(c, r, std::move(b));
        };
        switch (req.op) {
            case opcode::options: {
                cql::supported_message s;
                s.options = {{"CQL_VERSION", {"3.4.5"}},
                             {"COMPRESSION", {"lz4", "snappy"}},
                             {"PROTOCOL_VERSIONS", supported_max() == 5 ? std::vector<std::string_view>{"3/v3", "4/v4", "5/v5"}
                                                                         : std::vector<std::string_view>{"3/v3", "4/v4"}}};
                std::string b;
                s.encode(b);
                reply(opcode::supported, std::move(b));
                return;
            }
            case opcode::startup: {
                auto m = cql::startup_message::decode(body);
                if (!m) {
                    send_error(c, req, error_message::protocol(std::string(m.error())));
                    return;
                }
                if (auto comp = m->option("COMPRESSION")) {
                    auto kind = cql::compression_from_name(*comp);
                    if (!kind || (v >= 5 && *kind != cql::compression::lz4)) {
                        send_error(c, req, error_message::protocol("Unknown compression algorithm: " + std::string(*comp)));
                        return;
                    }
                    _compression = *kind;
                }
                if (_srv.config().credentials.empty()) {
                    finish_startup(c, h);
                } else {
                    _auth_pending = true;
                    cql::authenticate_message a{"org.apache.cassandra.auth.PasswordAuthenticator"};
                    std::string b;
                    a.encode(b);
                    reply(opcode::authenticate, std::move(b));
                    // v5: framing starts right after the STARTUP reply, AUTHENTICATE included.
                    enable_framing();
                }
                return;
            }
            case opcode::auth_response: {
                auto m = cql::auth_token_message::decode(body);
                auto creds = m && m->token ? cql::parse_plain_sasl_token(*m->token) : std::nullopt;
                if (!creds || !_srv.check_credentials(creds->user, creds->password)) {
                    send_error(c, req, error_message::bad_credentials(
                                           "Provided username " + std::string(creds ? creds->user : "") +
                                           " and/or password are incorrect"));
                    return;
                }
                _auth_pending = false;
                cql::auth_token_message ok{std::nullopt};
                std::string b;
                ok.encode(b);
                envelope_header r = h;
                r.op = opcode::auth_success;
                send(c, r, std::move(b));
                start_framing();
                return;
            }
            default:
                break;
        }
        if (!_started || _auth_pending) {
            send_error(c, req, error_message::protocol("Unexpected message " + std::string(cql::to_string(req.op)) +
                                                       ", expecting STARTUP or AUTH_RESPONSE"));
            return;
        }
        execution e;
        fault f;
        switch (req.op) {
            case opcode::register_: {
                auto m = cql::register_message::decode(body);
                if (!m) {
                    send_error(c, req, error_message::protocol(std::string(m.error())));
                    return;
                }
                for (auto t : m->event_types) _srv.subscribe(c, *this, std::string(t));
                reply(opcode::ready, "");
                return;
            }
            case opcode::query: {
                auto m = cql::query_message::decode(body, req.version);
                if (!m) {
                    send_error(c, req, error_message::protocol(std::string(m.error())));
                    return;
                }
                if (!observe(c, req, "QUERY", m->query, m->params.cl, m->params.timestamp, f)) return;
                e = _srv.data().query(_session, m->query, m->params);
                break;
            }
            case opcode::prepare: {
                auto m = cql::prepare_message::decode(body, req.version);
                if (!m) {
                    send_error(c, req, error_message::protocol(std::string(m.error())));
                    return;
                }
                if (!observe(c, req, "PREPARE", m->query, cql::consistency::one, std::nullopt, f)) return;
                e = _srv.data().prepare(_session, m->query, m->keyspace);
                break;
            }
            case opcode::execute: {
                auto m = cql::execute_message::decode(body, req.version);
                if (!m) {
                    send_error(c, req, error_message::protocol(std::string(m.error())));
                    return;
                }
                if (!observe(c, req, "EXECUTE", _srv.data().prepared_text(m->id), m->params.cl, m->params.timestamp, f)) return;
                e = _srv.data().execute(_session, m->id, m->params);
                break;
            }
            case opcode::batch: {
                auto m = cql::batch_message::decode(body, req.version);
                if (!m) {
                    send_error(c, req, error_message::protocol(std::string(m.error())));
                    return;
                }
                std::string text = "BEGIN BATCH";
                for (const auto& child : m->children) {
                    text += " ";
                    text += child.prepared ? _srv.data().prepared_text(child.query_or_id) : std::string(child.query_or_id);
                    text += ";";
                }
                text += " APPLY BATCH";
                if (!observe(c, req, "BATCH", text, m->cl, m->timestamp, f)) return;
                e = _srv.data().run_batch(_session, *m);
                break;
            }
            default:
                send_error(c, req, error_message::protocol("Unexpected message " + std::string(cql::to_string(req.op))));
                return;
        }
        (void)v;
        if (e.error) {
            send_error(c, req, *e.error);
            return;
        }
        if (f.a == fault::action::drop) {
            // Applied, never answered: the client's timeout decides.
        } else if (f.a == fault::action::latency && f.value > 0) {
            for (auto it = _delayed.begin(); it != _delayed.end();) it = it->done ? _delayed.erase(it) : std::next(it);
            auto& d = _delayed.emplace_back();
            envelope_header r = h;
            r.op = opcode::result;
            d.timer.set_callback([this, &c, &d, r, b = std::move(e.body)]() mutable {
                d.done = true;
                send(c, r, std::move(b));
            });
            c.owner().timers().arm(d.timer, static_cast<uint64_t>(f.value));
        } else {
            reply(opcode::result, std::move(e.body));
        }
        if (_nodes_touched) {
            _nodes_touched = false;
            _srv.announce_status_changes();
        }
        if (e.change) {
            cql::event_message ev;
            ev.type = "SCHEMA_CHANGE";
            ev.schema = *e.change;
            std::string b;
            ev.encode(b);
            _srv.broadcast("SCHEMA_CHANGE", b);
        }
    }

    // Logs a user request and finds the fault it meets. Returns false when the fault already
    // answered it (an error reply, or the connection closed). Requests on the system and cqlsim
    // keyspaces are neither logged nor faulted: drivers' metadata queries would drown the log.
    bool observe(net::connection& c, const envelope_header& req, const char* opname, std::string_view text,
                 cql::consistency cl, std::optional<int64_t> client_ts, fault& f) {
        auto info = cql::classify(text);
        std::string ks = info.keyspace.empty() ? _session.keyspace : info.keyspace.normalized();
        if (ks == "cqlsim" && info.table.equals("nodes") && info.kind != cql::statement_kind::select) _nodes_touched = true;
        if (ks == "cqlsim" || ks.rfind("system", 0) == 0) return true;
        logged_request r;
        r.at_us = static_cast<int64_t>(c.owner().now_ms()) * 1000;
        r.opcode = opname;
        r.statement = std::string(text);
        r.consistency = std::string(cql::to_string(cl));
        r.client_timestamp = client_ts;
        r.connection = _connection;
        _srv.data().log_request(_session.node, std::move(r));
        if (std::string(opname) == "PREPARE") return true;
        const char* kind = std::string(opname) == "BATCH" || cql::is_write(info.kind) ? "write"
                           : info.kind == cql::statement_kind::select                 ? "read"
                           : cql::is_ddl(info.kind)                                   ? "ddl"
                                                                                      : "other";
        f = _srv.data().fault_for(_session.node, kind);
        switch (f.a) {
            case fault::action::write_timeout:
                send_error(c, req, error_message::write_timeout(cl, 0, 1, "SIMPLE"));
                return false;
            case fault::action::read_timeout:
                send_error(c, req, error_message::read_timeout(cl, 0, 1, false));
                return false;
            case fault::action::unavailable:
                send_error(c, req, error_message::unavailable(cl, 1, 0));
                return false;
            case fault::action::overloaded:
                send_error(c, req, error_message::overloaded("Server is in overloaded state. Cannot accept more requests at this point"));
                return false;
            case fault::action::server_error:
                send_error(c, req, error_message::server("injected server error"));
                return false;
            case fault::action::close:
                c.abort();
                return false;
            default:
                return true;
        }
    }

    void finish_startup(net::connection& c, const envelope_header& h) {
        envelope_header r = h;
        r.op = opcode::ready;
        send(c, r, "");
        start_framing();
    }

    // v5: everything after the reply to STARTUP (READY or AUTHENTICATE) travels in frames
    // (v5.spec §2.3.1).
    void enable_framing() {
        if (_session.version >= 5 && !_framed) {
            _framed = true;
            _frames = std::make_unique<cql::frame_decoder>(_compression == cql::compression::lz4);
        }
    }
    void start_framing() {
        _started = true;
        enable_framing();
    }

public:
    session_handler(server& s, int node) : _srv(s), _connection(s.next_connection_id()) {
        _session.node = node;
        if (s.config().tls) _tls = std::make_unique<net::tls_stream>(*s.config().tls);
    }

    void push_event(net::connection& c, const std::string& body) override {
        envelope_header h;
        h.version = _session.version;
        h.op = opcode::event;
        h.stream = -1;
        send(c, h, body);
    }

    void on_data(net::connection& c, net::rx_buffer data) override {
        if (!_srv.data().node_up(_session.node)) {
            // A node marked down in cqlsim.nodes drops every connection that speaks to it.
            c.abort();
            return;
        }
        if (_tls) {
            std::string wire;
            std::string err = _tls->receive(data.view(), _in, wire);
            data.release();
            if (!wire.empty()) c.send(std::move(wire));
            if (!err.empty()) {
                c.abort();
                return;
            }
        } else {
            _in.append(data.view());
            data.release();
        }
        size_t used = 0;
        while (used < _in.size()) {
            std::string_view rest = std::string_view(_in).substr(used);
            if (_framed) {
                auto step = _frames->decode(rest);
                if (step.status == cql::parse_status::need_more) break;
                if (step.status == cql::parse_status::malformed) {
                    c.abort();
                    return;
                }
                used += step.consumed;
                for (auto& env : _frames->envelopes()) handle(c, env.header, env.body);
                continue;
            }
            cql::header_limits limits;
            limits.expect = cql::header_limits::direction::requests;
            auto sp = cql::split_envelope(rest, limits);
            if (sp.status == cql::parse_status::need_more) break;
            if (sp.status == cql::parse_status::malformed) {
                envelope_header h = sp.envelope.header;
                if (sp.problem == cql::envelope_problem::unknown_version ||
                    (sp.envelope.header.version > supported_max() && sp.envelope.header.version < 0x41) ||
                    sp.envelope.header.version >= 0x41 || sp.envelope.header.version < 3) {
                    // Answer in a version the client can read, with the text drivers parse.
                    h.version = supported_max();
                    h.op = opcode::error;
                    h.response = true;
                    h.flags = 0;
                    std::string body;
                    error_message::unsupported_version(sp.raw_version & 0x7F, supported_max() == 5 ? "3/v3, 4/v4, 5/v5" : "3/v3, 4/v4")
                        .encode(body, h.version);
                    out(c, cql::make_envelope(h, body));
                    c.close();
                    return;
                }
                h.version = sp.envelope.header.version;
                send_error(c, h, error_message::protocol(std::string(cql::to_string(sp.problem))));
                c.close();
                return;
            }
            uint8_t ver = sp.envelope.header.version;
            if (ver < 3 || (ver > supported_max() && ver < 0x41) || ver >= 0x41) {
                envelope_header h = sp.envelope.header;
                h.version = supported_max();
                h.op = opcode::error;
                h.response = true;
                h.flags = 0;
                std::string body;
                error_message::unsupported_version(ver, supported_max() == 5 ? "3/v3, 4/v4, 5/v5" : "3/v3, 4/v4")
                    .encode(body, h.version);
                out(c, cql::make_envelope(h, body));
                used += sp.consumed;
                continue;
            }
            used += sp.consumed;
            handle(c, sp.envelope.header, sp.envelope.body);
            if (_framed) continue;  // the rest of the buffer is framed from here on
        }
        _in.erase(0, used);
    }

    void on_close(net::connection& c, int) override { _srv.unsubscribe(c); }
};

}  // namespace

server::server(server_config cfg) : _cfg(std::move(cfg)) {
    // Tokens spread like a real cluster's: random, reproducible for a cluster name.
    std::mt19937_64 rng(std::hash<std::string>{}(_cfg.cluster.cluster_name));
    for (auto& n : _cfg.cluster.nodes) {
        n.tokens.clear();
        for (int i = 0; i < _cfg.cluster.vnodes; ++i) n.tokens.push_back(static_cast<int64_t>(rng()));
        std::sort(n.tokens.begin(), n.tokens.end());
    }
    _cluster = std::make_unique<cluster>(_cfg.cluster);
}

void server::start(net::worker& w) {
    auto& nodes = const_cast<std::vector<node_info>&>(_cluster->config().nodes);
    _announced_up.assign(nodes.size(), true);
    for (size_t i = 0; i < nodes.size(); ++i) {
        int node = static_cast<int>(i);
        if (static_cast<int>(i) >= static_cast<int>(nodes.size()) - _cfg.dead_nodes) {
            _listening.push_back(nodes[i].address + ":" + std::to_string(nodes[i].port));
            continue;
        }
        auto accept = [this, node](net::connection&) { return std::make_unique<session_handler>(*this, node); };
        std::string addr = nodes[i].address;
        uint16_t port;
        try {
            port = w.listen(addr, nodes[i].port, accept);
        } catch (const std::runtime_error&) {
            if (i == 0) throw;
            // This machine cannot bind the next loopback address: fall back to consecutive
            // ports on the first node's address.
            addr = nodes[0].address;
            nodes[i].address = addr;
            port = w.listen(addr, nodes[0].port == 0 ? 0 : static_cast<uint16_t>(nodes[0].port + i), accept);
        }
        nodes[i].port = port;
        _listening.push_back(addr + ":" + std::to_string(port));
    }
}

void server::subscribe(net::connection& c, event_sink& sink, const std::string& kind) {
    auto& s = _subscribers[&c];
    s.sink = &sink;
    s.kinds.insert(kind);
}

void server::unsubscribe(net::connection& c) { _subscribers.erase(&c); }

void server::broadcast(const std::string& kind, const std::string& body) {
    for (auto& [conn, sub] : _subscribers) {
        if (sub.kinds.count(kind)) sub.sink->push_event(*conn, body);
    }
}

void server::announce_status_changes() {
    const auto& nodes = _cluster->config().nodes;
    for (size_t i = 0; i < nodes.size() && i < _announced_up.size(); ++i) {
        bool up = _cluster->node_up(static_cast<int>(i));
        if (up == _announced_up[i]) continue;
        _announced_up[i] = up;
        cql::event_message ev;
        ev.type = "STATUS_CHANGE";
        ev.change = up ? "UP" : "DOWN";
        if (auto a = cql::inet_address::parse(nodes[i].address)) ev.address.addr = *a;
        ev.address.port = static_cast<int32_t>(nodes[i].port);
        std::string b;
        ev.encode(b);
        broadcast("STATUS_CHANGE", b);
    }
}

bool server::check_credentials(std::string_view user, std::string_view password) const {
    for (auto& [u, p] : _cfg.credentials) {
        if (u == user && p == password) return true;
    }
    return false;
}

std::string node_address(const std::string& base, int i) { return nth_address(base, i); }

}  // namespace tandem::cqlsim
