// The handshake across both clusters (zdm-spec §2): the pure decisions of handshake.hh, and
// client_session's handshake stage: OPTIONS (answered with target's options, R2.6), STARTUP to
// both, the client's login against the handshake cluster and tandem's against the other.
#include "core/handshake.hh"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/client_session.hh"
#include "core/proxy.hh"
#include "core/client/connection.hh"
#include "cql/startup.hh"

namespace tandem::core {

using cql::envelope_header;
using cql::error_message;
using cql::opcode;

credential_plan plan_credentials(bool origin_auth, bool target_auth, bool forward_client_credentials_to_origin) {
    credential_plan plan;
    // The handshake cluster is origin unless only target authenticates.
    plan.handshake_side = (!origin_auth && target_auth) ? target_side : origin_side;
    if (origin_auth && target_auth) {
        plan.client_creds_side = forward_client_credentials_to_origin ? origin_side : target_side;
    } else if (origin_auth) {
        plan.client_creds_side = origin_side;
    } else if (target_auth) {
        plan.client_creds_side = target_side;
    }
    return plan;
}

bool protocol_version_accepted(uint8_t v, const std::vector<std::string>& blocked) {
    bool accepted = v == 2 || v == 3 || v == 4 || v == 5 || v == cql::protocol_version::dse_v1 || v == cql::protocol_version::dse_v2;
    for (const auto& b : blocked) {
        if (parse_version_name(b) == v) accepted = false;
    }
    return accepted;
}

startup_decision after_startup(opcode origin_reply, opcode target_reply, int handshake_side) {
    if (origin_reply == opcode::error || target_reply == opcode::error) {
        return {startup_step::relay_error, origin_reply == opcode::error ? origin_side : target_side};
    }
    const opcode primary = handshake_side == origin_side ? origin_reply : target_reply;
    const opcode secondary = handshake_side == origin_side ? target_reply : origin_reply;
    if (secondary != opcode::authenticate && secondary != opcode::ready) return {startup_step::fail, other_side(handshake_side)};
    if (primary == opcode::ready) return {startup_step::secondary_login, handshake_side};
    if (primary == opcode::authenticate) return {startup_step::client_authenticates, handshake_side};
    return {startup_step::fail, handshake_side};
}

// ---------------------------------------------------------------------------------------------
// client_session: the requests

void client_session::on_startup(inbound_envelope&& env, std::string_view plain) {
    const envelope_header& h = env.header;
    if (!_hs.auth_error.empty()) {
        answer_error(h.stream, error_message::bad_credentials(_hs.auth_error));
        return;
    }
    auto m = cql::startup_message::decode(plain);
    if (!decoded(m, h.stream)) return;
    if (auto c = m->option("COMPRESSION")) {
        auto kind = cql::compression_from_name(*c);
        if (!kind) {
            answer_error(h.stream, error_message::protocol("Unknown compression algorithm: " + std::string(*c)));
            return;
        }
        _compression = *kind;
        if (cql::effective_version(h.version) < cql::protocol_version::v5) _codec.kind = *kind;
    }
    if (_shared) {  // no connection of the session's own needs the client's STARTUP
        shared_startup(h);
        return;
    }
    _hs.startup_body.assign(plain);
    pending& p = alloc(request_kind::startup, h.stream);
    _hs.busy = true;
    forward(env, p, destinations::both());
}

void client_session::on_auth_response(inbound_envelope&& env, std::string_view plain) {
    const envelope_header& h = env.header;
    if (!_hs.auth_error.empty()) {
        answer_error(h.stream, error_message::bad_credentials(_hs.auth_error));
        return;
    }
    auto m = cql::auth_token_message::decode(plain);
    if (!decoded(m, h.stream)) return;
    if (_shared) {
        if (!m->token || m->token->empty() || *m->token == "PLAIN") {
            // DSE's first step names the mechanism: the challenge asks for the credentials.
            std::string body;
            cql::writer w(body);
            w.write_bytes(std::string_view("PLAIN-START"));
            answer(h.stream, opcode::auth_challenge, body);
            return;
        }
        auto creds = cql::parse_plain_sasl_token(*m->token);
        if (!creds) {
            answer_error(h.stream, error_message::bad_credentials("tandem: the token is not a PLAIN SASL token (\\0user\\0password)"));
            return;
        }
        shared_login(h, std::string(creds->user), std::string(creds->password));
        return;
    }
    const int hs_side = _hs.plan.handshake_side;
    outbound out;
    std::string rewritten;
    // R2.10: an empty token or "PLAIN" (DSE's first step) carries no credentials.
    if (m->token && !m->token->empty() && *m->token != "PLAIN") {
        if (auto creds = cql::parse_plain_sasl_token(*m->token)) {
            _hs.client_user.assign(creds->user);
            _hs.client_password.assign(creds->password);
            if (_hs.plan.client_creds_side >= 0 && _hs.plan.client_creds_side != hs_side) {
                // Both clusters authenticate and the client's credentials are for the other
                // one: the handshake cluster gets the configured ones (§2.4).
                bool ok = false;
                std::string token = creds_token_for(hs_side, ok);
                if (ok) {
                    cql::auth_token_message r{std::string_view(token)};
                    r.encode(rewritten);
                    rewritten = with_prefix(std::move(rewritten));
                    out.body[hs_side] = rewritten;
                    out.rewritten[hs_side] = true;
                }
            }
        }
    }
    pending& p = alloc(request_kind::auth_primary, h.stream);
    _hs.busy = true;
    forward(env, p, destinations::only(hs_side), out);
}

std::string client_session::creds_token_for(int side, bool& ok) const {
    const auto& cs = side == origin_side ? _w.p.cfg().origin : _w.p.cfg().target;
    ok = true;
    if (side == _hs.plan.client_creds_side && !_hs.client_user.empty()) return cql::plain_sasl_token(_hs.client_user, _hs.client_password);
    if (cs.username.empty()) {
        ok = false;
        return {};
    }
    return cql::plain_sasl_token(cs.username, cs.password);
}

// ---------------------------------------------------------------------------------------------
// client_session: the replies

void client_session::on_startup_replies(pending& p, int side, inbound_envelope&& env) {
    if (!p.complete()) {
        p.hold(side, env, plentiful());
        return;
    }
    if (p.expect == destinations::only(side)) {
        // The other cluster is an unreachable secondary (write_mode DUAL_ASYNC_ON_SECONDARY):
        // as if it had answered READY; its connection, when it comes, logs in on its own.
        p.first_h = env.header;
        p.first_h.op = opcode::ready;
        p.drop_held();
    }
    // Both STARTUP replies are in: copies, since the slot is released before the last use.
    struct reply {
        envelope_header h;
        std::string body;
    };
    reply replies[2];
    replies[side] = {env.header, std::string(env.body)};
    replies[other_side(side)] = {p.first_h, std::string(p.first_body())};
    const int hs_side = _hs.plan.handshake_side;
    const auto d = after_startup(replies[origin_side].h.op, replies[target_side].h.op, hs_side);
    const reply& primary = replies[hs_side];
    const reply& secondary = replies[other_side(hs_side)];
    switch (d.step) {
        case startup_step::relay_error:
            _hs.busy = false;
            deliver(p, d.side, replies[d.side].h, replies[d.side].body, nullptr);
            drain_queue();
            return;
        case startup_step::client_authenticates:
        case startup_step::secondary_login:
            _hs.secondary_startup_reply = secondary.h.op;
            if (secondary.h.op == opcode::authenticate) {
                if (auto a = cql::authenticate_message::decode(secondary.body)) _hs.secondary_authenticator.assign(a->authenticator);
            }
            if (d.step == startup_step::secondary_login) {
                start_secondary_auth(p, primary.h, primary.body);
                return;
            }
            _hs.busy = false;
            deliver(p, hs_side, primary.h, primary.body, nullptr);
            switch_client_framing();
            drain_queue();
            return;
        case startup_step::fail:
            release(p);
            _hs.busy = false;
            fail_session("unexpected STARTUP reply from the " + std::string(side_name(d.side)) + " cluster: " +
                         std::string(cql::to_string(replies[d.side].h.op)));
            return;
    }
}

void client_session::on_primary_auth_reply(pending& p, int side, inbound_envelope&& env) {
    const auto op = env.header.op;
    if (op == opcode::auth_success || op == opcode::ready) {
        start_secondary_auth(p, env.header, std::string(env.body));
        return;
    }
    _hs.busy = false;
    deliver(p, side, env.header, env.body, env.owner.empty() ? nullptr : &env.owner);
}

void client_session::on_secondary_auth_reply(pending& p, int side, inbound_envelope&& env) {
    const auto op = env.header.op;
    if (op == opcode::auth_success || op == opcode::ready) {
        envelope_header hh = p.first_h;
        std::string body(p.first_body());
        handshake_done(p, hh, body);
        return;
    }
    if (op == opcode::auth_challenge && p.auth_steps < 5) {
        p.expect = p.expect.without(side);
        p.got = p.got.without(side);
        send_secondary_token(p, false);
        return;
    }
    if (op == opcode::error) {
        std::string msg = std::string(side_name(side)) + " rejected the handshake";
        std::string tmp;
        if (auto pl = _codec.plain(env.header, env.body, tmp)) {
            if (auto e = error_message::decode(*pl, cql::effective_version(env.header.version))) msg = e->message;
        }
        refuse_handshake(p, msg);  // R2.15: the secondary's message
        drain_queue();
        return;
    }
    _hs.busy = false;
    release(p);
    fail_session("secondary handshake with " + std::string(side_name(side)) + " failed: unexpected " + std::string(cql::to_string(op)));
}

// The client gets an AUTHENTICATION error; later handshake requests get it again (R2.15).
void client_session::refuse_handshake(pending& p, const std::string& message) {
    _hs.auth_error = message;
    int16_t stream = p.client_stream;
    _hs.busy = false;
    release(p);
    answer_error(stream, error_message::bad_credentials(message));
}

// R2.13/R2.14: the primary handshake succeeded; finish the secondary one with the right
// credentials before the client hears READY / AUTH_SUCCESS.
void client_session::start_secondary_auth(pending& p, const envelope_header& primary_h, std::string primary_body) {
    if (_hs.secondary_startup_reply != opcode::authenticate) {
        handshake_done(p, primary_h, primary_body);
        return;
    }
    p.kind = request_kind::auth_secondary;
    p.first_h = primary_h;
    p.hold_copy(primary_body);
    send_secondary_token(p, _hs.secondary_authenticator == dse_authenticator);
}

void client_session::send_secondary_token(pending& p, bool plain_first) {
    const int sec = _hs.secondary_side();
    ++p.auth_steps;
    std::string token;
    if (plain_first) {
        token = "PLAIN";
    } else {
        bool ok = false;
        token = creds_token_for(sec, ok);
        if (!ok) {
            refuse_handshake(p, std::string("tandem: ") + side_name(sec) + " requires authentication but no credentials are known for it (set " +
                                    side_name(sec) + "_username and " + side_name(sec) + "_password)");
            return;
        }
    }
    cql::auth_token_message m{std::string_view(token)};
    std::string body;
    m.encode(body);
    auto* l = _links[sec];
    int id = l && l->usable() ? l->take_id({p.index, p.gen}) : -1;
    if (id < 0) {
        _hs.busy = false;
        release(p);
        fail_session(std::string("secondary handshake: no connection to ") + side_name(sec));
        return;
    }
    p.expect_again(sec, static_cast<int16_t>(id));
    envelope_header h;
    h.version = _version;
    h.op = opcode::auth_response;
    h.stream = static_cast<int16_t>(id);
    l->send(h, body);
    if (!p.timer.armed()) arm_timeout(p);
}

void client_session::handshake_done(pending& p, const envelope_header& h, std::string_view body) {
    _hs.busy = false;
    _phase = phase::ready;
    deliver(p, _hs.plan.handshake_side, h, body, nullptr);
    switch_client_framing();
    spdlog::debug("client {}: handshake done (protocol {}, compression {})", _peer, static_cast<int>(_version),
                  cql::to_string(_compression));
    drain_queue();
}

// v5: the client connection switches to framing after READY or AUTHENTICATE (R2.18).
void client_session::switch_client_framing() {
    if (cql::effective_version(_version) == cql::protocol_version::v5 && !_writer.framed()) {
        bool lz4 = _compression == cql::compression::lz4;
        _writer.start_framing(lz4);
        _reader.start_framing(lz4);
    }
}

// cluster_connections SHARED: STARTUP is answered here. A version a cluster does not speak gets
// the version error (the driver tries a lower one), a cluster that checks credentials makes
// the client authenticate (its authenticator's name), else READY.
void client_session::shared_startup(const envelope_header& h) {
    if (cql::effective_version(h.version) < cql::protocol_version::v3) {
        // The pool speaks v3 and later (the client library's floor; v2 has 128 stream ids).
        answer_error(h.stream, error_message::protocol("Invalid or unsupported protocol version (" + std::to_string(h.version & 0x7F) +
                                                       "); tandem with cluster_connections SHARED serves v3 and later (PER_CLIENT serves v2)"));
        return;
    }
    for (int side : {origin_side, target_side}) {
        auto v = _w.p.view(role_of(side));
        if (v && version_rank(h.version) > version_rank(v->version)) {
            // On the request's stream, as a cluster answers it: the driver matches it to its
            // STARTUP and tries a lower version.
            answer_error(h.stream, error_message::protocol("Invalid or unsupported protocol version (" + std::to_string(h.version & 0x7F) +
                                                           "); the " + side_name(side) + " cluster speaks at most " +
                                                           std::to_string(v->version & 0x7F)));
            return;
        }
    }
    // A cluster the pool cannot reach fails the connection, as in PER_CLIENT (R1.22), unless
    // write_mode DUAL_ASYNC_ON_SECONDARY lets the secondary be away; while the pool's first
    // connections are still opening, the STARTUP waits for them (at most a connect timeout).
    for (int side : {origin_side, target_side}) {
        if (_w.pool->reachable(side)) continue;
        const bool may_lack = writes_async() && side == secondary() && side != _hs.plan.handshake_side;
        if (may_lack) {
            if (_w.pool->unreachable(side)) {
                spdlog::warn("client {}: cannot reach the {} cluster ({}); serving from the primary, writes for it go to the write journal",
                             _peer, side_name(side), _w.pool->last_error(side));
            }
            continue;
        }
        const auto& cs = side == origin_side ? _w.p.cfg().origin : _w.p.cfg().target;
        if (_rejoin_at_ms == 0) _rejoin_at_ms = _w.w.now_ms() + static_cast<uint64_t>(std::max<int64_t>(cs.connection_timeout_ms, 100));
        if (_w.pool->unreachable(side) || _w.w.now_ms() >= _rejoin_at_ms) {
            _hs.busy = false;
            _rejoin_at_ms = 0;
            answer_error(h.stream, error_message::server(std::string("tandem cannot reach any ") + side_name(side) + " node (" +
                                                         (_w.pool->last_error(side).empty() ? "no connection ready" : _w.pool->last_error(side)) +
                                                         ")"));
            fail_session(std::string("cannot reach the ") + side_name(side) + " cluster");
            return;
        }
        _hs.busy = true;
        _rejoin_timer.set_callback([this, h] { shared_startup(h); });
        _w.w.timers().arm(_rejoin_timer, 20);
        return;
    }
    if (_hs.busy) {
        _hs.busy = false;
        _rejoin_at_ms = 0;
        _w.w.post([this, alive = std::weak_ptr<bool>(_alive)] {
            if (!alive.expired()) drain_queue();
        });
    }
    const int creds_side = _hs.plan.client_creds_side;
    if (creds_side >= 0) {
        auto v = _w.p.view(role_of(creds_side));
        cql::authenticate_message a;
        a.authenticator = v && !v->authenticator.empty() ? std::string_view(v->authenticator)
                                                         : std::string_view("org.apache.cassandra.auth.PasswordAuthenticator");
        std::string body;
        a.encode(body);
        answer(h.stream, opcode::authenticate, body);
        switch_client_framing();
        return;
    }
    _phase = phase::ready;
    answer(h.stream, opcode::ready, {});
    switch_client_framing();
    spdlog::debug("client {}: ready (shared cluster connections, protocol {})", _peer, static_cast<int>(_version));
}

// The client's credentials are checked by the cluster they are for (§2.4), on a connection of
// the client's own that closes once the cluster answered: AUTH_SUCCESS, or the cluster's refusal.
void client_session::shared_login(const envelope_header& h, std::string user, std::string password) {
    const int side = _hs.plan.client_creds_side;
    const auto ttl = static_cast<uint64_t>(_w.p.cfg().cluster_connections_login_cache_ms);
    std::string cache_key = ttl > 0 ? _w.p.logins().key(side, user, password) : std::string();
    auto logged_in = [this](int16_t stream) {
        _phase = phase::ready;
        std::string body;
        cql::writer w(body);
        w.write_int(-1);  // AUTH_SUCCESS with no token
        answer(stream, opcode::auth_success, body);
        drain_queue();
    };
    if (ttl > 0 && _w.p.logins().fresh(cache_key, _w.w.now_ms())) {
        bump(_w.counters.login_cache_hits);
        spdlog::debug("client {}: logged in on the {} cluster (checked there less than {} ms ago)", _peer, side_name(side), ttl);
        logged_in(h.stream);
        return;
    }
    auto v = _w.p.view(role_of(side));
    std::vector<const host_info*> up;
    for (const auto& host : v->hosts) {
        if (host.up) up.push_back(&host);
    }
    if (up.empty()) {
        answer_error(h.stream, error_message::server(std::string("tandem cannot reach any ") + side_name(side) + " node to check the credentials"));
        return;
    }
    const host_info& node = *up[static_cast<size_t>(++_w.next_host[side]) % up.size()];
    const auto& cs = side == origin_side ? _w.p.cfg().origin : _w.p.cfg().target;
    client::connect_options o;
    o.username = std::move(user);
    o.password = std::move(password);
    o.tls = _w.p.cluster_tls_shared(role_of(side));
    o.server_name = node.server_name;
    o.max_version = v->version;
    o.min_version = 3;
    o.connect_timeout_ms = static_cast<uint32_t>(std::max<int64_t>(cs.connection_timeout_ms, 100));
    _hs.busy = true;
    const int16_t stream = h.stream;
    std::weak_ptr<bool> alive = _alive;
    client::connection::open(_w.w, node.address, node.port, o, [this, alive, stream, side, ttl, cache_key = std::move(cache_key),
                                                                logged_in](client::connection* c, const std::string& error) {
        if (c) c->close();
        if (alive.expired()) return;
        _hs.busy = false;
        if (!c) {
            // A refusal names the login ("authentication with username 'x' on node failed:
            // BAD_CREDENTIALS: ..."); anything else is the node's absence.
            if (error.find("BAD_CREDENTIALS") != std::string::npos || error.find("authentication with username") != std::string::npos) {
                _hs.auth_error = error;
                answer_error(stream, error_message::bad_credentials(error));
            } else {
                answer_error(stream, error_message::server(std::string("tandem cannot check the credentials on the ") + side_name(side) +
                                                           " cluster: " + error));
            }
            drain_queue();
            return;
        }
        if (ttl > 0) _w.p.logins().accepted(cache_key, _w.w.now_ms(), ttl);
        spdlog::debug("client {}: logged in on the {} cluster (shared cluster connections)", _peer, side_name(side));
        logged_in(stream);
    });
}

std::string client_session::supported_body() const {
    auto ov = _w.p.view(cluster_role::origin);
    auto tv = _w.p.view(cluster_role::target);
    cql::supported_message s;
    std::vector<std::string_view> comp;
    for (const auto& [k, vals] : tv->supported) {
        if (k == "COMPRESSION") {
            auto* oc = ov->option("COMPRESSION");
            if (!oc) continue;
            for (const auto& c : vals) {
                if (std::find(oc->begin(), oc->end(), c) != oc->end()) comp.push_back(c);
            }
            s.options.emplace_back(k, comp);
            continue;
        }
        s.options.emplace_back(k, std::vector<std::string_view>(vals.begin(), vals.end()));
    }
    std::string body;
    s.encode(body);
    return body;
}

// R2.6: target's options (from its control connection), COMPRESSION intersected with origin's.
void client_session::answer_supported(pending& p) {
    int16_t stream = p.client_stream;
    release(p);
    answer(stream, opcode::supported, supported_body());
}

}  // namespace tandem::core
