// client_session: one client connection's life (connect both clusters, read envelopes, queue
// them while the clusters or the handshake are not ready, answer errors, close). The other
// stages are in handshake.cc, request_path.cc, replies.cc and async_reads.cc.
#include "core/client_session.hh"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "core/proxy.hh"
#include "core/shared_pool.hh"
#include "cql/murmur3.hh"

namespace tandem::core {

using cql::envelope_header;
using cql::error_message;
using cql::opcode;

namespace {

// The connection's local address (what system.local's rpc_address says to this client, R6).
cql::inet_address local_address_of(int fd) {
    cql::inet_address a;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return a;
    if (ss.ss_family == AF_INET) {
        a.size = 4;
        std::memcpy(a.bytes.data(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, 4);
    } else {
        a.size = 16;
        std::memcpy(a.bytes.data(), &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, 16);
    }
    return a;
}

// "host:port" of the client, for logs.
std::string peer_of(int fd) {
    sockaddr_storage ps{};
    socklen_t plen = sizeof ps;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ps), &plen) != 0) return {};
    char host[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (ps.ss_family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ps);
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ps);
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    return std::string(host) + ":" + std::to_string(port);
}

}  // namespace

client_session::client_session(worker_state& w, net::connection& conn)
    : _w(w), _client(conn), _reader(request_limits()), _local_address(local_address_of(conn.fd())), _peer(peer_of(conn.fd())) {
    _writer.set_flush_list(&_w.flush_list);
    if (auto* t = _w.p.client_tls()) {
        _tls = std::make_unique<net::tls_stream>(*t);
        _writer.set_tls(_tls.get());
    }
    auto ov = _w.p.view(cluster_role::origin);
    auto tv = _w.p.view(cluster_role::target);
    int64_t max_ids = std::min<int64_t>(_w.p.cfg().proxy_max_stream_ids, 2048);
    // v2 clusters: 127 ids (R4.1).
    if ((ov && ov->version == 2) || (tv && tv->version == 2)) max_ids = std::min<int64_t>(max_ids, 127);
    _ids_per_link = static_cast<size_t>(std::max<int64_t>(max_ids, 1));
    _cluster_version_floor = _w.p.lower_cluster_version();
    _system_cluster = _w.p.cfg().system_queries_mode == "TARGET" ? cluster_role::target : cluster_role::origin;
    _hs.plan = plan_credentials(ov && ov->auth_enabled, tv && tv->auth_enabled, _w.p.cfg().forward_client_credentials_to_origin);
    _shared = _w.pool != nullptr;
    _w.sessions.insert(this);
}

client_session::~client_session() { _w.sessions.erase(this); }

void client_session::start() {
    if (_shared) {
        // The worker's pool is connected and logged in already: the handshake is tandem's.
        _phase = phase::handshake;
        drain_queue();
        return;
    }
    // Connect to both clusters before reading anything (R1.22), each to a node of the
    // instance's share of the local datacenter, round robin (R1.17); nodes marked down are
    // skipped and an unreachable node costs one short attempt, not the whole budget (W6).
    for (int side : {origin_side, target_side}) {
        auto v = _w.p.view(role_of(side));
        std::vector<size_t> owned, others;
        const size_t n = v->hosts.size();
        const size_t count = _w.p.topology().addresses.size();
        const size_t index = _w.p.topology().index;
        for (size_t j = 0; j < n; ++j) {
            bool mine = n >= count ? j % count == index : j == index % n;
            (v->hosts[j].up ? (mine ? owned : others) : others).push_back(j);
        }
        std::vector<size_t> order;
        if (!owned.empty()) {
            size_t start = static_cast<size_t>(++_w.next_host[side]) % owned.size();
            for (size_t i = 0; i < owned.size(); ++i) order.push_back(owned[(start + i) % owned.size()]);
        }
        for (size_t j : others) order.push_back(j);
        ++_connecting;
        connect_cluster(side, std::move(order));
    }
}

void client_session::connect_cluster(int side, std::vector<size_t> candidates) {
    auto v = _w.p.view(role_of(side));
    if (candidates.empty()) {
        on_link_connected(side, nullptr, -EHOSTUNREACH, {});
        return;
    }
    const host_info& h = v->hosts[candidates.front()];
    candidates.erase(candidates.begin());
    const auto& cs = side == origin_side ? _w.p.cfg().origin : _w.p.cfg().target;
    auto timeout = static_cast<uint32_t>(std::min<int64_t>(_w.p.options().connect_attempt_ms, cs.connection_timeout_ms));
    open_link(side, side, h, timeout, std::move(candidates));
}

// Opens the link `side` (origin, target or async) to `node` of `cluster`; on_link_connected
// follows, unless the session is gone by then.
void client_session::open_link(int side, int cluster, const host_info& node, uint32_t timeout_ms, std::vector<size_t> rest) {
    _link_endpoint[side] = node.endpoint();
    auto addr = net::resolve_address(node.address, node.port);
    if (!addr) {
        on_link_connected(side, nullptr, -EINVAL, std::move(rest));
        return;
    }
    auto link = std::make_unique<cluster_link>(this, side, node.endpoint(), _ids_per_link);
    if (auto* t = _w.p.cluster_tls(role_of(cluster))) link->use_tls(*t, node.server_name);
    link->set_flush_list(&_w.flush_list);
    link->metrics = &_w.node(side, node.endpoint());
    std::weak_ptr<bool> weak = _alive;
    _w.w.connect(addr->first, addr->second, timeout_ms, std::move(link),
                 [this, weak, side, rest = std::move(rest)](net::connection* c, int err) mutable {
                     if (weak.expired()) {
                         if (c) {
                             static_cast<cluster_link*>(c->handler())->session = nullptr;
                             c->abort();
                         }
                         return;
                     }
                     on_link_connected(side, c, err, std::move(rest));
                 });
}

void client_session::on_link_connected(int side, net::connection* c, int error, std::vector<size_t> remaining) {
    if (!c) {
        bump(_w.node(side, _link_endpoint[side]).failed_connections);
    } else if (auto* m = static_cast<cluster_link*>(c->handler())->metrics) {
        bump(m->connections);
    }
    if (side == async_side) {
        on_async_connected(c, error);
    } else if (_phase == phase::ready) {
        on_rejoin_connected(side, c, error);
    } else {
        on_cluster_connected(side, c, error, std::move(remaining));
    }
}

void client_session::on_cluster_connected(int side, net::connection* c, int error, std::vector<size_t> remaining) {
    if (!c) {
        spdlog::warn("client {}: cannot connect to {} node {}: {}", _peer, side_name(side), _link_endpoint[side], std::strerror(-error));
        if (!remaining.empty() && !_w.draining) {
            connect_cluster(side, std::move(remaining));
            return;
        }
        --_connecting;
        if (writes_async() && side == secondary() && side != _hs.plan.handshake_side) {
            // write_mode DUAL_ASYNC_ON_SECONDARY: the primary serves alone (the client logs in
            // there); writes for the secondary go to the journal and a connection to it is
            // tried again in the background.
            spdlog::warn("client {}: cannot reach the {} cluster (last tried {}: {}); serving from the primary, writes for it go to the "
                         "write journal",
                         _peer, side_name(side), _link_endpoint[side], std::strerror(-error));
            _rejoin_at_ms = _w.w.now_ms() + 1000;
            schedule_rejoin();
            if (_connecting == 0 && _fatal.empty()) _phase = phase::handshake;
            if (_connecting == 0) drain_queue();
            return;
        }
        if (_fatal.empty()) {
            _fatal = std::string("tandem cannot reach any ") + side_name(side) + " node (last tried " + _link_endpoint[side] + ": " +
                     std::strerror(-error) + ")";
        }
        if (_connecting == 0) drain_queue();
        return;
    }
    auto* l = static_cast<cluster_link*>(c->handler());
    l->conn = c;
    _links[side] = l;
    l->start_tls();
    l->start_heartbeats(static_cast<uint64_t>(std::max<int64_t>(_w.p.cfg().heartbeat_interval_ms, 1000)));
    if (--_connecting == 0) {
        if (_fatal.empty()) {
            _phase = phase::handshake;
            if (!_links[other_side(side)]) {
                drain_queue();  // the other cluster is the secondary, unreachable (logged)
                return;
            }
            spdlog::info("client {} connected: origin node {}, target node {}", _peer, _link_endpoint[origin_side],
                         _link_endpoint[target_side]);
        }
        drain_queue();
    }
}

// Heartbeats go out only on links that finished their handshake (W9, W11).
bool client_session::link_ready(const cluster_link& l) const {
    return l.side == async_side ? l.astate == cluster_link::async_state::ready : _phase == phase::ready;
}

void client_session::fail_session(const std::string& why) {
    spdlog::info("client {}: closing: {}", _peer, why);
    _writer.flush();  // frames still pending leave before the close
    _client.close();
}

void client_session::on_link_closed(int side, int error) {
    if (side != async_side && _rejoin && _rejoin->side == side && _links[side] != _rejoin) {
        _rejoin = nullptr;  // a reconnection that did not make it: tried again later
        schedule_rejoin();
        return;
    }
    auto* l = _links[side];
    _links[side] = nullptr;
    if (side == async_side) {
        spdlog::info("async connection to {} closed{}", _link_endpoint[side], error ? std::string(": ") + std::strerror(-error) : "");
        _async_retry_at_ms = _w.w.now_ms() + 1000;
        for (size_t i = 0; i < _compares.size(); ++i) {  // their secondary results will not come
            if (!_compares[i].used) continue;
            count_dual_read(_compares[i].table, dual_read_outcome::not_compared);
            drop_compare((_compares[i].gen << 9) | static_cast<uint32_t>(i + 1));
        }
        return;
    }
    if (!l) return;
    if (_phase != phase::connecting && writes_async() && side == secondary() && side != _hs.plan.handshake_side) {
        // write_mode DUAL_ASYNC_ON_SECONDARY: the primary serves on; journaled writes waiting for
        // this cluster are kept for the replayer, later ones go to the journal alone.
        spdlog::warn("client {}: lost its connection to {} node {}{}; writes for it go to the write journal until it is back",
                     _peer, side_name(side), l->endpoint, error ? std::string(" (") + std::strerror(-error) + ")" : "");
        schedule_rejoin();
        _slots.for_each_used([&](pending& p) {
            if (!p.waits_for(side)) return;
            if (p.journal_id != 0) {
                _w.journal->settle(p.journal_id, false);
                bump(_w.counters.journal_secondary_failed);
                p.expect = p.expect.without(side);
                p.proxy_stream[side] = -1;
                if (p.answered) release(p);
                return;
            }
            if (p.kind == request_kind::startup || p.kind == request_kind::auth_secondary) {
                // The handshake goes on with the primary alone (the client logs in there).
                p.expect = p.expect.without(side);
                p.proxy_stream[side] = -1;
                envelope_header h = p.first_h;  // the primary's reply (auth_secondary: its success)
                std::string body(p.first_body());
                if (p.kind == request_kind::auth_secondary) {
                    handshake_done(p, h, body);
                } else if (p.got.has(other_side(side)) && p.first_side >= 0) {
                    on_startup_replies(p, other_side(side), inbound_envelope{h, body, {}});
                }  // else the primary's STARTUP reply completes it
                return;
            }
            if (!p.write && p.got.has(other_side(side)) && p.first_side >= 0) {
                p.expect = p.expect.without(side);
                deliver_held(p, p.first_side);
                return;
            }
            if (!p.write && !p.got.has(other_side(side))) {
                p.expect = p.expect.without(side);  // the primary's reply will be the answer
                p.proxy_stream[side] = -1;
                return;
            }
            answer_error(p.client_stream, error_message::server(std::string("tandem lost its connection to ") + side_name(side) + " node " +
                                                               l->endpoint + " before it answered"));
            release(p);
        });
        return;
    }
    // Every request still waiting for this cluster gets an error now (ZDM leaves them to time
    // out, W5), then the client connection closes (R11.3): drivers reconnect elsewhere.
    std::string why = std::string("tandem lost its connection to ") + side_name(side) + " node " + l->endpoint +
                      (error ? std::string(" (") + std::strerror(-error) + ")" : "") + " before it answered";
    _slots.for_each_used([&](pending& p) {
        if (!p.waits_for(side)) return;
        answer_error(p.client_stream, error_message::server(why));
        release(p);
    });
    if (!_client.closing()) fail_session(std::string(side_name(side)) + " connection to " + l->endpoint + " lost");
}

void client_session::on_close(net::connection&, int error) {
    *_alive = false;
    _rejoin_timer.cancel();
    if (_rejoin) {
        _rejoin->heartbeat.cancel();
        _rejoin->session = nullptr;
        _rejoin->conn->abort();
        _rejoin = nullptr;
    }
    for (auto*& l : _links) {
        if (!l) continue;
        l->heartbeat.cancel();
        l->session = nullptr;
        l->conn->abort();
        l = nullptr;
    }
    _slots.for_each_used([&](pending& p) { release(p); });
    drop(_w.counters.held, static_cast<int64_t>(_queued.size()));  // never sent: the client is gone
    _queued = {};
    if (_shared) _w.pool->forget_session(this);  // mirrored reads too
    _w.p.client_connections().fetch_sub(1, std::memory_order_relaxed);
    spdlog::info("client {} disconnected{}", _peer, error ? std::string(": ") + std::strerror(-error) : "");
}

void client_session::on_data(net::connection& c, net::rx_buffer data) {
    auto on_envelope = [&](inbound_envelope&& env) {
        if (_phase != phase::ready || _hs.busy || !_queued.empty() || _pool_wait) {
            // Before READY a client may pipeline only so much. A client held back for the pool
            // sends nothing more (reading is paused): what waits is what was already received.
            if (_queued.size() > 1024 && (_phase != phase::ready || _hs.busy)) {
                fail_session("more than 1024 requests sent before the handshake completed");
                return false;
            }
            _queued.push_back({env.header, std::string(env.body)});
            bump(_w.counters.held);
            return true;
        }
        process(std::move(env));
        return !c.closing();
    };
    std::string tls_error;
    auto out = _reader.feed_from(c, _tls.get(), std::move(data), on_envelope, tls_error);
    if (!tls_error.empty()) {
        spdlog::info("client {}: {}", _peer, tls_error);
        c.close();
        return;
    }
    if (!out.ok) {
        framing_lost(out);
        return;
    }
    if ((_phase != phase::connecting || !_fatal.empty()) && !_hs.busy) drain_queue();
    if (!c.closing() && !c.reading_paused() && congested()) {
        c.pause_reading();
        bump(_w.counters.reads_paused);
    }
}

// Bytes wait to leave on a connection this client's requests or replies use, more than the
// send limit, or the requests it waits for add up to more than max_inflight_bytes: reading more
// would only hold more (a cluster that stalls or is slower than the client, a client that does
// not read its replies). In DUAL_ASYNC_ON_SECONDARY the secondary never holds the client
// back: its copies go to the journal alone while it is congested (journal_write).
bool client_session::congested() const {
    if (_client.over_limit() || _pool_wait || _inflight_bytes > max_inflight_bytes) return true;
    for (int side : {0, 1}) {
        const auto* l = _links[side];
        if (l && l->conn && l->conn->over_limit() && !(writes_async() && side == secondary())) return true;
    }
    return false;
}

void client_session::relieve() {
    if (_client.reading_paused() && !_client.closing() && !congested() && _inflight_bytes <= max_inflight_bytes / 2) {
        _client.resume_reading();
    }
}

void client_session::on_drained(net::connection&) {
    for (int side : {0, 1}) {
        if (auto* l = _links[side]; l && l->conn && !l->conn->closing()) l->conn->resume_reading();
    }
    relieve();
}

void client_session::count_paused() { bump(_w.counters.reads_paused); }

void client_session::pool_room() {
    _pool_wait = false;
    drain_queue();  // what was received while it waited; may wait again
    relieve();
}

// Framing is lost: answer what can be answered, then close (STYLE 12).
void client_session::framing_lost(const envelope_reader::outcome& out) {
    if (out.problem == cql::envelope_problem::unknown_version) {
        protocol_version_error(out.raw_version);
    } else {
        envelope_header h = out.header;
        if (!cql::is_known_version(h.version)) h.version = _w.p.lower_cluster_version();
        auto e = error_message::protocol(out.reason.empty() ? std::string("Invalid frame: ") + std::string(cql::to_string(out.problem))
                                                            : std::string(out.reason));
        std::string body;
        e.encode(body, cql::effective_version(h.version));
        h.response = true;
        h.op = opcode::error;
        h.flags = 0;
        _writer.send(_client, h, body);
    }
    _writer.flush();
    _client.close();
}

void client_session::drain_queue() {
    while (!_queued.empty() && !_client.closing()) {
        if (_phase == phase::connecting && _fatal.empty()) return;
        if (_hs.busy || _pool_wait) return;
        auto q = _queued.pop_front();
        drop(_w.counters.held);
        process(inbound_envelope{q.h, q.body, {}});
    }
}

pending& client_session::alloc(request_kind k, int16_t stream) {
    pending& p = _slots.take(k, stream);
    p.version = _version;
    p.primary = _w.p.primary();
    p.write = false;
    p.counted = false;
    p.started_ns = _w.w.now_ns();
    p.bytes = _req_bytes;
    _inflight_bytes += p.bytes;
    bump(_w.counters.inflight);
    return p;
}

void client_session::release(pending& p) {
    if (p.compare_tag != 0) drop_compare(p.compare_tag);  // the primary never answered: nothing to compare
    if (p.journal_id != 0 && p.waits_for(other_side(side_of(p.primary)))) {
        _w.journal->settle(p.journal_id, false);  // no answer from the secondary: replayed later
    }
    for (int s : {origin_side, target_side}) {
        if (p.proxy_stream[s] < 0 || p.got.has(s)) continue;
        if (_shared) {
            _w.pool->forget(p.shared_tag[s]);
        } else if (_links[s]) {
            _links[s]->abandon(p.proxy_stream[s]);
        }
    }
    uncount(p);
    _slots.release(p);
    drop(_w.counters.inflight);
    if (_slots.idle_after_burst() && !_trim_posted) {
        // The burst is over (a stalled cluster let thousands of requests in flight): its slots
        // and their strings go back now, not at the next burst's 1024th reply; next turn, when no
        // slot is referenced.
        _trim_posted = true;
        _w.w.post([this, alive = std::weak_ptr<bool>(_alive)] {
            if (alive.expired()) return;
            _trim_posted = false;
            if (_slots.idle_after_burst()) _slots.trim();
        });
    }
}

void client_session::finish(pending& p) {
    if (p.journal_id != 0 && p.waits_for(other_side(side_of(p.primary)))) {
        uncount(p);  // the client has its reply; what waits for the secondary is bounded by its send limit
        if (p.healing < 0 && p.req_copy.capacity() + (p.copies ? p.copies->side_body[0].capacity() + p.copies->side_body[1].capacity() : 0) > 16 * 1024) {
            // A large write's copies are not kept while a slow secondary answers: its copy left
            // already, and an UNPREPARED from it fails the record (not healed here), which the
            // journal's replayer sends again after preparing. (A heal under way keeps them.)
            std::string().swap(p.req_copy);
            p.kept = false;
            if (p.copies) {
                for (auto& b : p.copies->side_body) std::string().swap(b);
            }
        }
        _slots.detach_client(p);
        return;
    }
    release(p);
}

void client_session::uncount(pending& p) {
    _inflight_bytes -= p.bytes;
    p.bytes = 0;
    if (_client.reading_paused() && _inflight_bytes <= max_inflight_bytes / 2) relieve();
}

void client_session::answer(int16_t stream, opcode op, std::string_view body) {
    envelope_header h;
    h.version = _version ? _version : _w.p.lower_cluster_version();
    h.response = true;
    h.op = op;
    h.stream = stream;
    _writer.send(_client, h, body);
}

void client_session::answer_error(int16_t stream, const error_message& e) {
    if (e.code == cql::error_code::overloaded) bump(_w.counters.overloaded_answers);  // tandem's own, not a node's
    std::string body;
    e.encode(body, cql::effective_version(_version ? _version : _w.p.lower_cluster_version()));
    answer(stream, opcode::error, body);
}

void client_session::protocol_version_error(uint8_t raw_version) {
    // R2.2: stream 0, encoded with the lower of the clusters' versions, the text drivers parse.
    envelope_header h;
    h.version = _w.p.lower_cluster_version();
    h.response = true;
    h.op = opcode::error;
    h.stream = 0;
    std::string body;
    error_message::protocol("Invalid or unsupported protocol version (" + std::to_string(raw_version & 0x7F) + ")")
        .encode(body, cql::effective_version(h.version));
    _writer.send(_client, h, body);
    _version_error_sent = true;
}

// cluster_connections SHARED ------------------------------------------------------------------

void client_session::on_shared_reply(int side, uint32_t slot, uint32_t gen, const envelope_header& h, std::string_view body,
                                     node_metrics* m) {
    envelope_header hh = h;
    hh.flags &= static_cast<uint8_t>(~cql::envelope_flags::compression);  // the pool's bodies are plain
    if (slot == stream_ids::async) {
        if (const prepared_entry* e = mirrored_result(hh, body, gen, m)) {
            // Prepared again on every node of the secondary (replies dropped).
            const std::string pb = prepare_again(*e);
            shared_pool::request r;
            r.side = side;
            r.version = _version;
            r.keyspace = e->needs_keyspace ? std::string_view(e->keyspace) : std::string_view();
            r.op = opcode::prepare;
            r.body = pb;
            _w.pool->prepare_elsewhere(r, -1);
        }
        return;
    }
    _reply_metrics = m;
    on_reply(side, slot, gen, inbound_envelope{hh, body, {}});
    _reply_metrics = nullptr;
}

// write_mode DUAL_ASYNC_ON_SECONDARY keeps serving while the secondary is away: what is not a
// write is then the primary's alone, as when PER_CLIENT's own link to it is lost
// (on_link_closed). Anything else gets the connection's SERVER_ERROR as the node's reply (a
// journaled write's copy stays in the journal for the replayer).
void client_session::on_shared_lost(int side, uint32_t slot, uint32_t gen, const envelope_header& h, std::string_view body) {
    pending* p = _slots.find(slot, gen);
    if (!p || !p->waits_for(side) || p->write || p->journal_id != 0 || !writes_async() || side != secondary()) {
        on_shared_reply(side, slot, gen, h, body, nullptr);
        return;
    }
    p->expect = p->expect.without(side);
    p->proxy_stream[side] = -1;
    const int prim = other_side(side);
    if (!p->got.has(prim) || p->first_side != prim) return;  // the primary's reply, when it comes, completes it
    // The primary's reply is held: it goes through the single-cluster path (a PREPARE is stored).
    const envelope_header ph = p->first_h;
    std::string held(p->first_body());
    p->got = p->got.without(prim);
    on_reply(prim, p->index, p->gen, inbound_envelope{ph, held, {}});
}

void client_session::on_shared_event(uint8_t version, const envelope_header& h, std::string_view body) {
    if (!_registered || version != _version || _client.closing()) return;
    envelope_header hh = h;
    hh.flags &= static_cast<uint8_t>(~cql::envelope_flags::compression);
    on_event(origin_side, inbound_envelope{hh, body, {}});
}

// Sends one cluster's copy of the request in `p` through the worker's pool: to `node` when
// given (healing), else by the request's token, in the keyspace its statement needs.
void client_session::shared_send(pending& p, int side, const envelope_header& h, std::string_view body, int node, std::string_view keyspace,
                                 bool use_request_keyspace) {
    shared_pool::request r;
    r.side = side;
    r.version = _version;
    r.keyspace = use_request_keyspace ? std::string_view(_req_ks) : keyspace;
    r.token = use_request_keyspace ? _req_token : std::nullopt;
    r.node = node;
    r.op = h.op;
    r.flags = h.flags;
    r.body = body;
    r.session = this;
    r.slot = p.index;
    r.gen = p.gen;
    auto sent = _w.pool->send(r);
    if (p.kind == request_kind::prepare && sent.node >= 0) _w.pool->prepare_elsewhere(r, sent.node);
    p.expect_again(side, 0);
    p.shared_tag[side] = sent.tag;
    p.shared_node[side] = static_cast<int16_t>(sent.node);
    if (sent.congested && !_pool_wait && !(writes_async() && side == secondary())) {
        _pool_wait = true;  // on_data stops reading the client until the pool has room again
        _w.pool->wait_for_room(this);
    }
    if (sent.tag == 0) {
        // Checked before anything was sent (can_take), so only a connection that closed in
        // between: the answer is the connection's.
        envelope_header eh;
        eh.version = _version;
        eh.response = true;
        eh.op = opcode::error;
        bump(_w.counters.overloaded_answers);
        std::string b;
        error_message::overloaded(std::string("tandem: no connection to the ") + side_name(side) + " cluster can take the request")
            .encode(b, cql::effective_version(_version));
        _w.w.post([this, alive = std::weak_ptr<bool>(_alive), side, idx = p.index, gen = p.gen, eh, b] {
            if (!alive.expired()) on_shared_reply(side, idx, gen, eh, b, nullptr);
        });
    }
}

// The token of an EXECUTE's partition key (its bound values at the PREPARED metadata's key
// indexes), or none (named values, a key not bound, no key indexes).
std::optional<int64_t> client_session::token_of(const prepared_entry& e, const cql::value_list& values) const {
    if (e.pk_indexes.empty() || values.named || !values.present) return std::nullopt;
    std::string_view parts[16];
    const size_t n = e.pk_indexes.size();
    if (n > 16) return std::nullopt;
    size_t found = 0;
    uint16_t i = 0;
    for (const auto& v : values) {
        for (size_t k = 0; k < n; ++k) {
            if (e.pk_indexes[k] != i) continue;
            if (v.value.is_null() || v.value.is_unset()) return std::nullopt;
            parts[k] = v.value.bytes;
            ++found;
        }
        ++i;
    }
    if (found != n) return std::nullopt;
    if (n == 1) return cql::murmur3_token(parts[0]);
    return cql::murmur3_token(cql::composite_partition_key(std::span<const std::string_view>(parts, n)));
}

}  // namespace tandem::core
