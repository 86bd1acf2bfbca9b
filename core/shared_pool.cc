#include "core/shared_pool.hh"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "core/client_session.hh"
#include "core/proxy.hh"
#include "core/sides.hh"
#include "core/stream_ids.hh"
#include "core/topology.hh"
#include "core/worker_state.hh"
#include "cql/error_body.hh"
#include "cql/query.hh"

namespace tandem::core {

using cql::opcode;

namespace {

constexpr uint64_t tick_ms = 1000;
constexpr uint32_t min_backoff_ms = 1000, max_backoff_ms = 15000;

// `USE "name"`: the keyspace as the cluster named it (case kept), quoted.
std::string use_statement(std::string_view ks) {
    std::string q = "USE \"";
    for (char c : ks) {
        if (c == '"') q += '"';
        q += c;
    }
    q += '"';
    return q;
}

// The node of `g` at `endpoint` now (a topology change may have moved it in the list), or -1.
template <class Group>
int node_at(const Group& g, const std::string& endpoint) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        if (g.nodes[i].endpoint == endpoint) return static_cast<int>(i);
    }
    return -1;
}

}  // namespace

shared_pool::shared_pool(worker_state& w) : _w(w) {}

shared_pool::~shared_pool() { stop(); }

void shared_pool::start() {
    _views_seen = _w.p.views_published();
    for (int side : {origin_side, target_side}) {
        auto v = _w.p.view(role_of(side));
        if (v) make_group(side, v->version, "");
    }
    _timer.set_callback([this] { tick(); });
    _w.w.timers().arm(_timer, tick_ms);
}

// The connections themselves close with the worker (they are its connections).
void shared_pool::stop() {
    if (_stopped) return;
    _stopped = true;
    *_alive = false;
    _timer.cancel();
}

shared_pool::group* shared_pool::find(int side, uint8_t version, std::string_view keyspace) const {
    for (const auto& g : _groups) {
        if (g->side == side && g->version == version && g->keyspace == keyspace) return g.get();
    }
    return nullptr;
}

shared_pool::group& shared_pool::make_group(int side, uint8_t version, std::string keyspace) {
    auto g = std::make_shared<group>();
    g->side = side;
    g->version = version;
    g->keyspace = std::move(keyspace);
    g->events = side == origin_side && g->keyspace.empty();
    g->last_used_ms = _w.w.now_ms();
    set_nodes(*g, _w.p.view(role_of(side)));
    _groups.push_back(g);
    spdlog::debug("shared connections: opening {} group (protocol {}, keyspace '{}', {} node(s))", side_name(side), static_cast<int>(version),
                  g->keyspace, g->nodes.size());
    for (size_t n = 0; n < g->nodes.size(); ++n) {
        if (!g->nodes[n].up) continue;
        for (size_t s = 0; s < g->nodes[n].conns.size(); ++s) open(g, n, s);
    }
    return *g;
}

// The nodes of the view's local datacenter (its host order: the ring's node numbers), keeping
// the connections of nodes that stay.
void shared_pool::set_nodes(group& g, std::shared_ptr<const cluster_view> v) {
    g.view = v;
    if (!v) return;
    const size_t per_node = static_cast<size_t>(std::max<int64_t>(_w.p.cfg().cluster_connections_per_node, 1));
    std::vector<node_pool> nodes(v->hosts.size());
    g.ring = {};
    for (size_t i = 0; i < v->hosts.size(); ++i) {
        const auto& h = v->hosts[i];
        auto& n = nodes[i];
        n.address = h.address;
        n.port = h.port;
        n.server_name = h.server_name;
        n.endpoint = h.endpoint();
        n.up = h.up;
        n.metrics = &_w.node(g.side, n.endpoint);
        auto old = std::find_if(g.nodes.begin(), g.nodes.end(), [&](const node_pool& o) { return o.endpoint == n.endpoint; });
        if (old != g.nodes.end()) {
            n.conns = std::move(old->conns);
            n.owed = std::move(old->owed);
            old->conns.clear();
            if (n.up && !old->up) {
                // Back up (STATUS_CHANGE): reopened at the next tick, not after its backoff.
                for (auto& s : n.conns) {
                    s.retry_at_ms = 0;
                    s.backoff_ms = 0;
                }
            }
        }
        n.conns.resize(per_node);
        if (const auto* cell = h.row.cell("tokens")) {
            g.ring.add_cell(static_cast<uint32_t>(i), *cell ? std::optional<std::string_view>(**cell) : std::nullopt);
        }
    }
    for (auto& old : g.nodes) {  // nodes that left the datacenter
        for (auto& s : old.conns) {
            if (s.ready) drop(old.metrics->connections);
            if (s.c) s.c->close();
        }
    }
    g.ready = 0;
    for (auto& n : nodes) {
        for (auto& s : n.conns) g.ready += s.ready ? 1 : 0;
    }
    g.nodes = std::move(nodes);
    g.ring.build();
    for (auto& n : g.nodes) {
        if (n.up) pay_owed(g, n);  // a node back up whose connections stayed open
    }
}

void shared_pool::open(const std::shared_ptr<group>& gp, size_t node, size_t slot) {
    group& g = *gp;
    auto& n = g.nodes[node];
    auto& s = n.conns[slot];
    if (s.c || s.opening || _stopped || _w.draining) return;
    s.opening = true;
    const auto& cfg = _w.p.cfg();
    const auto& cs = g.side == origin_side ? cfg.origin : cfg.target;
    client::connect_options o;
    o.username = cs.username;
    o.password = cs.password;
    o.username_setting = std::string(side_name(g.side)) + "_username";
    o.tls = _w.p.cluster_tls_shared(role_of(g.side));
    o.server_name = n.server_name;
    o.max_version = g.version;
    o.min_version = g.version;
    o.connect_timeout_ms = static_cast<uint32_t>(std::max<int64_t>(cs.connection_timeout_ms, 100));
    o.flush_list = &_w.flush_list;
    o.max_stream_ids = pool_stream_ids(cfg.cluster_connections_per_node);
    if (g.events && node == 0 && slot == 0) o.events = {"SCHEMA_CHANGE"};
    std::weak_ptr<bool> alive = _alive;
    std::weak_ptr<group> weak = gp;
    const std::string endpoint = n.endpoint;
    client::connection::open(_w.w, n.address, n.port, o, [this, alive, weak, slot, endpoint](client::connection* c, const std::string& error) {
        auto gl = weak.lock();
        const int at = alive.expired() || !gl ? -1 : node_at(*gl, endpoint);
        if (at < 0) {  // the pool, the group or the node is gone
            if (c) c->close();
            return;
        }
        const auto ni = static_cast<size_t>(at);
        group& grp = *gl;
        auto& cs2 = grp.nodes[ni].conns[slot];
        cs2.opening = false;
        if (!c) {
            bump(grp.nodes[ni].metrics->failed_connections);
            const bool first = !cs2.failed_once;
            cs2.failed_once = true;
            cs2.backoff_ms = std::clamp<uint32_t>(cs2.backoff_ms * 2, min_backoff_ms, max_backoff_ms);
            cs2.retry_at_ms = _w.w.now_ms() + cs2.backoff_ms;
            if (first) spdlog::warn("shared connection to {} node {} failed: {}", side_name(grp.side), endpoint, error);
            _last_error[grp.side] = error;
            // Every connection of the group failed: its waiting requests get the error.
            bool any = grp.ready > 0;
            for (auto& nn : grp.nodes) {
                for (auto& ss : nn.conns) any = any || ss.opening || (nn.up && !ss.failed_once);
            }
            if (!any) refuse(grp, error);
            return;
        }
        cs2.c = c;
        c->set_sink(this);
        c->on_room([this, alive] {
            if (!alive.expired()) wake_waiters();
        });
        c->on_closed([this, alive, weak, slot, endpoint](int err) {
            if (alive.expired()) return;
            wake_waiters();  // a congested connection that closed never drains
            auto gl2 = weak.lock();
            const int now_at = !gl2 ? -1 : node_at(*gl2, endpoint);
            if (now_at >= 0) on_closed(*gl2, static_cast<size_t>(now_at), slot, err);
        });
        if (grp.events) {
            const uint8_t version = grp.version;
            c->on_event([this, version](const client::reply& r) {
                auto sessions = _w.sessions;  // a session may close while it is told
                for (auto* sess : sessions) sess->on_shared_event(version, r.header, r.body);
            });
        }
        if (grp.keyspace.empty()) {
            on_ready(grp, ni, slot);
            return;
        }
        cql::query_message q;
        const std::string text = use_statement(grp.keyspace);
        q.query = text;
        if (const auto& cl = _w.consistency_override[grp.side]) q.params.cl = *cl;  // every statement to it carries its level
        std::string body;
        q.encode(body, cql::effective_version(grp.version));
        c->request(opcode::query, body, [this, alive, weak, slot, endpoint, c](const client::reply& r) {
            auto gl2 = weak.lock();
            const int now_at = alive.expired() || !gl2 ? -1 : node_at(*gl2, endpoint);
            if (now_at < 0) return;
            if (r.is_error()) {
                auto e = cql::error_message::decode(r.body, cql::effective_version(r.header.version));
                if (e && e->code == cql::error_code::invalid) {
                    // The keyspace does not exist (or cannot be used): what waits gets the
                    // cluster's message; the group opens again on its next request.
                    gl2->keyspace_refused = true;
                    refuse(*gl2, e->message);
                }
                c->close();  // anything else: reopened like a lost connection
                return;
            }
            on_ready(*gl2, static_cast<size_t>(now_at), slot);
        });
    });
}

void shared_pool::on_ready(group& g, size_t node, size_t slot) {
    auto& n = g.nodes[node];
    auto& s = n.conns[slot];
    if (s.lost || s.failed_once) {
        spdlog::info("shared connection: reconnected to {} node {}; requests for it go to it directly again", side_name(g.side), n.endpoint);
    }
    s.ready = true;
    s.lost = false;
    s.failed_once = false;
    s.backoff_ms = 0;
    s.last_heartbeat_ms = _w.w.now_ms();
    ++g.ready;
    g.keyspace_refused = false;
    bump(n.metrics->connections);
    spdlog::debug("shared connection to {} node {} ready (protocol {}, keyspace '{}')", side_name(g.side), n.endpoint, static_cast<int>(g.version),
                  g.keyspace);
    if (n.up) pay_owed(g, n);
    flush_queue(g);
}

void shared_pool::pay_owed(const group& g, node_pool& n) {
    if (n.owed.empty()) return;
    for (auto& s : n.conns) {
        if (!s.ready || !s.c->has_room()) continue;  // as prepare_on_others: a connection with free ids
        spdlog::debug("shared connection to {} node {}: {} statement(s) prepared while it was down or not ready, prepared there now",
                      side_name(g.side), n.endpoint, n.owed.size());
        for (const auto& [body, flags] : n.owed) s.c->request(opcode::prepare, body, uint64_t{0}, flags);
        n.owed.clear();
        n.owed.shrink_to_fit();
        return;
    }
}

void shared_pool::on_closed(group& g, size_t node, size_t slot, int error) {
    auto& n = g.nodes[node];
    auto& s = n.conns[slot];
    if (s.ready) {
        --g.ready;
        drop(n.metrics->connections);
        spdlog::warn("shared connection to {} node {} closed{}; reopening", side_name(g.side), n.endpoint,
                     error ? std::string(": ") + std::strerror(-error) : std::string());
    }
    const bool was_ready = s.ready;
    s.lost = s.lost || was_ready;
    s.c = nullptr;
    s.ready = false;
    if (was_ready) {
        // Reopened at once (a node that restarted is back at once; one that is gone is known
        // to be gone within a connect attempt), then with backoff.
        s.backoff_ms = 0;
        for (auto& gp : _groups) {
            if (gp.get() == &g) open(gp, node, slot);
        }
        return;
    }
    s.backoff_ms = std::clamp<uint32_t>(s.backoff_ms * 2, min_backoff_ms, max_backoff_ms);
    s.retry_at_ms = _w.w.now_ms() + s.backoff_ms;
}

// No connection of the group could be made ready: what waits for it gets `why`.
void shared_pool::refuse(group& g, const std::string& why) {
    auto queue = std::move(g.queue);
    g.queue.clear();
    for (auto& q : queue) answer_error(q.tag, g.version, why);
}

void shared_pool::answer_error(uint64_t tag, uint8_t version, const std::string& message) {
    const route_table::route* found = _routes.find(tag);
    if (!found) return;
    const route_table::route rt = *found;
    std::string body;
    auto e = message.find("does not exist") != std::string::npos || message.find("Keyspace") != std::string::npos
                 ? cql::error_message::invalid(message)
                 : cql::error_message::server("tandem: " + message);
    e.encode(body, cql::effective_version(version));
    cql::envelope_header h;
    h.version = version;
    h.response = true;
    h.op = opcode::error;
    _routes.forget(tag);
    rt.session->on_shared_reply(rt.side, rt.slot, rt.gen, h, body, nullptr);
}

void shared_pool::flush_queue(group& g) {
    while (!g.queue.empty()) {
        auto& q = g.queue.front();
        auto* rt = _routes.find(q.tag);
        if (!rt) {
            g.queue.pop_front();  // given up meanwhile
            continue;
        }
        int chosen = -1;
        auto* c = pick(g, q.token, q.node, chosen);
        if (!c) return;
        rt->metrics = g.nodes[static_cast<size_t>(chosen)].metrics;
        c->request(q.op, q.body, q.tag, q.flags);
        if (q.op == opcode::prepare) prepare_on_others(g, q.body, q.flags, chosen);  // as send() + prepare_elsewhere()
        g.queue.pop_front();
    }
}

client::connection* shared_pool::pick(group& g, std::optional<int64_t> token, int node, int& chosen) {
    const uint64_t turn = _w.w.stats().loop_turns;
    auto in_node = [&](size_t i) -> client::connection* {
        auto& n = g.nodes[i];
        if (!n.up) return nullptr;
        const int k = connection_for_turn(
            n.conns.size(), n.next, n.turn, turn, [&](size_t at) { return n.conns[at].ready && n.conns[at].c->has_room(); },
            [&](size_t at) { return n.conns[at].c->congested(); });
        if (k < 0) return nullptr;
        chosen = static_cast<int>(i);
        return n.conns[static_cast<size_t>(k)].c;
    };
    if (g.nodes.empty()) return nullptr;
    if (node >= 0 && static_cast<size_t>(node) < g.nodes.size()) {
        if (auto* c = in_node(static_cast<size_t>(node))) return c;
    }
    if (token && !g.ring.empty()) {
        for (size_t i = 0; i < g.nodes.size(); ++i) {
            const uint32_t n = g.ring.nth_after(*token, i);
            if (n < g.nodes.size()) {
                if (auto* c = in_node(n)) return c;
            }
        }
    }
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        if (auto* c = in_node(g.next_node++ % g.nodes.size())) return c;
    }
    return nullptr;
}

bool shared_pool::can_take(int side, uint8_t version, std::string_view keyspace) const {
    const group* g = find(side, version, keyspace);
    if (!g) return true;  // opened on demand; what waits for it is refused there if it cannot open
    if (g->ready == 0) return !g->keyspace_refused && !all_failed(*g) && g->queue.size() < max_waiting;
    for (const auto& n : g->nodes) {
        if (!n.up) continue;
        for (const auto& s : n.conns) {
            if (s.ready && s.c->has_room()) return true;
        }
    }
    return false;
}

bool shared_pool::all_failed(const group& g) {
    if (g.ready > 0) return false;
    for (const auto& n : g.nodes) {
        if (!n.up) continue;
        for (const auto& s : n.conns) {
            if (s.opening || !s.failed_once) return false;
        }
    }
    return true;
}

bool shared_pool::unreachable(int side) const {
    bool any_group = false;
    for (const auto& g : _groups) {
        if (g->side != side || !g->keyspace.empty()) continue;
        if (!all_failed(*g)) return false;
        any_group = true;
    }
    return any_group && !reachable(side);
}

bool shared_pool::reachable(int side) const {
    for (const auto& g : _groups) {
        if (g->side == side && g->ready > 0) return true;
    }
    return false;
}

void shared_pool::wake_waiters() {
    auto waiters = std::move(_waiters);  // a session told may wait again
    _waiters.clear();
    for (auto* sess : waiters) sess->pool_room();
}

bool shared_pool::congested(int side) const {
    for (const auto& g : _groups) {
        if (g->side != side) continue;
        for (const auto& n : g->nodes) {
            for (const auto& cs : n.conns) {
                if (cs.ready && cs.c && cs.c->congested()) return true;
            }
        }
    }
    return false;
}

// The control connections published a new view (a node down or up, a topology change).
void shared_pool::refresh_views() {
    _views_seen = _w.p.views_published();
    for (auto& gp : _groups) {
        auto v = _w.p.view(role_of(gp->side));
        if (v && v != gp->view) set_nodes(*gp, v);
    }
}

shared_pool::sent shared_pool::send(const request& r) {
    if (_w.p.views_published() != _views_seen) refresh_views();
    group* g = find(r.side, r.version, r.keyspace);
    if (!g) {
        g = &make_group(r.side, r.version, std::string(r.keyspace));
    } else if (g->ready == 0 && g->keyspace_refused) {
        // Refused before (a keyspace that did not exist then): try again.
        g->keyspace_refused = false;
        auto gp = std::find_if(_groups.begin(), _groups.end(), [&](const auto& x) { return x.get() == g; });
        for (size_t n = 0; n < g->nodes.size(); ++n) {
            for (size_t s = 0; s < g->nodes[n].conns.size(); ++s) {
                g->nodes[n].conns[s].failed_once = false;
                if (g->nodes[n].up) open(*gp, n, s);
            }
        }
    }
    g->last_used_ms = _w.w.now_ms();
    int chosen = -1;
    client::connection* c = g->ready > 0 ? pick(*g, r.token, r.node, chosen) : nullptr;
    if (!c) {
        if (g->ready > 0 || g->queue.size() >= max_waiting) return {};
        const uint64_t tag = _routes.add(r.session, r.slot, r.gen, static_cast<uint8_t>(r.side));
        g->queue.push_back({tag, r.op, r.flags, std::string(r.body), r.token, r.node});
        return {tag, -1, nullptr};
    }
    const uint64_t tag = _routes.add(r.session, r.slot, r.gen, static_cast<uint8_t>(r.side), g->nodes[static_cast<size_t>(chosen)].metrics);
    if (!c->request(r.op, r.body, tag, r.flags)) {
        forget(tag);
        return {};
    }
    return {tag, chosen, g->nodes[static_cast<size_t>(chosen)].metrics, c->congested()};
}

void shared_pool::prepare_elsewhere(const request& r, int sent_to) {
    group* g = find(r.side, r.version, r.keyspace);
    if (g && g->ready > 0) prepare_on_others(*g, r.body, r.flags, sent_to);
}

void shared_pool::prepare_on_others(group& g, std::string_view body, uint8_t flags, int sent_to) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        auto& n = g.nodes[i];
        if (static_cast<int>(i) == sent_to) continue;
        bool done = false;
        for (auto& s : n.conns) {
            if (n.up && s.ready && s.c->has_room()) {
                done = s.c->request(opcode::prepare, body, uint64_t{0}, flags);  // no route: the reply is dropped
                break;
            }
        }
        if (!done && n.owed.size() < max_owed &&
            std::none_of(n.owed.begin(), n.owed.end(), [&](const auto& o) { return o.first == body; })) {
            n.owed.emplace_back(body, flags);
        }
    }
}

void shared_pool::forget(uint64_t tag) { _routes.forget(tag); }

void shared_pool::forget_session(const client_session* s) {
    std::erase(_waiters, s);
    _routes.forget_session(s);
}

void shared_pool::on_reply(client::connection& c, uint64_t tag, const client::reply& r) {
    const route_table::route* found = _routes.find(tag);
    if (!found) return;  // a heartbeat (tag 0), or given up
    const route_table::route rt = *found;
    _routes.forget(tag);
    if (c.failing()) {
        rt.session->on_shared_lost(rt.side, rt.slot, rt.gen, r.header, r.body);  // the connection's own error: it is lost
        return;
    }
    rt.session->on_shared_reply(rt.side, rt.slot, rt.gen, r.header, r.body, rt.metrics);
}

// Once a second: nodes from the latest view, connections reopened when due, heartbeats.
void shared_pool::tick() {
    if (_stopped) return;
    const uint64_t now = _w.w.now_ms();
    const uint64_t every = static_cast<uint64_t>(std::max<int64_t>(_w.p.cfg().heartbeat_interval_ms, 1000));
    const uint64_t idle_ms = static_cast<uint64_t>(std::max<int64_t>(_w.p.cfg().cluster_connections_keyspace_idle_ms, 1000));
    if (_w.p.views_published() != _views_seen) refresh_views();
    _routes.trim();  // a burst's routes, once it drained
    // Keyspace groups (and other versions' default ones) nobody used for a while close.
    for (size_t i = 0; i < _groups.size(); ++i) {
        auto& g = *_groups[i];
        const bool kept = g.keyspace.empty() && g.version == (g.view ? g.view->version : g.version);
        if (kept || now - g.last_used_ms < idle_ms || !g.queue.empty()) continue;
        bool busy = false;
        for (auto& n : g.nodes) {
            for (auto& s : n.conns) busy = busy || (s.c && s.c->inflight() > 0);
        }
        if (busy) continue;
        spdlog::info("shared connections: closing the {} group for keyspace '{}' (protocol {}): unused for {} s", side_name(g.side),
                     g.keyspace, static_cast<int>(g.version), idle_ms / 1000);
        for (auto& n : g.nodes) {
            for (auto& s : n.conns) {
                if (s.ready) drop(n.metrics->connections);
                if (s.c) s.c->close();
                s = {};
            }
        }
        _groups.erase(_groups.begin() + static_cast<std::ptrdiff_t>(i));
        --i;
    }
    for (auto& gp : _groups) {
        auto& g = *gp;
        for (size_t n = 0; n < g.nodes.size(); ++n) {
            auto& node = g.nodes[n];
            for (size_t s = 0; s < node.conns.size(); ++s) {
                auto& slot = node.conns[s];
                if (!slot.c && !slot.opening && node.up && now >= slot.retry_at_ms && !g.keyspace_refused) open(gp, n, s);
                if (slot.ready && now - slot.last_heartbeat_ms >= every) {
                    slot.last_heartbeat_ms = now;
                    slot.c->request(opcode::options, {}, uint64_t{0});
                }
            }
        }
        flush_queue(g);
    }
    _w.w.timers().arm(_timer, tick_ms);
}

}  // namespace tandem::core
