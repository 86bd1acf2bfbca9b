// The control connection's life on its worker: a round over the endpoints (known nodes of the
// local datacenter first, then the contact points, each from a random start, R1.7), the client
// library's handshake (version negotiation from control_conn_max_protocol_version down, R1.8;
// login), OPTIONS, the topology from system.local / system.peers (topology.hh), then heartbeats
// and events until the connection fails; then exponential backoff with jitter (R1.14).
#include "core/control.hh"

#include "core/client/cluster.hh"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <utility>

#include "cql/event.hh"
#include "cql/query.hh"
#include "cql/startup.hh"

namespace tandem::core {

using cql::opcode;

namespace {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A control connection holds one connection and reads a few rows: a small ring and buffers.
net::worker_config control_worker_config() {
    net::worker_config c;
    c.sq_entries = 64;
    c.cq_entries = 256;
    c.buffer_count = 16;
    return c;
}

// The rows of a RESULT Rows reply as system rows; nullopt with `error` set otherwise.
std::optional<std::vector<system_row>> system_rows(const client::reply& r, std::string& error, std::vector<cql::column_spec>* columns) {
    auto rows = client::read_rows(r, error);
    if (!rows) return std::nullopt;
    if (rows->columns.empty()) {
        error = "unexpected reply";
        return std::nullopt;
    }
    if (columns) *columns = rows->columns;
    std::vector<system_row> out;
    for (auto& cells : rows->rows) out.push_back(system_row{rows->columns, std::move(cells)});
    return out;
}

}  // namespace

control_connection::control_connection(control_settings s, log_fn log)
    : _s(std::move(s)), _log(std::move(log)), _w(std::make_unique<net::worker>(control_worker_config())) {
    _backoff_ms = static_cast<double>(_s.retry_min_ms);
    _heartbeat_timer.set_callback([this] { heartbeat(); });
}

control_connection::~control_connection() { stop(); }

void control_connection::start() {
    _thread = std::thread([this] {
        try {
            _w->run([this](net::worker&) { connect_round(); });
        } catch (const std::exception& e) {
            {
                std::lock_guard g(_lock);
                _last_error = e.what();
                _failed = true;
            }
            _ready_cv.notify_all();
        }
    });
}

bool control_connection::failed() const {
    std::lock_guard g(_lock);
    return _failed;
}

void control_connection::stop() {
    if (!_stop.exchange(true)) {
        _w->stop(0);
        _ready_cv.notify_all();
    }
    if (_thread.joinable()) _thread.join();
}

std::shared_ptr<const cluster_view> control_connection::view() const {
    std::lock_guard g(_lock);
    return _view;
}

std::string control_connection::last_error() const {
    std::lock_guard g(_lock);
    return _last_error;
}

bool control_connection::wait_ready(int64_t timeout_ms) {
    std::unique_lock g(_lock);
    _ready_cv.wait_for(g, std::chrono::milliseconds(timeout_ms), [&] { return _view != nullptr || _stop.load() || _failed; });
    return _view != nullptr;
}

void control_connection::publish(std::shared_ptr<const cluster_view> v) {
    {
        std::lock_guard g(_lock);
        _view = std::move(v);
    }
    _published.fetch_add(1, std::memory_order_release);
    _ready_cv.notify_all();
}

void control_connection::connect_round() {
    std::mt19937 rng(std::random_device{}());
    _round.clear();
    _next = 0;
    _round_error.clear();
    if (auto v = view()) {
        size_t start = v->hosts.empty() ? 0 : rng() % v->hosts.size();
        for (size_t i = 0; i < v->hosts.size(); ++i) {
            const auto& h = v->hosts[(start + i) % v->hosts.size()];
            _round.push_back({h.address, h.port, h.server_name});
        }
    }
    if (_s.sni) {
        const auto& ids = _s.sni->host_ids;
        size_t start = ids.empty() ? 0 : rng() % ids.size();
        for (size_t i = 0; i < ids.size(); ++i) _round.push_back({_s.sni->host, _s.sni->port, ids[(start + i) % ids.size()]});
    } else {
        const auto& cps = _s.cluster.contact_points;
        size_t start = cps.empty() ? 0 : rng() % cps.size();
        for (size_t i = 0; i < cps.size(); ++i) _round.push_back({cps[(start + i) % cps.size()], static_cast<uint16_t>(_s.cluster.port), {}});
    }
    if (_round.empty()) _round_error = "no contact points";
    connect_next();
}

void control_connection::connect_next() {
    if (_stop.load()) return;
    if (_next >= _round.size()) {
        lost(_round_error.empty() ? "no contact point reachable" : _round_error);
        return;
    }
    const endpoint where = _round[_next++];
    client::connect_options o;
    o.username = _s.cluster.username;
    o.password = _s.cluster.password;
    o.username_setting = _s.name + "_username";
    o.tls = _s.tls;
    o.server_name = where.server_name;
    o.max_version = _s.max_version;
    o.min_version = cql::protocol_version::v2;
    o.connect_timeout_ms = static_cast<uint32_t>(std::min<int64_t>(_s.cluster.connection_timeout_ms, 5000));
    o.events = {"TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"};  // topology (as ZDM), status and schema (tandem)
    const uint64_t gen = ++_gen;
    client::connection::open(*_w, where.host, where.port, o, [this, gen, where](client::connection* c, const std::string& error) {
        if (gen != _gen || _stop.load()) {
            if (c) c->close();
            return;
        }
        opened(c, error, where);
    });
}

void control_connection::opened(client::connection* c, const std::string& error, const endpoint& where) {
    if (!c) {
        std::string name = where.host + ":" + std::to_string(where.port) + (where.server_name.empty() ? "" : " (SNI " + where.server_name + ")");
        _log(1, _s.name + " control connection to " + name + ": " + error);
        _round_error = error;
        connect_next();
        return;
    }
    _conn = c;
    const uint64_t gen = _gen;
    c->on_event([this](const client::reply& r) { on_event(r); });
    c->on_closed([this, gen](int err) {
        if (gen != _gen) return;
        _conn = nullptr;
        lost(_s.name + " control connection lost: " + (err ? std::string(std::strerror(-err)) : std::string("closed by the node")));
    });
    _serving = std::make_shared<cluster_view>();
    _serving->name = _s.name;
    _serving->version = c->version();
    _serving->auth_enabled = c->authenticates();
    _serving->authenticator = c->authenticator();
    _serving->connected = c->endpoint();
    if (!_serving->auth_enabled) _log(2, _s.name + " cluster does not require authentication");
    ask(opcode::options, {}, [this](const client::reply& r) {
        if (auto s = cql::supported_message::decode(r.body); s && r.header.op == opcode::supported) {
            for (auto& [k, vals] : s->options) _serving->supported.emplace_back(std::string(k), std::vector<std::string>(vals.begin(), vals.end()));
        }
        refresh(true);
    }, [this](const std::string& why) { lost(why); });
}

// system.local, then system.peers; a new view is published when both are in.
void control_connection::refresh(bool initial) {
    if (_refreshing || _asking) {  // one control request at a time: after the one out
        _refresh_again = true;
        return;
    }
    _refreshing = true;
    auto rows = std::make_shared<topology_rows>();
    auto fail = [this, initial](const std::string& why) {
        _refreshing = false;
        lost(initial ? why : _s.name + " topology refresh failed: " + why);
    };
    const uint8_t v = _serving->version;
    ask(opcode::query, client::query_body("SELECT * FROM system.local", v), [this, rows, fail, v, initial](const client::reply& r) {
        std::string err;
        auto local = system_rows(r, err, nullptr);
        if (!local) return fail("SELECT * FROM system.local: " + err);
        rows->local = std::move(*local);
        ask(opcode::query, client::query_body("SELECT * FROM system.peers", v), [this, rows, fail, initial](const client::reply& r2) {
            std::string err2;
            auto peers = system_rows(r2, err2, &rows->peers_columns);
            if (!peers) return fail("SELECT * FROM system.peers: " + err2);
            rows->peers = std::move(*peers);
            topology_settings ts{_s.name, static_cast<uint16_t>(_s.cluster.port), _s.cluster.local_datacenter, false, {}, 0};
            if (_s.sni) ts = {_s.name, ts.port, ts.local_datacenter, true, _s.sni->host, _s.sni->port};
            auto next = std::make_shared<cluster_view>(*_serving);
            auto previous = view();
            std::vector<std::string> warnings;
            const std::string& ep = _serving->connected;
            std::string error = apply_topology(*next, *rows, ts, _sticky_dc, previous.get(), ep.substr(0, ep.rfind(':')), warnings);
            for (const auto& w : warnings) _log(2, w);
            if (!error.empty()) return fail(error);
            next->refreshed_at_ms = static_cast<uint64_t>(now_ms());
            _serving = next;
            publish(next);
            _refreshing = false;
            if (initial) {
                std::string hosts;
                for (auto& h : next->hosts) hosts += (hosts.empty() ? "" : ", ") + h.endpoint();
                _log(1, _s.name + " control connection up on " + next->connected + " (protocol " + std::to_string(next->version) +
                            ", datacenter " + next->local_datacenter + ", auth " + (next->auth_enabled ? "on" : "off") + "); nodes: " + hosts);
                _failures.store(0, std::memory_order_relaxed);
                _was_up = true;
                _w->timers().arm(_heartbeat_timer, static_cast<uint64_t>(_s.heartbeat_interval_ms));
            }
            if (std::exchange(_refresh_again, false)) refresh(false);
        }, fail);
    }, fail);
}

void control_connection::on_event(const client::reply& r) {
    auto ev = cql::event_message::decode(r.body);
    if (!ev || !_serving) return;
    if (ev->type == "TOPOLOGY_CHANGE" || ev->type == "SCHEMA_CHANGE") {
        refresh(false);
        return;
    }
    if (ev->type != "STATUS_CHANGE") return;
    // Nodes reported down are skipped by new client connections.
    const std::string address = ev->address.addr.to_string();
    const bool up = ev->change == "UP";
    auto next = std::make_shared<cluster_view>(*_serving);
    for (auto& h : next->hosts) {
        if (h.address != address) continue;
        if (h.up != up) _log(1, _s.name + " node " + h.endpoint() + " is " + (up ? "UP" : "DOWN"));
        h.up = up;
    }
    _serving = next;
    publish(next);
}

// OPTIONS every heartbeat_interval_ms (R1.13); a failure reconnects.
void control_connection::heartbeat() {
    if (!_conn) return;
    if (_refreshing || _asking) {  // one control request at a time
        _w->timers().arm(_heartbeat_timer, static_cast<uint64_t>(_s.heartbeat_interval_ms));
        return;
    }
    ask(opcode::options, {}, [this](const client::reply& r) {
        if (r.header.op != opcode::supported) _log(2, _s.name + " control connection: heartbeat answered with " + std::string(cql::to_string(r.header.op)));
        _failures.store(0, std::memory_order_relaxed);
        _w->timers().arm(_heartbeat_timer, static_cast<uint64_t>(_s.heartbeat_interval_ms));
        if (std::exchange(_refresh_again, false)) refresh(false);  // an event came during the heartbeat
    }, [this](const std::string& why) { lost(_s.name + " control connection heartbeat failed: " + why); });
}

void control_connection::ask(opcode op, const std::string& body, std::function<void(const client::reply&)> on_ok,
                             std::function<void(const std::string&)> on_fail) {
    const uint64_t gen = _gen;
    if (!_conn || !_conn->request(op, body, [this, gen, op, on_ok, on_fail](const client::reply& r) {
            if (gen != _gen) return;
            _request_timer.cancel();
            _asking = false;
            if (r.is_error()) {
                on_fail(std::string(cql::to_string(op)) + ": " + r.describe());
                return;
            }
            on_ok(r);
        })) {
        on_fail("no connection");
        return;
    }
    _asking = true;
    const std::string ep = _conn->endpoint();
    const int64_t timeout = _s.request_timeout_ms;
    _request_timer.set_callback([this, gen, ep, timeout, on_fail] {
        if (gen != _gen) return;
        _asking = false;
        on_fail("no reply from " + ep + " within " + std::to_string(timeout) + " ms");
    });
    _w->timers().arm(_request_timer, static_cast<uint64_t>(timeout));
}

// The connection failed (or never came up): note why, close it, and start a new round after
// the backoff (exponential with jitter, reset after a connection that had been up).
void control_connection::lost(const std::string& why) {
    ++_gen;
    _request_timer.cancel();
    _heartbeat_timer.cancel();
    _refreshing = _refresh_again = _asking = false;
    if (_conn) {
        _conn->close();
        _conn = nullptr;
    }
    {
        std::lock_guard g(_lock);
        _last_error = why;
    }
    if (_stop.load()) return;
    _failures.fetch_add(1, std::memory_order_relaxed);
    if (_was_up) _backoff_ms = static_cast<double>(_s.retry_min_ms);
    _was_up = false;
    static thread_local std::mt19937_64 rng(std::random_device{}());
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    auto wait = static_cast<uint64_t>(_backoff_ms * jitter(rng));
    _log(2, _s.name + " control connection: " + why + "; retrying in " + std::to_string(wait) + " ms");
    _backoff_ms = std::min(_backoff_ms * _s.retry_factor, static_cast<double>(_s.retry_max_ms));
    _retry_timer.set_callback([this] { connect_round(); });
    _w->timers().arm(_retry_timer, std::max<uint64_t>(wait, 1));
}

}  // namespace tandem::core
