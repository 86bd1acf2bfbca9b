#include "core/client/connection.hh"

#include <algorithm>
#include <cstring>

#include "core/topology.hh"
#include "cql/error_body.hh"
#include "cql/query.hh"
#include "cql/startup.hh"

namespace tandem::core::client {

using cql::envelope_header;
using cql::opcode;

namespace {

// Ranks for the lower bound: DSE versions rank with the CQL version they extend.
int rank(uint8_t v) { return cql::effective_version(v); }

}  // namespace

std::string reply::describe() const {
    if (!is_error()) return "unexpected " + std::string(cql::to_string(header.op));
    auto e = cql::error_message::decode(body, cql::effective_version(header.version));
    return e ? std::string(cql::to_string(e->code)) + ": " + e->message : "a malformed ERROR";
}

// One open(): the versions tried so far and whom to tell.
struct connection::attempt {
    net::worker& w;
    std::string host;
    uint16_t port;
    connect_options opts;
    opened_fn done;
    std::string endpoint;
    std::string last_error;

    void finish(connection* c, const std::string& error) {
        auto fn = std::move(done);
        done = nullptr;
        if (fn) fn(c, error);
    }
};

void connection::open(net::worker& w, const std::string& host, uint16_t port, connect_options opts, opened_fn done) {
    auto a = std::make_shared<attempt>(attempt{w, host, port, std::move(opts), std::move(done), {}, {}});
    // As host_info::endpoint() names nodes: address:port, or the host id behind an SNI proxy.
    a->endpoint = a->opts.server_name.empty() ? host + ":" + std::to_string(port) : a->opts.server_name;
    try_version(a, a->opts.max_version);
}

void connection::try_version(const std::shared_ptr<attempt>& a, uint8_t version) {
    if (version == 0 || rank(version) < rank(a->opts.min_version)) {
        a->finish(nullptr, a->endpoint + ": no protocol version accepted" + (a->last_error.empty() ? "" : " (" + a->last_error + ")"));
        return;
    }
    std::string error;
    const std::string ip = net::resolve_name(a->host, error);
    auto addr = ip.empty() ? std::nullopt : net::resolve_address(ip, a->port);
    if (!addr) {
        a->finish(nullptr, error.empty() ? "cannot resolve " + a->host : error);
        return;
    }
    auto handler = std::make_unique<connection>(a->w, a->endpoint, a->opts, version);
    a->w.connect(addr->first, addr->second, a->opts.connect_timeout_ms, std::move(handler), [a](net::connection* c, int err) {
        if (!c) {
            a->finish(nullptr, "cannot connect to " + a->endpoint + ": " + std::strerror(-err));
            return;
        }
        auto* me = static_cast<connection*>(c->handler());
        me->_conn = c;
        if (me->_tls) {
            std::string hello = me->_tls->start();
            if (!hello.empty()) c->send(std::move(hello));
        }
        me->handshake(a);
    });
}

connection::connection(net::worker& w, std::string endpoint, const connect_options& opts, uint8_t version)
    : _w(w), _endpoint(std::move(endpoint)), _opts(opts), _version(version), _ids(version == 2 ? 128 : std::clamp<size_t>(opts.max_stream_ids, 1, 32768)), _reader(response_limits()) {
    if (_opts.tls) {
        _tls = std::make_unique<net::tls_stream>(*_opts.tls, _opts.server_name);
        _writer.set_tls(_tls.get());
    }
    _writer.set_flush_list(_opts.flush_list);
}

connection::~connection() = default;

// STARTUP (with the compression asked for), then the login the node asks for.
void connection::handshake(const std::shared_ptr<attempt>& a) {
    _opening = a;
    const bool v5 = cql::effective_version(_version) >= cql::protocol_version::v5;
    cql::compression comp = _opts.compression;
    if (v5 && comp == cql::compression::snappy) comp = cql::compression::none;  // v5 frames: lz4 only
    cql::startup_message s;
    s.options = {{"CQL_VERSION", "3.0.0"}};
    if (comp != cql::compression::none) s.options.emplace_back("COMPRESSION", cql::to_string(comp));
    std::string body;
    s.encode(body);
    request(opcode::startup, body, [this, a, comp, v5](const reply& r) {
        if (r.is_error()) {
            auto e = cql::error_message::decode(r.body, cql::effective_version(r.header.version));
            if (e && e->code == cql::error_code::protocol_error) {
                // A version the node does not speak: one lower, on a new connection.
                a->last_error = e->message;
                _opening = nullptr;
                _conn->abort();
                try_version(a, next_lower_version(_version));
                return;
            }
            _opening = nullptr;
            a->finish(nullptr, _endpoint + " refused STARTUP: " + r.describe());
            _conn->abort();
            return;
        }
        if (!v5) _codec.kind = comp;
        if (r.header.op == opcode::ready) return registered(a);
        if (r.header.op != opcode::authenticate) {
            _opening = nullptr;
            a->finish(nullptr, _endpoint + " answered STARTUP with " + std::string(cql::to_string(r.header.op)));
            _conn->abort();
            return;
        }
        _authenticates = true;
        auto auth = cql::authenticate_message::decode(r.body);
        _authenticator = auth ? std::string(auth->authenticator) : "";
        login(a, _authenticator == "com.datastax.bdp.cassandra.auth.DseAuthenticator");
    });
}

void connection::login(const std::shared_ptr<attempt>& a, bool dse_plain_first) {
    auto refuse = [this, a](const std::string& why) {
        _opening = nullptr;
        a->finish(nullptr, why);
        _conn->abort();
    };
    if (_opts.username.empty()) {
        refuse(_endpoint + " requires authentication (" + _authenticator + ") but " +
               (_opts.username_setting.empty() ? std::string("no username is set") : _opts.username_setting + " is not set"));
        return;
    }
    std::string token = dse_plain_first ? std::string("PLAIN") : cql::plain_sasl_token(_opts.username, _opts.password);
    cql::auth_token_message m{std::string_view(token)};
    std::string body;
    m.encode(body);
    request(opcode::auth_response, body, [this, a, dse_plain_first, refuse](const reply& r) {
        if (dse_plain_first && r.header.op == opcode::auth_challenge) return login(a, false);
        if (r.header.op == opcode::auth_success) return registered(a);
        refuse("authentication with " + (_opts.username_setting.empty() ? std::string("username") : _opts.username_setting) + " '" +
               _opts.username + "' on " + _endpoint + " failed: " + r.describe());
    });
}

void connection::registered(const std::shared_ptr<attempt>& a) {
    if (_opts.events.empty()) {
        _opening = nullptr;
        a->finish(this, {});
        return;
    }
    cql::register_message m;
    m.event_types.assign(_opts.events.begin(), _opts.events.end());
    std::string body;
    m.encode(body);
    _opts.events.clear();
    request(opcode::register_, body, [this, a](const reply& r) {
        _opening = nullptr;
        if (r.header.op != opcode::ready) {
            a->finish(nullptr, _endpoint + " refused REGISTER: " + r.describe());
            _conn->abort();
            return;
        }
        a->finish(this, {});
    });
}

int connection::send(opcode op, std::string_view body, uint32_t kind, uint64_t tag, uint8_t flags) {
    if (!usable()) return -1;
    int id = _ids.take({kind, 0});
    if (id < 0) return -1;
    if (_ids.in_use() * 4 >= _ids.limit() * 3) _ids_scarce = true;
    if (static_cast<size_t>(id) >= _tags.size()) {
        _tags.resize(_ids.capacity());
        _fns.resize(_ids.capacity());
    }
    _tags[static_cast<size_t>(id)] = tag;
    envelope_header h;
    h.version = _version;
    h.op = op;
    h.stream = static_cast<int16_t>(id);
    h.flags = static_cast<uint8_t>(flags & ~cql::envelope_flags::compression);
    if (!_writer.framed() && _codec.kind != cql::compression::none && op != opcode::startup && op != opcode::options) {
        // v3/v4 compression applies to every message after STARTUP (v4.spec §5).
        _body.assign(body);
        _codec.pack(h, _body);
        _writer.send(*_conn, h, _body);
    } else {
        _writer.send(*_conn, h, body);
    }
    return id;
}

bool connection::request(opcode op, std::string_view body, reply_fn fn) {
    int id = send(op, body, by_callback, 0);
    if (id < 0) return false;
    _fns[static_cast<size_t>(id)] = std::move(fn);
    return true;
}

bool connection::request(opcode op, std::string_view body, uint64_t tag) { return send(op, body, by_tag, tag) >= 0; }

bool connection::request(opcode op, std::string_view body, uint64_t tag, uint8_t flags) { return send(op, body, by_tag, tag, flags) >= 0; }

void connection::on_data(net::connection& c, net::rx_buffer data) {
    std::string tls_error;
    auto out = _reader.feed_from(
        c, _tls.get(), std::move(data),
        [this](inbound_envelope&& env) {
            // v5: framing starts after READY or AUTHENTICATE (v5.spec §2.3.1).
            if ((env.header.op == opcode::ready || env.header.op == opcode::authenticate) && !_reader.framed() &&
                cql::effective_version(_version) >= cql::protocol_version::v5) {
                bool lz4 = _opts.compression == cql::compression::lz4;
                _reader.start_framing(lz4);
                _writer.start_framing(lz4);
            }
            auto plain = _codec.plain(env.header, env.body, _scratch);
            if (!plain) {
                fail_all(_endpoint + ": cannot decompress a reply: " + std::string(plain.error()));
                _conn->abort(-EPROTO);
                return false;
            }
            dispatch(env.header, *plain);
            return !_closed;
        },
        tls_error);
    if (!tls_error.empty()) {
        fail_all(_endpoint + ": " + tls_error);
        c.abort(-EPROTO);
    } else if (!out.ok) {
        fail_all(_endpoint + ": malformed reply (" + std::string(out.reason.empty() ? cql::to_string(out.problem) : out.reason) + ")");
        c.abort(-EPROTO);
    }
}

void connection::dispatch(const envelope_header& h, std::string_view plain) {
    reply r{h, plain};
    if (h.stream < 0) {
        if (_event_fn) _event_fn(r);
        return;
    }
    auto o = _ids.finish(h.stream);
    if (!o) return;  // nothing asked on that stream: dropped
    if (_ids_scarce && _ids.in_use() * 2 <= _ids.limit()) {
        _ids_scarce = false;
        if (_room_fn) _room_fn();  // callers told to wait read again (later, on their own)
    }
    const auto id = static_cast<size_t>(h.stream);
    if (o->slot == by_tag) {
        if (_sink) _sink->on_reply(*this, _tags[id], r);
        return;
    }
    auto fn = std::move(_fns[id]);
    _fns[id] = nullptr;
    if (fn) fn(r);
}

// Every request still out gets a SERVER_ERROR naming the node, once.
void connection::fail_all(const std::string& why) {
    _failing = true;
    std::string body;
    cql::error_message::server(why).encode(body, cql::effective_version(_version));
    envelope_header h;
    h.version = _version;
    h.response = true;
    h.op = opcode::error;
    for (size_t id = 0; id < _ids.capacity(); ++id) {
        h.stream = static_cast<int16_t>(id);
        if (_ids.in_use() == 0) break;
        auto o = _ids.finish(static_cast<int16_t>(id));
        if (!o) continue;
        reply r{h, body};
        if (o->slot == by_tag) {
            if (_sink) _sink->on_reply(*this, _tags[id], r);
        } else if (auto fn = std::move(_fns[id])) {
            _fns[id] = nullptr;
            fn(r);
        }
    }
}

void connection::close() {
    if (_conn && !_conn->closing()) {
        _writer.flush();
        _conn->close();
    }
}

void connection::on_drained(net::connection&) {
    if (_room_fn) _room_fn();
}

void connection::on_close(net::connection&, int error) {
    _closed = true;
    std::string why = _endpoint + " closed the connection" + (error ? std::string(": ") + std::strerror(-error) : "");
    if (auto a = std::move(_opening)) {
        // Closed during the handshake: some servers close on a version they do not speak. The
        // handshake's own callbacks are dropped; the attempt goes on one version lower.
        _fns.clear();
        a->last_error = why;
        try_version(a, next_lower_version(_version));
        return;
    }
    fail_all(why);
    if (_closed_fn) _closed_fn(error);
}

}  // namespace tandem::core::client
