// client_session: dual reads (zdm-spec §4.5). With read_mode DUAL_ASYNC_ON_SECONDARY, reads
// (and their PREPAREs, and USE) are mirrored to the secondary over a third connection, to the
// same node as the session's request connection to that cluster (R1.19), fire and forget: the
// client never waits for it and never sees its replies, which are only counted. The connection
// does its own handshake (R2.14); it is skipped, never waited for, while it is not ready, and
// re-opened after a failure (W9).
#include <spdlog/spdlog.h>

#include <cstring>

#include "core/client_session.hh"
#include "core/consistency.hh"
#include "core/proxy.hh"
#include "core/shared_pool.hh"
#include "cql/query.hh"
#include "cql/startup.hh"

namespace tandem::core {

using cql::envelope_header;
using cql::error_code;
using cql::error_message;
using cql::opcode;

namespace {

// A request of tandem's own on the async connection; its reply is counted, never shown.
void async_request(cluster_link& l, uint8_t version, opcode op, std::string_view body) {
    envelope_header h;
    h.version = version;
    h.op = op;
    l.request({stream_ids::async, 0}, h, body);
}

}  // namespace

int client_session::secondary() const { return other_side(side_of(_w.p.primary())); }

// `body` is what the request path has for the secondary: the target's rewritten EXECUTE (plain,
// custom payload included), or the request as received, for which the plain body with its custom
// payload is taken (`_req_plain`: decompressed once, in process()).
void client_session::send_async(const envelope_header& h, std::string_view body, uint32_t compare_tag) {
    auto* l = _shared ? nullptr : _links[async_side];
    if (!_shared) {
        if (!l) {
            if (_phase == phase::ready && _w.w.now_ms() >= _async_retry_at_ms) connect_async();
        }
        if (!l || l->astate != cluster_link::async_state::ready || !l->usable() || !l->has_free_id() || l->conn->over_limit()) {
            bump(_w.counters.async_skipped);
            drop_compare(compare_tag);
            return;
        }
    } else if (_w.pool->congested(secondary())) {  // a mirror never adds to a backlog
        bump(_w.counters.async_skipped);
        drop_compare(compare_tag);
        return;
    }
    std::string_view plain = h.op == opcode::execute && body.data() != _req_message.data() ? body : _req_plain;
    std::string changed_body;
    if (const auto& cl = _w.consistency_override[secondary()]) {
        // The secondary's consistency override applies to the reads mirrored to it.
        auto parts = cql::split_body(h, plain);
        std::optional<std::string> changed;
        if (parts) changed = with_consistency(h.op, parts->message, cql::effective_version(h.version), *cl);
        if (changed) {
            changed_body.assign(plain.substr(0, plain.size() - parts->message.size()));  // the custom payload, as it came
            changed_body.append(*changed);
            plain = changed_body;
        }
    }
    envelope_header out = h;
    out.flags &= static_cast<uint8_t>(~cql::envelope_flags::compression);
    if (!_shared) {
        l->request({stream_ids::async, compare_tag}, out, plain);
        bump(_w.counters.async_sent);
        return;
    }
    // The secondary's pool: the keyspace and token of the request's primary copy.
    shared_pool::request r;
    r.side = secondary();
    r.version = _version;
    r.keyspace = _req_ks;
    r.token = _req_token;
    r.op = h.op;
    r.flags = out.flags;
    r.body = plain;
    r.session = this;
    r.slot = stream_ids::async;
    r.gen = compare_tag;
    if (_w.pool->can_take(r.side, _version, _req_ks) && _w.pool->send(r).tag != 0) {
        bump(_w.counters.async_sent);
    } else {
        bump(_w.counters.async_skipped);
        drop_compare(compare_tag);
    }
}

uint32_t client_session::begin_compare(uint16_t table, std::string_view statement, const cql::query_parameters& params) {
    if (!_w.p.cfg().dual_read_compare) return 0;
    if (params.paging_state) {
        // A later page carries the primary's paging state, which the secondary cannot use.
        count_dual_read(table, dual_read_outcome::not_compared);
        return 0;
    }
    uint32_t i;
    if (!_compare_free.empty()) {
        i = _compare_free.back();
        _compare_free.pop_back();
    } else if (_compares.size() < 256) {
        i = static_cast<uint32_t>(_compares.size());
        _compares.emplace_back();
    } else {
        count_dual_read(table, dual_read_outcome::not_compared);
        return 0;
    }
    auto& c = _compares[i];
    c.used = true;
    c.gen = (c.gen + 1) & 0x7FFFFF;
    c.table = table;
    c.have[0] = c.have[1] = c.failed[0] = c.failed[1] = false;
    c.statement.assign(statement);
    // The key, for a mismatch's log line: the bound values (a read by key binds the key).
    c.key.clear();
    for (const auto& v : params.values) {
        if (!c.key.empty()) c.key += ", ";
        c.key += v.value.is_null() ? "null" : v.value.is_unset() ? "unset" : "0x" + cql::to_hex(v.value.bytes);
    }
    return (c.gen << 9) | (i + 1);
}

void client_session::drop_compare(uint32_t tag) {
    if (tag == 0) return;
    const uint32_t i = (tag & 511) - 1;
    if (i >= _compares.size() || !_compares[i].used || _compares[i].gen != tag >> 9) return;
    auto& c = _compares[i];
    c.used = false;
    for (auto& r : c.rows) r.clear();
    for (auto& r : c.raw) r.clear();
    _compare_free.push_back(i);
}

void client_session::count_dual_read(uint16_t table, dual_read_outcome o) {
    bump(_w.tables.at(table == no_table ? table_registry::limit : table).dual_reads[static_cast<size_t>(o)]);
}

// One side's result of a compared read (0 the primary's, 1 the secondary's): row hashes kept,
// not the rows; once both are in, the outcome.
void client_session::compare_arrived(uint32_t tag, int which, const envelope_header& h, std::string_view body) {
    const uint32_t i = (tag & 511) - 1;
    if (tag == 0 || i >= _compares.size() || !_compares[i].used || _compares[i].gen != tag >> 9) return;
    auto& c = _compares[i];
    std::string tmp;
    auto plain = _codec.plain(h, body, tmp);
    std::optional<std::vector<uint64_t>> rows;
    const bool log_values = _w.p.cfg().dual_read_log_values;
    if (h.op == opcode::result && plain) rows = row_hashes(*plain, cql::effective_version(h.version), log_values ? &c.raw[which] : nullptr);
    c.have[which] = true;
    c.failed[which] = !rows;
    if (rows) c.rows[which] = std::move(*rows);
    if (!c.have[0] || !c.have[1]) return;
    dual_read_outcome o = dual_read_outcome::match;
    if (c.failed[0]) {
        o = dual_read_outcome::not_compared;
    } else if (c.failed[1]) {
        o = dual_read_outcome::secondary_error;
    } else if (c.rows[0] != c.rows[1]) {
        o = dual_read_outcome::mismatch;
    }
    count_dual_read(c.table, o);
    if (o == dual_read_outcome::mismatch && _w.dual_read_log.due(_w.w.now_ms())) {
        size_t at = 0;
        while (at < c.rows[0].size() && at < c.rows[1].size() && c.rows[0][at] == c.rows[1][at]) ++at;
        std::string where = "?";
        if (c.table != no_table) {
            auto names = _w.p.tables().names();
            if (c.table < names.size()) where = names[c.table].first + "." + names[c.table].second;
        }
        std::string values;
        if (log_values) values = "; primary rows (hex): " + cql::to_hex(c.raw[0]) + "; secondary rows (hex): " + cql::to_hex(c.raw[1]);
        spdlog::warn("dual read mismatch on {}: the primary returned {} rows, the secondary {}, first difference at row {}; statement: {}; "
                     "key: {}{}",
                     where, c.rows[0].size(), c.rows[1].size(), at, c.statement, c.key.empty() ? "(none bound)" : c.key, values);
    }
    drop_compare(tag);
}

void client_session::connect_async() {
    const int sec = secondary();
    _async_retry_at_ms = _w.w.now_ms() + 5000;
    auto v = _w.p.view(role_of(sec));
    // Same node as the request connection of that cluster (R1.19), found in the current view.
    const std::string& ep = _link_endpoint[sec];
    const host_info* node = nullptr;
    for (const auto& h : v->hosts) {
        if (h.endpoint() == ep) node = &h;
    }
    if (!node || !net::resolve_address(node->address, node->port)) return;
    _links[async_side] = nullptr;
    open_link(async_side, sec, *node, _w.p.options().connect_attempt_ms, {});
}

void client_session::on_async_connected(net::connection* c, int error) {
    if (!c) {
        spdlog::warn("async connection to {} failed: {}; dual reads paused for this client connection", _link_endpoint[async_side],
                     std::strerror(-error));
        _async_retry_at_ms = _w.w.now_ms() + 5000;
        return;
    }
    auto* l = static_cast<cluster_link*>(c->handler());
    l->conn = c;
    _links[async_side] = l;
    l->astate = cluster_link::async_state::startup;
    l->start_tls();
    l->start_heartbeats(static_cast<uint64_t>(std::max<int64_t>(_w.p.cfg().heartbeat_interval_ms, 1000)));
    async_request(*l, _version, opcode::startup, _hs.startup_body);
}

void client_session::on_async_reply(int side, uint32_t compare_tag, inbound_envelope&& env) {
    if (side != async_side) {
        if (_rejoin && _rejoin->side == side && _rejoin->astate != cluster_link::async_state::ready) on_rejoin_reply(*_rejoin, env.header.op);
        return;  // the rejoined link's USE: nothing to do
    }
    auto* l = _links[async_side];
    if (!l) return;
    if (l->astate == cluster_link::async_state::ready) {
        on_async_result(*l, env, compare_tag);
    } else {
        on_async_handshake_reply(*l, env.header.op);
    }
}

// A mirrored read's reply: counted. R4.14: an UNPREPARED makes the proxy prepare the statement
// there (fire and forget), so the next mirror of it succeeds.
void client_session::on_async_result(cluster_link& l, const inbound_envelope& env, uint32_t compare_tag) {
    std::string tmp;
    auto plain = _codec.plain(env.header, env.body, tmp);
    if (!plain) return;
    if (const prepared_entry* e = mirrored_result(env.header, *plain, compare_tag, l.metrics)) {
        async_request(l, _version, opcode::prepare, prepare_again(*e));
    }
}

// A mirrored read's result (either connection kind): compared and counted. R4.14: for an
// UNPREPARED, the statement to prepare there again (fire and forget), so the next mirror succeeds.
const prepared_entry* client_session::mirrored_result(const envelope_header& h, std::string_view plain, uint32_t compare_tag,
                                                      node_metrics* m) {
    compare_arrived(compare_tag, 1, h, plain);
    if (h.op != opcode::error) {
        bump(_w.counters.async_ok);
        return nullptr;
    }
    bump(_w.counters.async_failed);
    if (m) m->count_error(plain.size() >= 4 ? static_cast<int32_t>(cql::load_be32(plain.data())) : 0);
    auto e = error_message::decode(plain, cql::effective_version(h.version));
    if (e) spdlog::debug("client {}: a read mirrored to the secondary failed: {}", _peer, e->message);
    if (!e || e->code != error_code::unprepared) return nullptr;
    return unprepared_entry(secondary(), e->unprepared_id);
}

void client_session::maybe_rejoin() {
    const int sec = secondary();
    if (_rejoin || _links[sec] || _phase != phase::ready || _w.draining || _w.w.now_ms() < _rejoin_at_ms) return;
    _rejoin_backoff_ms = std::min<uint32_t>(15000, _rejoin_backoff_ms ? _rejoin_backoff_ms * 2 : 1000);
    _rejoin_at_ms = _w.w.now_ms() + _rejoin_backoff_ms;
    auto v = _w.p.view(role_of(sec));
    if (!v || v->hosts.empty()) return;
    std::vector<size_t> up;
    for (size_t j = 0; j < v->hosts.size(); ++j) {
        if (v->hosts[j].up) up.push_back(j);
    }
    if (up.empty()) return;
    const host_info& node = v->hosts[up[static_cast<size_t>(++_w.next_host[sec]) % up.size()]];
    if (!net::resolve_address(node.address, node.port)) return;
    open_link(sec, sec, node, _w.p.options().connect_attempt_ms, {});
}

void client_session::schedule_rejoin() {
    if (_rejoin_timer.armed()) return;
    _rejoin_timer.set_callback([this] {
        maybe_rejoin();
        if (!_links[secondary()] && writes_async()) schedule_rejoin();
    });
    const uint64_t now = _w.w.now_ms();
    _w.w.timers().arm(_rejoin_timer, std::max<uint64_t>(_rejoin_at_ms > now ? _rejoin_at_ms - now : 0, 200));
}

void client_session::on_rejoin_connected(int side, net::connection* c, int error) {
    if (!c) {
        spdlog::debug("client {}: reconnecting to {} failed: {}", _peer, side_name(side), std::strerror(-error));
        return;
    }
    auto* l = static_cast<cluster_link*>(c->handler());
    l->conn = c;
    if (side != secondary() || _links[side] || _rejoin) {  // the primary switched meanwhile, or one is there already
        l->session = nullptr;
        c->abort();
        return;
    }
    _rejoin = l;
    l->astate = cluster_link::async_state::startup;
    l->start_tls();
    l->start_heartbeats(static_cast<uint64_t>(std::max<int64_t>(_w.p.cfg().heartbeat_interval_ms, 1000)));
    async_request(*l, _version, opcode::startup, _hs.startup_body);
}

// One step of a link's own handshake (the async connection's, R2.14 with R2.11's credentials;
// a rejoining secondary's): READY or AUTH_SUCCESS sets the session's keyspace on it; an
// AUTHENTICATE or a challenge is answered with `cluster`'s credentials. Anything else, or no
// credentials: failed (`why` says what), and the caller closes the link.
client_session::own_step client_session::own_handshake_step(cluster_link& l, int cluster, opcode op, std::string& why) {
    if (op == opcode::ready || op == opcode::auth_success) {
        l.astate = cluster_link::async_state::ready;
        if (!_keyspace.empty()) {
            cql::query_message q;
            std::string text = "USE \"" + _keyspace + "\"";
            q.query = text;
            std::string body;
            q.encode(body, cql::effective_version(_version));
            async_request(l, _version, opcode::query, body);
        }
        return own_step::ready;
    }
    if (op == opcode::authenticate || op == opcode::auth_challenge) {
        bool ok = false;
        std::string token = creds_token_for(cluster, ok);
        if (!ok) {
            why = std::string("no credentials for ") + side_name(cluster);
            return own_step::failed;
        }
        l.astate = cluster_link::async_state::auth;
        cql::auth_token_message m{std::string_view(token)};
        std::string body;
        m.encode(body);
        async_request(l, _version, opcode::auth_response, body);
        return own_step::going;
    }
    why = std::string("handshake failed (") + std::string(cql::to_string(op)) + ")";
    return own_step::failed;
}

// The new secondary connection's handshake; once ready it takes the lost one's place.
void client_session::on_rejoin_reply(cluster_link& l, opcode op) {
    std::string why;
    switch (own_handshake_step(l, l.side, op, why)) {
        case own_step::going: return;
        case own_step::ready:
            _links[l.side] = &l;
            _rejoin = nullptr;
            _rejoin_backoff_ms = 0;
            spdlog::info("client {}: reconnected to {} node {}; its writes go to it directly again", _peer, side_name(l.side), l.endpoint);
            return;
        case own_step::failed:
            spdlog::warn("client {}: reconnecting to {} node {}: {}", _peer, side_name(l.side), l.endpoint, why);
            l.conn->abort();
            return;
    }
}

// The async connection's own handshake; a failure closes only the async connection (R2.15).
void client_session::on_async_handshake_reply(cluster_link& l, opcode op) {
    std::string why;
    switch (own_handshake_step(l, secondary(), op, why)) {
        case own_step::going: return;
        case own_step::ready: spdlog::debug("client {}: async connection to {} ready", _peer, l.endpoint); return;
        case own_step::failed:
            spdlog::warn("async connection to {}: {}", l.endpoint, why);
            l.conn->abort();
            return;
    }
}

}  // namespace tandem::core
