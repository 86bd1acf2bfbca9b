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

void client_session::send_async(const envelope_header& h, std::string_view body) {
    auto* l = _links[async_side];
    if (!l) {
        if (_phase == phase::ready && _w.w.now_ms() >= _async_retry_at_ms) connect_async();
        bump(_w.counters.async_skipped);
        return;
    }
    if (l->astate != cluster_link::async_state::ready || !l->usable() || !l->has_free_id()) {
        bump(_w.counters.async_skipped);
        return;
    }
    envelope_header out = h;
    out.flags &= static_cast<uint8_t>(~cql::envelope_flags::compression);
    std::string tmp;
    auto plain = _codec.plain(h, body, tmp);
    if (!plain) return;
    if (const auto& cl = _w.consistency_override[secondary()]) {
        // The secondary's consistency override applies to the reads mirrored to it.
        auto parts = cql::split_body(h, *plain);
        std::optional<std::string> changed;
        if (parts) changed = with_consistency(h.op, parts->message, cql::effective_version(h.version), *cl);
        if (changed) {
            std::string b(plain->substr(0, plain->size() - parts->message.size()));  // the custom payload, as it came
            b.append(*changed);
            l->request({stream_ids::async, 0}, out, b);
            bump(_w.counters.async_sent);
            return;
        }
    }
    l->request({stream_ids::async, 0}, out, *plain);
    bump(_w.counters.async_sent);
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

void client_session::on_async_reply(inbound_envelope&& env) {
    auto* l = _links[async_side];
    if (!l) return;
    if (l->astate == cluster_link::async_state::ready) {
        on_async_result(*l, env);
    } else {
        on_async_handshake_reply(*l, env.header.op);
    }
}

// A mirrored read's reply: counted. R4.14: an UNPREPARED makes the proxy prepare the statement
// there (fire and forget), so the next mirror of it succeeds.
void client_session::on_async_result(cluster_link& l, const inbound_envelope& env) {
    if (env.header.op != opcode::error) {
        bump(_w.counters.async_ok);
        return;
    }
    bump(_w.counters.async_failed);
    std::string tmp;
    auto plain = _codec.plain(env.header, env.body, tmp);
    if (!plain) return;
    if (l.metrics) l.metrics->count_error(plain->size() >= 4 ? static_cast<int32_t>(cql::load_be32(plain->data())) : 0);
    auto e = error_message::decode(*plain, cql::effective_version(env.header.version));
    if (e) spdlog::debug("client {}: a read mirrored to the secondary failed: {}", _peer, e->message);
    if (!e || e->code != error_code::unprepared) return;
    std::string origin_id = e->unprepared_id;
    if (secondary() == target_side) {
        if (auto o = _w.cache.store().origin_for_target(e->unprepared_id)) origin_id = *o;
    }
    const prepared_entry* entry = _w.cache.find(origin_id);
    if (!entry) return;
    cql::prepare_message pm;
    pm.query = entry->query;
    std::string body;
    pm.encode(body, cql::effective_version(_version));
    async_request(l, _version, opcode::prepare, body);
}

// The async connection's own handshake (R2.14), with R2.11's credentials; then the session's
// keyspace. A failure closes only the async connection (R2.15).
void client_session::on_async_handshake_reply(cluster_link& l, opcode op) {
    const int sec = secondary();
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
        spdlog::debug("client {}: async connection to {} ready", _peer, l.endpoint);
        return;
    }
    if (op == opcode::authenticate || op == opcode::auth_challenge) {
        bool ok = false;
        std::string token = creds_token_for(sec, ok);
        if (!ok) {
            spdlog::warn("async connection to {}: no credentials for {}", l.endpoint, side_name(sec));
            l.conn->abort();
            return;
        }
        l.astate = cluster_link::async_state::auth;
        cql::auth_token_message m{std::string_view(token)};
        std::string body;
        m.encode(body);
        async_request(l, _version, opcode::auth_response, body);
        return;
    }
    spdlog::warn("async connection to {}: handshake failed ({})", l.endpoint, cql::to_string(op));
    l.conn->abort();
}

}  // namespace tandem::core
