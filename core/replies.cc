// client_session: a cluster's reply on its way to the client (DESIGN.md data path, step 6): the
// pending slot it belongs to, the merge rule when both clusters answer (merge.hh), the prepared
// map when a PREPARE completes, UNPREPARED healed by preparing again, timeouts, per-node
// metrics, and events.
#include <spdlog/spdlog.h>

#include "core/client_session.hh"
#include "core/merge.hh"
#include "core/proxy.hh"
#include "cql/query.hh"
#include "cql/result.hh"
#include "cql/classifier.hh"

namespace tandem::core {

using cql::envelope_header;
using cql::error_code;
using cql::error_message;
using cql::opcode;

namespace {

// A RESULT body's kind, or 0.
int32_t result_kind_of(std::string_view plain) { return plain.size() >= 4 ? static_cast<int32_t>(cql::load_be32(plain.data())) : 0; }

// An ERROR body's code, or 0.
int32_t error_code_of(std::string_view plain) { return result_kind_of(plain); }

}  // namespace

std::string unprepared_text(std::string_view id) {
    return "Prepared query with ID " + cql::to_hex(id) +
           " not found (either the query was not prepared on this host (maybe the host has been restarted?) or you "
           "have prepared too many queries and it has been evicted from the internal cache)";
}

void client_session::on_reply(int side, uint32_t idx, uint32_t gen, inbound_envelope&& env) {
    _slots.maybe_trim();  // an entry point: no slot is referenced here
    pending* p = _slots.find(idx, gen);
    if (!p || !p->mark_answered(side)) return;
    switch (p->kind) {
        case request_kind::startup: return on_startup_replies(*p, side, std::move(env));
        case request_kind::auth_primary: return on_primary_auth_reply(*p, side, std::move(env));
        case request_kind::auth_secondary: return on_secondary_auth_reply(*p, side, std::move(env));
        default: break;
    }
    if (p->healing == side) {
        heal_reply(*p, side, std::move(env));
        return;
    }
    node_metrics* nm = _shared ? _reply_metrics : _links[side] ? _links[side]->metrics : nullptr;
    if (p->counted && nm) record_node(*nm, *p, env, _w.w.now_ns());
    if (env.header.op == opcode::error && !p->healed && p->kept && try_heal(*p, side, env)) return;
    if (p->journal_id != 0) {
        on_journaled_reply(*p, side, std::move(env));
        return;
    }
    if (p->kind == request_kind::prepare && p->expect == destinations::only(side) && env.header.op == opcode::result &&
        store_prepared(*p, side, env)) {
        return;  // the secondary was gone (write_mode DUAL_ASYNC_ON_SECONDARY): prepared on the primary alone
    }
    if (p->expect == destinations::only(side)) {
        if (env.header.op == opcode::error && p->counted && !p->write) {
            bump(side == origin_side ? _w.counters.reads_failed_origin : _w.counters.reads_failed_target);
        }
        deliver(*p, side, env.header, env.body, env.owner.empty() ? nullptr : &env.owner);
        return;
    }
    if (!p->complete()) {
        p->hold(side, env, plentiful());
        return;
    }
    merge_replies(*p, side, std::move(env));
}

// §4.3: both succeed → the primary's reply (PREPARE: origin's); one fails → that failure;
// both fail → origin's.
void client_session::merge_replies(pending& p, int side, inbound_envelope&& env) {
    if (p.kind == request_kind::options && env.header.op == opcode::supported && p.first_h.op == opcode::supported) {
        answer_supported(p);
        return;
    }
    const bool second_err = env.header.op == opcode::error;
    const bool first_err = p.first_h.op == opcode::error;
    const bool origin_err = side == origin_side ? second_err : first_err;
    const bool target_err = side == target_side ? second_err : first_err;
    const auto m = merge(origin_err, target_err, p.kind == request_kind::prepare, p.primary);
    if (p.counted && m.failed != failed_on::none) {
        auto& c = _w.counters;
        bump(m.failed == failed_on::both ? c.writes_failed_both : m.failed == failed_on::origin ? c.writes_failed_origin : c.writes_failed_target);
    }
    if (p.kind == request_kind::prepare && !origin_err && !target_err && store_prepared(p, side, env)) return;
    const int chosen = m.origin_reply ? origin_side : target_side;
    if (chosen == side) {
        deliver(p, side, env.header, env.body, env.owner.empty() ? nullptr : &env.owner);
    } else {
        deliver_held(p, chosen);
    }
}

// R5.2: both clusters prepared the statement: remember origin id → target id and how to route
// it. With generated markers (R7.4), the client gets origin's PREPARED without them (true: the
// reply went out).
bool client_session::store_prepared(pending& p, int side, const inbound_envelope& env) {
    std::string t1, t2;
    // One cluster only (the other gone): its id stands for both; the other heals on UNPREPARED.
    const bool single = p.expect == destinations::only(side);
    auto o_plain = side == origin_side || single ? _codec.plain(env.header, env.body, t1) : _codec.plain(p.first_h, p.first_body(), t1);
    auto t_plain = side == target_side || single ? _codec.plain(env.header, env.body, t2) : _codec.plain(p.first_h, p.first_body(), t2);
    if (!o_plain || !t_plain) return false;
    auto read_id = [](std::string_view b) -> std::optional<std::string> {
        cql::reader r(b);
        if (r.read_int() != static_cast<int32_t>(cql::result_kind::prepared)) return std::nullopt;
        auto id = r.read_short_bytes();
        if (!r.ok()) return std::nullopt;
        return std::string(id);
    };
    auto oid = read_id(*o_plain);
    auto tid = read_id(*t_plain);
    const pending_extra& x = p.extra();
    if (oid && tid) {
        auto e = std::make_shared<prepared_entry>();
        e->origin_id = *oid;
        e->target_id = *tid;
        e->query = x.query;
        e->keyspace = x.keyspace;
        e->where = x.prep_route;
        e->write = x.prep_write;
        e->generated = x.generated;
        e->generated_named = x.generated_named;
        e->cluster_query = x.cluster_query.empty() ? x.query : x.cluster_query;
        e->keyspace_flag = x.keyspace_flag;
        e->replayable = x.prep_replayable;
        e->table_index = p.table;
        if (_shared) {
            // The partition key's variables (token-aware routing), and whether the statement
            // needs its keyspace to be prepared again on another node.
            if (auto r = cql::result_message::decode(*o_plain, cql::effective_version(p.version)); r && r->kind == cql::result_kind::prepared) {
                e->pk_indexes = r->prepared.pk_indexes;
            }
            e->needs_keyspace = !x.keyspace_flag && cql::classify(x.query).keyspace.empty();
        }
        _w.cache.put(std::move(e));
    }
    if (x.generated.empty()) return false;
    // The client sees the variables it wrote: tandem's markers are removed from origin's
    // PREPARED metadata, partition key indexes shifted (R7.4, without the last-position quirk).
    const uint8_t ver = cql::effective_version(p.version);
    auto r = cql::result_message::decode(*o_plain, ver);
    if (!r || r->kind != cql::result_kind::prepared) return false;
    strip_generated(r->prepared, x.generated);
    std::string body;
    r->encode(body, ver);
    envelope_header oh = side == origin_side || single ? env.header : p.first_h;
    oh.flags &= static_cast<uint8_t>(~cql::envelope_flags::compression);
    deliver(p, origin_side, oh, body, nullptr);
    return true;
}

// Sends the chosen reply to the client under the client's stream id, byte for byte except for
// the rewrites of R4.8: SET_KEYSPACE is remembered, a target UNPREPARED carries origin's id.
void client_session::deliver(pending& p, int side, const envelope_header& h_in, std::string_view body, const net::rx_buffer* owner) {
    envelope_header h = h_in;
    h.stream = p.client_stream;
    std::string rewritten;
    bool use_rewritten = false;
    if (h.op == opcode::result || h.op == opcode::error) {
        auto plain = _codec.plain(h, body, _scratch2);
        if (plain) {
            if (h.op == opcode::result && result_kind_of(*plain) == static_cast<int32_t>(cql::result_kind::set_keyspace)) {
                cql::reader r(plain->substr(4));
                auto ks = r.read_string();
                if (r.ok()) _keyspace.assign(ks);  // R3.13
            } else if (h.op == opcode::error) {
                auto e = error_message::decode(*plain, cql::effective_version(h.version));
                if (e && e->code == error_code::unprepared && side == target_side) {
                    auto origin_id = _w.cache.store().origin_for_target(e->unprepared_id);
                    std::string id = origin_id ? *origin_id : e->unprepared_id;
                    error_message::unprepared(id, unprepared_text(id)).encode(rewritten, cql::effective_version(h.version));
                    use_rewritten = true;
                    h.flags = 0;
                }
                // R2.20 rewrites a cluster's PROTOCOL_ERROR to stream 0; tandem keeps the
                // request's stream: drivers match the reply to their request (the Python
                // driver only downgrades on an error it can match), and nothing is left open.
            }
        }
    }
    if (p.counted) record_duration(p, _w.w.now_ns());
    if (p.counted && h.op == opcode::error && p.table != no_table) bump(_w.tables.at(p.table).failed[side == origin_side ? 0 : 1]);
    if (auto id = p.request_id(); !id.empty()) {
        spdlog::info("Received response from {} ({}) for request id {}", side == origin_side ? "ORIGIN" : "TARGET", cql::to_string(h.op), id);
    }
    // Send before release(): `body` may point into the slot's held reply.
    if (use_rewritten) {
        _writer.send(_client, h, rewritten);
    } else if (owner && !_writer.framed()) {
        _writer.send(_client, h, owner->share(static_cast<size_t>(body.data() - owner->view().data()), body.size()));
    } else {
        _writer.send(_client, h, body);
    }
    if (p.compare_tag != 0) {
        compare_arrived(p.compare_tag, 0, h_in, body);
        p.compare_tag = 0;
    }
    finish(p);
}

// write_mode DUAL_ASYNC_ON_SECONDARY: the client gets the primary's reply once the secondary's
// copy is durable in the journal (or already on the secondary); the secondary's reply only
// settles the record: released when it succeeded, kept for the replayer when it failed.
void client_session::on_journaled_reply(pending& p, int side, inbound_envelope&& env) {
    const int prim = side_of(p.primary);
    if (side != prim) {
        const bool ok = env.header.op != opcode::error;
        _w.journal->settle(p.journal_id, ok);
        if (ok) {
            p.secondary_ok = true;
        } else {
            bump(_w.counters.journal_secondary_failed);
            spdlog::debug("client {}: a write to the secondary ({}) failed; kept in the journal for replay", _peer, side_name(side));
        }
        if (p.answered) {
            release(p);
        } else if (ok && p.first_side == prim) {
            deliver_held(p, prim);  // the primary's reply waited for the disk; the secondary has it now
        }
        return;
    }
    if (env.header.op == opcode::error || p.secondary_ok || _w.journal->durable(p.journal_id)) {
        if (env.header.op == opcode::error && p.counted) bump(prim == origin_side ? _w.counters.writes_failed_origin : _w.counters.writes_failed_target);
        deliver(p, side, env.header, env.body, env.owner.empty() ? nullptr : &env.owner);
        return;
    }
    p.hold(side, env, plentiful());
    _w.wait_durable(p.journal_id, this, _alive, p.index, p.gen);
}

void client_session::on_durable(uint32_t slot, uint32_t gen) {
    pending* p = _slots.find(slot, gen);
    if (p && !p->answered && p->first_side >= 0) deliver_held(*p, p->first_side);
}

// The reply the slot holds (pending::hold), as cluster `side`'s.
void client_session::deliver_held(pending& p, int side) {
    const envelope_header h = p.first_h;  // a copy: deliver() releases the slot
    deliver(p, side, h, p.first_body(), p.first_in_copy || p.first_owner.empty() ? nullptr : &p.first_owner);
}

// The statement a cluster's UNPREPARED names (`id` is that cluster's), when tandem knows it.
const prepared_entry* client_session::unprepared_entry(int side, std::string_view id) const {
    if (side == target_side) {
        if (auto o = _w.cache.store().origin_for_target(id)) return _w.cache.find(*o);
    }
    return _w.cache.find(id);
}

// A PREPARE of `e` as the clusters were first asked (tandem's markers, v5's keyspace flag).
std::string client_session::prepare_again(const prepared_entry& e) const {
    cql::prepare_message pm;
    pm.query = e.cluster_query.empty() ? e.query : e.cluster_query;
    if (e.keyspace_flag) pm.keyspace = e.keyspace;
    std::string body;
    pm.encode(body, cql::effective_version(_version));
    return body;
}

// A cluster answered UNPREPARED for a statement tandem knows (it restarted, or evicted it):
// prepare it there again and re-send, once, without the client noticing. ZDM Proxy returns the
// UNPREPARED, and the driver's retry applies the write a second time on the other cluster (R5.5).
bool client_session::try_heal(pending& p, int side, const inbound_envelope& env) {
    std::string tmp;
    auto plain = _codec.plain(env.header, env.body, tmp);
    if (!plain) return false;
    auto e = error_message::decode(*plain, cql::effective_version(env.header.version));
    if (!e || e->code != error_code::unprepared) return false;
    const prepared_entry* entry = unprepared_entry(side, e->unprepared_id);
    if (!entry) return false;
    const std::string body = prepare_again(*entry);
    if (_shared) {
        // Prepared again on the node that forgot it, in the statement's keyspace.
        const int node = p.shared_node[side];
        if (node < 0) return false;
        p.healed = true;
        p.healing = static_cast<int8_t>(side);
        envelope_header h;
        h.version = _version;
        h.op = opcode::prepare;
        shared_send(p, side, h, body, node, entry->needs_keyspace ? std::string_view(entry->keyspace) : std::string_view(), false);
        spdlog::debug("client {}: {} node lost prepared statement {}; preparing it again", _peer, side_name(side), cql::to_hex(entry->origin_id));
        return true;
    }
    auto* l = _links[side];
    if (!l || !l->usable()) return false;
    int id = l->take_id({p.index, p.gen});
    if (id < 0) return false;
    p.healed = true;
    p.healing = static_cast<int8_t>(side);
    p.expect_again(side, static_cast<int16_t>(id));
    envelope_header h;
    h.version = _version;
    h.op = opcode::prepare;
    h.stream = static_cast<int16_t>(id);
    l->send(h, body);
    spdlog::debug("client {}: {} lost prepared statement {}; preparing it again", _peer, side_name(side), cql::to_hex(entry->origin_id));
    return true;
}

void client_session::heal_reply(pending& p, int side, inbound_envelope&& env) {
    p.healing = -1;
    auto* l = _links[side];
    std::string tmp;
    auto plain = _codec.plain(env.header, env.body, tmp);
    bool prepared = env.header.op == opcode::result && plain && result_kind_of(*plain) == static_cast<int32_t>(cql::result_kind::prepared);
    if (prepared && _shared) {
        std::string tmp2;
        auto req = p.side_rewritten[side] ? std::optional<std::string_view>(p.side_view(side)) : std::nullopt;
        if (!req) {
            auto pl = _codec.plain(p.req_h, p.req_copy, tmp2);
            if (pl) req = *pl;
        }
        if (req) {
            envelope_header h = p.req_h;
            h.flags &= static_cast<uint8_t>(~cql::envelope_flags::compression);
            const int node = p.shared_node[side];
            shared_send(p, side, h, *req, node, {}, false);
            bump(_w.counters.unprepared_healed);
            return;
        }
        prepared = false;
    }
    int id = prepared && l && l->usable() ? l->take_id({p.index, p.gen}) : -1;
    if (id < 0) {
        // Preparing again failed: the client gets the UNPREPARED so its driver re-prepares.
        std::string origin_id;
        if (p.req_h.op == opcode::execute) {
            // The id the client sent: in origin's body (changed or as received), after the prefix
            // its flags announce (custom payload).
            std::string t;
            std::optional<std::string_view> b;
            if (p.side_rewritten[origin_side]) {
                b = p.side_view(origin_side);
            } else if (auto pl = _codec.plain(p.req_h, p.req_copy, t)) {
                b = *pl;
            }
            if (b) {
                if (auto parts = cql::split_body(p.req_h, *b)) {
                    cql::reader r(parts->message);
                    origin_id = r.read_short_bytes();
                    if (!r.ok()) origin_id.clear();
                }
            }
        }
        std::string body;
        error_message::unprepared(origin_id, unprepared_text(origin_id)).encode(body, cql::effective_version(_version));
        envelope_header eh = env.header;
        eh.op = opcode::error;
        eh.flags = 0;
        deliver(p, side, eh, body, nullptr);
        return;
    }
    p.expect_again(side, static_cast<int16_t>(id));
    envelope_header h = p.req_h;
    h.stream = static_cast<int16_t>(id);
    if (p.side_rewritten[side]) {
        h.flags &= static_cast<uint8_t>(~cql::envelope_flags::compression);
        l->send(h, p.side_view(side));
    } else {
        l->send(h, p.req_copy);
    }
    bump(_w.counters.unprepared_healed);
}

void client_session::arm_timeout(pending& p) {
    const uint32_t idx = p.index;
    const uint32_t gen = p.gen;
    p.timer.set_callback([this, idx, gen] {
        if (auto* q = _slots.find(idx, gen)) on_timeout(*q);
    });
    _w.w.timers().arm(p.timer, static_cast<uint64_t>(_w.p.cfg().proxy_request_timeout_ms));
}

// The proxy gives up on a request: the client gets an error on its stream so the driver frees
// the id, and the cluster ids stay quarantined until their late replies (W5; ZDM answers
// nothing, R4.16).
void client_session::on_timeout(pending& p) {
    if (p.answered) {
        // Only the secondary's journaled copy was out: the record stays for the replayer.
        bump(_w.counters.journal_secondary_failed);
        release(p);
        return;
    }
    bump(_w.counters.timeouts);
    std::string missing;
    for (int s : {origin_side, target_side}) {
        if (!p.waits_for(s)) continue;
        missing += std::string(missing.empty() ? "" : " and ") + side_name(s);
        node_metrics* m = _shared ? _w.pool->metrics_of(p.shared_tag[s]) : _links[s] ? _links[s]->metrics : nullptr;
        if (p.counted && m) bump(m->failed[0]);
    }
    std::string msg = "tandem: " + missing + " did not answer within " + std::to_string(_w.p.cfg().proxy_request_timeout_ms) + " ms";
    if (p.journal_id != 0 && p.first_side == side_of(p.primary)) {
        msg = "tandem: the write journal did not make the write durable within " + std::to_string(_w.p.cfg().proxy_request_timeout_ms) +
              " ms (record " + std::to_string(p.journal_id) + (_w.journal->durable(p.journal_id) ? ", durable now)" : ")");
        spdlog::warn("client {}: {}", _peer, msg);
    }
    error_message e;
    if (p.counted && p.write) {
        e = error_message::write_timeout(p.cl, 0, 1, "SIMPLE");
    } else if (p.counted) {
        e = error_message::read_timeout(p.cl, 0, 1, false);
    } else {
        e = error_message::server("");
    }
    e.message = msg;
    if (p.counted) record_duration(p, _w.w.now_ns());
    spdlog::debug("client {}: {}", _peer, msg);
    if (p.kind != request_kind::plain && p.kind != request_kind::prepare) {
        // A handshake step that times out ends the connection (R4.18).
        const int16_t stream = p.client_stream;
        release(p);
        _hs.busy = false;
        answer_error(stream, error_message::server(msg));
        fail_session(msg);
        return;
    }
    answer_error(p.client_stream, e);
    release(p);
}

// zdm_<cluster>_request_duration_seconds and _requests_failed_total of the node that answered
// (R4.19: counted requests only).
void client_session::record_node(node_metrics& m, const pending& p, const inbound_envelope& env, uint64_t now_ns) {
    uint64_t ns = now_ns - p.started_ns;
    (p.write ? m.writes : m.reads).record(ns);
    if (env.header.op != opcode::error) return;
    std::string tmp;
    auto plain = _codec.plain(env.header, env.body, tmp);
    m.count_error(plain ? error_code_of(*plain) : 0);
}

// zdm_proxy_request_duration_seconds{type=writes|reads_origin|reads_target}, timed-out requests
// included (R4.16).
void client_session::record_duration(const pending& p, uint64_t now_ns) {
    uint64_t ns = now_ns - p.started_ns;
    _w.counters.recent.record(ns);
    if (p.table != no_table) {
        auto& t = _w.tables.at(p.table);
        bump(t.requests);
        t.latency.record(ns);
    }
    if (p.write) {
        _w.counters.writes.record(ns);
    } else if (p.expect.has(target_side)) {
        _w.counters.reads_target.record(ns);
    } else {
        _w.counters.reads_origin.record(ns);
    }
}

void client_session::on_event(int side, inbound_envelope&& env) {
    // R8.2: SCHEMA_CHANGE from origin only; topology and status events stay hidden.
    if (side != origin_side) return;
    std::string tmp;
    auto plain = _codec.plain(env.header, env.body, tmp);
    if (!plain) return;
    cql::reader r(*plain);
    auto type = r.read_string();
    if (!r.ok() || type != "SCHEMA_CHANGE") return;
    envelope_header h = env.header;
    h.stream = -1;
    _writer.send(_client, h, env.body);
}

}  // namespace tandem::core
