// client_session: a request from its envelope to the sends (DESIGN.md data path, steps 3-5):
// validate, decompress, split off the custom payload (tracing), then one function per request
// kind decides where it goes (routing.hh), rewrites what must be rewritten (prepared ids,
// volatile functions: functions.hh), and forwards it. Worker thread; no lock, and no allocation
// in the steady state.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/client_session.hh"
#include "core/consistency.hh"
#include "core/journal.hh"
#include "core/proxy.hh"
#include "core/routing.hh"
#include "cql/query.hh"
#include "cql/result.hh"
#include "cql/startup.hh"

namespace tandem::core {

using cql::envelope_header;
using cql::error_message;
using cql::opcode;

namespace {

// A statement's keyspace and table as the per-table series name them: the classifier's
// identifiers, lower-cased unless quoted (no allocation for the usual lower-case names).
std::string_view name_of(const cql::identifier& id, std::string& scratch) {
    if (!id.quoted && std::none_of(id.text.begin(), id.text.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) return id.text;
    scratch = id.normalized();
    return scratch;
}

const std::string shutting_down = "Shutting down, please retry on next host.";  // zdm-spec App. A

}  // namespace

// The per-table series' index of the table a statement names (none for a statement without one);
// `ks` is the keyspace of an unqualified name.
uint16_t client_session::table_of(const cql::statement_info& info, std::string_view ks) {
    if (info.table.empty()) return no_table;
    std::string s1, s2;
    return _w.table_index(info.keyspace.empty() ? ks : name_of(info.keyspace, s1), name_of(info.table, s2));
}

// A prepared statement the journaled message names: the id the secondary knows it by (the
// message carries that one), and the text to prepare it again.
journal_prepared_view client_session::journal_ref(const prepared_entry& e) const {
    const bool to_target = secondary() == target_side && !e.target_id.empty();
    return {to_target ? std::string_view(e.target_id) : std::string_view(e.origin_id),
            e.cluster_query.empty() ? std::string_view(e.query) : std::string_view(e.cluster_query), e.keyspace};
}

void client_session::process(inbound_envelope&& env) {
    _req_bytes = static_cast<uint32_t>(std::min<size_t>(env.body.size(), UINT32_MAX));  // counted by alloc()
    process_envelope(std::move(env));
    _req_bytes = 0;
}

void client_session::process_envelope(inbound_envelope&& env) {
    const envelope_header& h = env.header;
    if (_version_error_sent) {
        // R2.3: once a version error went out, every later frame gets it again.
        protocol_version_error(h.version);
        return;
    }
    if (!protocol_version_accepted(h.version, _w.p.cfg().blocked_protocol_versions) || (_version != 0 && h.version != _version)) {
        protocol_version_error(h.version);
        return;
    }
    _version = h.version;
    if (h.stream < 0) {
        answer_error(0, error_message::protocol("negative stream id: " + std::to_string(h.stream)));  // R3.3
        return;
    }
    if (_slots.stream_busy(h.stream)) {
        // R3.2: a stream id that is still in flight is a client bug; answering twice on it would
        // confuse the driver more. Dropped, as ZDM does.
        spdlog::warn("client {}: request on stream {} while an earlier one on that stream is in flight; dropped", _peer, h.stream);
        return;
    }
    if (!_fatal.empty()) {
        answer_error(h.stream, error_message::server(_fatal));
        _writer.flush();
        _client.close();
        return;
    }
    if (_w.draining) {
        answer_error(h.stream, error_message::overloaded(shutting_down));  // R11.1
        return;
    }
    auto plain = _codec.plain(h, env.body, _scratch);
    if (!plain) {
        answer_error(h.stream, error_message::protocol(std::string(plain.error())));
        return;
    }
    // A request's body may start with a custom payload (v4.spec §2.2): the message follows it.
    // The prefix travels with every body tandem rewrites, or tracing changes it (R3.14).
    auto parts = cql::split_body(h, *plain);
    if (!parts) {
        answer_error(h.stream, error_message::protocol(std::string(parts.error())));
        return;
    }
    _req_message = parts->message;
    _req_plain = *plain;
    if (_shared) {
        _req_ks.clear();
        _req_token.reset();
    }
    _req_prefix.assign(plain->substr(0, plain->size() - _req_message.size()));
    _prefix_changed = false;
    _request_id.clear();
    _replayable = false;
    _journal_refs.clear();
    if (h.op == opcode::query || h.op == opcode::prepare || h.op == opcode::execute || h.op == opcode::batch) {
        apply_tracing(env.header, *parts);
    }
    route_request(std::move(env), _req_message);
}

// R3.14 request-id tracing (v4+ clusters): with tracing_enabled, a request without the
// tracing_request_id_key in its custom payload gets a random 16-byte id (at most
// tracing_rate_limit per second; over it, a client's own id is removed); with tracing off, a
// client's id under that key is removed. The id is logged with the request and its reply.
void client_session::apply_tracing(envelope_header& h, const cql::body_parts& parts) {
    const auto& cfg = _w.p.cfg();
    // Nothing to do (the common case) without reading anything shared.
    if (!cfg.tracing_enabled && !(h.flags & cql::envelope_flags::custom_payload)) return;
    if (version_rank(_cluster_version_floor) < cql::protocol_version::v4) return;
    const std::string& key = cfg.tracing_request_id_key;
    std::vector<std::pair<std::string_view, std::optional<std::string_view>>> entries;
    if (h.flags & cql::envelope_flags::custom_payload) {
        cql::reader r(parts.custom_payload_raw);
        entries = r.read_bytes_map();
    }
    auto it = std::find_if(entries.begin(), entries.end(), [&](const auto& e) { return e.first == key; });
    const bool has = it != entries.end();
    std::string fresh;
    if (!cfg.tracing_enabled) {
        if (!has) return;
        entries.erase(it);
    } else {
        bool allowed = _w.take_tracing_token();
        if (has && !allowed) {
            entries.erase(it);
        } else if (has) {
            if (it->second) _request_id = cql::to_hex(*it->second);
        } else if (allowed) {
            fresh = _w.uuids.random_bytes(16);
            entries.emplace_back(key, std::string_view(fresh));
            _request_id = cql::to_hex(fresh);
        } else {
            return;
        }
    }
    _req_prefix.clear();
    cql::writer w(_req_prefix);
    w.write_bytes_map(entries);
    _prefix_changed = true;
    h.flags |= cql::envelope_flags::custom_payload;
    if (!_request_id.empty()) {
        spdlog::info("Request id {} ({} on stream {} from {})", _request_id, cql::to_string(h.op), h.stream, _peer);
    }
}

void client_session::route_request(inbound_envelope&& env, std::string_view plain) {
    switch (env.header.op) {
        case opcode::options:
            if (_shared) {  // the clusters' options, as R2.6 merges them
                answer(env.header.stream, opcode::supported, supported_body());
                return;
            }
            return forward_unchanged(std::move(env), request_kind::options);  // R2.6; answered in replies.cc
        case opcode::startup: return on_startup(std::move(env), plain);
        case opcode::auth_response: return on_auth_response(std::move(env), plain);
        case opcode::register_:
            if (_shared) {  // R8.2 passes SCHEMA_CHANGE only: the pool's events, fanned out
                _registered = true;
                answer(env.header.stream, opcode::ready, {});
                return;
            }
            return forward_unchanged(std::move(env), request_kind::plain);  // R8.1
        case opcode::query: return on_query(std::move(env), plain);
        case opcode::prepare: return on_prepare(std::move(env), plain);
        case opcode::execute: return on_execute(std::move(env), plain);
        case opcode::batch: return on_batch(std::move(env), plain);
        default: return forward_unchanged(std::move(env), request_kind::plain);
    }
}

// To both clusters as received.
void client_session::forward_unchanged(inbound_envelope&& env, request_kind k) {
    pending& p = alloc(k, env.header.stream);
    // A driver's heartbeat (OPTIONS after the handshake) must not wait for a secondary that
    // write_mode DUAL_ASYNC_ON_SECONDARY lets lag or be down: the primary answers it.
    const bool heartbeat = k == request_kind::options && _phase == phase::ready && writes_async();
    forward(env, p, heartbeat ? destinations::of(p.primary) : destinations::both());
}


// R3.7: system.local / system.peers answered by tandem, from system_queries_mode's cluster view.
bool client_session::answer_intercepted(const envelope_header& h, system_table table, std::string_view query) {
    auto info = cql::classify(query);
    auto a = answer_system_select(table, query, info, *_w.p.view(system_cluster()), _w.p.topology(), _local_address, h.version);
    if (auto* e = std::get_if<error_message>(&a)) {
        answer_error(h.stream, *e);
        return false;
    }
    answer(h.stream, opcode::result, std::get<system_answer>(a).result_body);
    return true;
}

void client_session::on_query(inbound_envelope&& env, std::string_view plain) {
    const envelope_header h = env.header;
    const uint8_t ver = cql::effective_version(h.version);
    bump(_w.counters.requests);
    auto m = cql::query_message::decode(plain, ver);
    if (!decoded(m, h.stream)) return;
    auto info = cql::classify(m->query);
    std::string_view ks = m->params.keyspace ? *m->params.keyspace : std::string_view(_keyspace);
    auto d = decide(info, ks, _w.p.mode() == read_mode::dual_async_on_secondary);
    if (d.route == query_route::intercepted) {
        bump(_w.counters.intercepted);
        answer_intercepted(h, d.table, m->query);
        return;
    }
    if (d.route == query_route::local_void) {
        std::string body(4, '\0');
        cql::store_be32(body.data(), static_cast<uint32_t>(cql::result_kind::void_));
        answer(h.stream, opcode::result, body);
        return;
    }
    if (_shared) {
        // The statement runs in a keyspace: the one USE names, or the client's for a name
        // without one (v5's per-query keyspace is carried in the message itself).
        if (info.kind == cql::statement_kind::use) {
            _req_ks = info.keyspace.normalized();
        } else if (info.keyspace.empty() && !m->params.keyspace) {
            _req_ks = _keyspace;
        }
    }
    pending& p = alloc(request_kind::plain, h.stream);
    p.counted = true;
    p.cl = m->params.cl;
    p.write = d.write;
    _replayable = d.write && d.route == query_route::both && writes_async() && journal_replayable(m->query, info);
    if (d.unrecognized) bump(_w.counters.unrecognized_statements);
    p.table = table_of(info, ks);
    if (d.async) {  // R4.12
        if (!d.write) p.compare_tag = begin_compare(p.table, m->query, m->params);
        send_async(h, env.body, p.compare_tag);
    }
    const destinations to = destinations_for(d.route, p.primary, system_cluster());
    if (d.route == query_route::both && _w.p.cfg().replace_cql_functions) {
        // R7.3: one literal per volatile call, the same on both clusters.
        if (auto text = replace_functions_with_literals(m->query, info, _w.function_values_now())) {
            cql::query_message q = *m;
            q.query = *text;
            std::string body;
            q.encode(body, ver);
            body = with_prefix(std::move(body));
            forward(env, p, to, outbound::same(body));
            return;
        }
    }
    forward(env, p, to);
}

// R6.9: a PREPARE of system.local / system.peers is answered locally; the id is MD5(query +
// keyspace), and EXECUTE of it is answered like the QUERY.
void client_session::answer_intercepted_prepare(const envelope_header& h, system_table table, std::string_view query,
                                                std::string_view ks) {
    auto a = answer_system_select(table, query, cql::classify(query), *_w.p.view(system_cluster()), _w.p.topology(), _local_address,
                                  h.version);
    if (auto* e = std::get_if<error_message>(&a)) {
        answer_error(h.stream, *e);
        return;
    }
    auto entry = std::make_shared<prepared_entry>();
    entry->origin_id = intercepted_prepared_id(query, ks);
    entry->query.assign(query);
    entry->keyspace.assign(ks);
    entry->where = route::intercepted;
    entry->table = table;
    cql::result_message r;
    r.kind = cql::result_kind::prepared;
    r.prepared_id = entry->origin_id;
    r.result_metadata_id = entry->origin_id;
    r.result_metadata = std::get<system_answer>(a).metadata;
    std::string body;
    r.encode(body, cql::effective_version(h.version));
    _w.cache.put(std::move(entry));
    answer(h.stream, opcode::result, body);
}

void client_session::on_prepare(inbound_envelope&& env, std::string_view plain) {
    const envelope_header h = env.header;
    const uint8_t ver = cql::effective_version(h.version);
    auto m = cql::prepare_message::decode(plain, ver);
    if (!decoded(m, h.stream)) return;
    auto info = cql::classify(m->query);
    std::string_view ks = m->keyspace ? *m->keyspace : std::string_view(_keyspace);
    if (auto t = intercepted_table(info, ks); t != system_table::none) {
        answer_intercepted_prepare(h, t, m->query, ks);
        return;
    }
    if (_shared && info.keyspace.empty() && !m->keyspace) _req_ks = _keyspace;
    pending& p = alloc(request_kind::prepare, h.stream);
    pending_extra& x = p.extra();
    x.query.assign(m->query);
    x.keyspace.assign(ks);
    x.keyspace_flag = m->keyspace.has_value();
    auto d = decide(info, ks, _w.p.mode() == read_mode::dual_async_on_secondary);
    x.prep_route = d.route == query_route::system ? route::system : d.route == query_route::primary ? route::primary : route::both;
    x.prep_write = cql::is_write(info.kind);
    x.prep_replayable = x.prep_write && journal_replayable(m->query, info);
    p.table = table_of(info, ks);
    if (d.async && d.route == query_route::primary) send_async(h, env.body);
    if (_w.p.cfg().replace_cql_functions) {
        // R7.4: each volatile call becomes a bind marker; EXECUTE fills in the values.
        if (auto r = replace_functions_with_markers(m->query, info)) {
            x.generated = std::move(r->generated);
            x.generated_named = r->named;
            x.cluster_query = std::move(r->text);
            cql::prepare_message pm = *m;
            pm.query = x.cluster_query;
            std::string body;
            pm.encode(body, ver);
            body = with_prefix(std::move(body));
            forward(env, p, destinations::both(), outbound::same(body));
            return;
        }
    }
    forward(env, p, destinations::both());  // R5.1
}

void client_session::on_execute(inbound_envelope&& env, std::string_view plain) {
    const envelope_header h = env.header;
    const uint8_t ver = cql::effective_version(h.version);
    bump(_w.counters.requests);
    auto m = cql::execute_message::decode(plain, ver);
    if (!decoded(m, h.stream)) return;
    const prepared_entry* e = _w.cache.find(m->id);
    if (!e) {
        bump(_w.counters.pscache_misses);
        answer_error(h.stream, error_message::unprepared(m->id, unprepared_text(m->id)));  // R5.3
        return;
    }
    if (e->where == route::intercepted) {
        answer_intercepted(h, e->table, e->query);
        return;
    }
    if (_shared) _req_token = token_of(*e, m->params.values);
    pending& p = alloc(request_kind::plain, h.stream);
    p.counted = true;
    p.cl = m->params.cl;
    p.write = e->where == route::both;
    p.table = e->table_index;
    if (p.write && e->replayable && writes_async()) {
        _replayable = true;
        _journal_refs.push_back(journal_ref(*e));
    }
    if (!e->generated.empty()) {
        // R7.5: fresh values per request, the same for both clusters.
        auto fv = _w.function_values_now();
        const bool named = m->params.values.present && m->params.values.named;
        auto vals = with_generated_values(m->params.values, e->generated, fv);
        std::string storage;
        cql::execute_message out = *m;
        out.params.values = cql::value_list::build(vals, named, storage);
        for (int s : {origin_side, target_side}) {
            if (s == target_side && !e->target_id.empty()) out.id = e->target_id;
            std::string body;
            out.encode(body, ver);
            p.side(s) = with_prefix(std::move(body));
            p.side_rewritten[s] = true;
        }
        keep_request(p, env);
        forward(env, p, destinations::both(), outbound::kept(p));
        return;
    }
    // The target copy carries the target's id (R5.3): [short bytes] id, then the rest. Built in
    // the slot's own string (its capacity stays with the slot: no allocation).
    const bool rewrite = !e->target_id.empty() && e->target_id != e->origin_id;
    std::string_view target_body;
    if (rewrite) {
        std::string& b = p.side(target_side);
        b.assign(_req_prefix);
        cql::writer w(b);
        w.write_short_bytes(e->target_id);
        b.append(plain.substr(2 + m->id.size()));
        target_body = b;
    }
    p.side_rewritten[target_side] = rewrite;
    destinations to = destinations::both();
    if (e->where == route::primary) {
        to = destinations::of(p.primary);
        if (_w.p.mode() == read_mode::dual_async_on_secondary) {
            const bool secondary_is_target = p.primary == cluster_role::origin;
            p.compare_tag = begin_compare(p.table, e->query, m->params);
            send_async(h, secondary_is_target && rewrite ? std::string_view(target_body) : plain, p.compare_tag);
        }
    } else if (e->where == route::system) {
        to = destinations::of(system_cluster());
    }
    keep_request(p, env);
    forward(env, p, to, outbound::kept(p));
}

void client_session::on_batch(inbound_envelope&& env, std::string_view plain) {
    const envelope_header h = env.header;
    const uint8_t ver = cql::effective_version(h.version);
    bump(_w.counters.requests);
    auto m = cql::batch_message::decode(plain, ver);
    if (!decoded(m, h.stream)) return;
    // R5.4: every prepared child must be known; the target copy gets target ids.
    bool rewrite = false;
    bool values_changed = false;
    const bool journaling = writes_async();
    bool replayable = m->type != cql::batch_type::counter;
    uint16_t batch_table = no_table;  // the first statement's, for the per-table series
    std::vector<cql::batch_child> children;
    std::vector<std::string> ids;
    ids.reserve(m->children.count);
    std::vector<std::string> storages;
    storages.reserve(m->children.count);  // value lists point into these: no reallocation
    std::optional<function_values> fv;    // the values replacing volatile calls (R7.3, R7.5)
    std::deque<std::string> texts;        // rewritten child statements
    bool one_partition = _shared;          // SHARED: every child prepared, one token
    for (const auto& c : m->children) {
        cql::batch_child changed = c;
        if (c.prepared) {
            const prepared_entry* e = _w.cache.find(c.query_or_id);
            if (!e) {
                bump(_w.counters.pscache_misses);
                answer_error(h.stream, error_message::unprepared(c.query_or_id, unprepared_text(c.query_or_id)));
                return;
            }
            if (one_partition) {
                auto t = token_of(*e, c.values);
                if (!t || (_req_token && *_req_token != *t)) one_partition = false;
                _req_token = t;
            }
            if (!e->target_id.empty() && e->target_id != e->origin_id) rewrite = true;
            ids.push_back(e->target_id.empty() ? e->origin_id : e->target_id);
            if (children.empty()) batch_table = e->table_index;
            if (journaling) {
                if (!e->replayable) replayable = false;
                _journal_refs.push_back(journal_ref(*e));
            }
            if (!e->generated.empty() && !c.values.named) {
                // R5.4/R7.5: the child's generated values, the same on both clusters.
                if (!fv) fv.emplace(_w.function_values_now());
                auto vals = with_generated_values(c.values, e->generated, *fv);
                changed.values = cql::value_list::build(vals, false, storages.emplace_back());
                values_changed = true;
            }
        } else {
            ids.emplace_back();
            one_partition = false;
            auto cinfo = _w.p.cfg().replace_cql_functions || journaling || _shared ? cql::classify(c.query_or_id) : cql::statement_info{};
            if (_shared && cinfo.keyspace.empty() && !m->keyspace) _req_ks = _keyspace;
            if (journaling && !journal_replayable(c.query_or_id, cinfo)) replayable = false;
            if (children.empty()) {
                batch_table = table_of(cinfo.kind == cql::statement_kind::empty ? cql::classify(c.query_or_id) : cinfo, _keyspace);
            }
            if (cinfo.call_count > 0) {
                // R7.3: a simple child gets literals, as a QUERY does.
                if (!fv) fv.emplace(_w.function_values_now());
                if (auto text = replace_functions_with_literals(c.query_or_id, cinfo, *fv)) {
                    changed.query_or_id = texts.emplace_back(std::move(*text));
                    values_changed = true;
                }
            }
        }
        children.push_back(changed);
    }
    if (!one_partition) _req_token.reset();
    pending& p = alloc(request_kind::plain, h.stream);
    p.counted = true;
    p.write = true;
    p.cl = m->cl;
    p.table = batch_table;
    _replayable = replayable && journaling;
    if (values_changed) {
        std::string storage, body;
        cql::batch_message o = *m;
        o.children = cql::batch_children::build(children, storage);
        o.encode(body, ver);
        p.side(origin_side) = with_prefix(std::move(body));
        p.side_rewritten[origin_side] = true;
    }
    if (rewrite || values_changed) {
        for (size_t i = 0; i < children.size(); ++i) {
            if (children[i].prepared) children[i].query_or_id = ids[i];
        }
        std::string storage, body;
        cql::batch_message t = *m;
        t.children = cql::batch_children::build(children, storage);
        t.encode(body, ver);
        p.side(target_side) = with_prefix(std::move(body));
        p.side_rewritten[target_side] = true;
    }
    keep_request(p, env);
    forward(env, p, destinations::both(), outbound::kept(p));
}

// Keeps an EXECUTE or BATCH until it completes, so an UNPREPARED can be healed by re-sending it
// (replies.cc): what each cluster gets where tandem changed it (side_body), and the request as
// received where not (req_copy, copied by forward() once it knows). Copies into the slot's own
// strings (their capacity stays with the slot: no allocation in the steady state), not references
// to the receive buffer: requests waiting for slow clusters must not pin the buffers their
// replies need.
void client_session::keep_request(pending& p, const inbound_envelope& env) {
    p.req_h = env.header;
    p.kept = true;
    for (int s : {origin_side, target_side}) {
        if (p.side_rewritten[s]) continue;
        if (_prefix_changed) {
            std::string& b = p.side(s);
            b.assign(_req_prefix);
            b.append(_req_message);
            p.side_rewritten[s] = true;
        }
    }
}

// Sends to one or both clusters; a cluster that cannot take the request (no free stream id, no
// connection) answers OVERLOADED at once (R4.3), without the write reaching only one side.
void client_session::forward(const inbound_envelope& env, pending& p, destinations to, outbound out) {
    if (_prefix_changed) {
        // Tracing changed the custom payload: sides that get the body as received get the new one.
        _prefixed = _req_prefix;
        _prefixed.append(_req_message);
        for (int s : {origin_side, target_side}) {
            if (!out.rewritten[s]) out.body[s] = _prefixed;
            out.rewritten[s] = true;
        }
    }
    if (!_request_id.empty()) p.extra().request_id = _request_id;
    if (_w.consistency_override[0] || _w.consistency_override[1]) override_consistency(env.header, p, to, out);
    if (p.write && to.has(origin_side) && to.has(target_side)) assign_timestamp(env.header, p, out);
    // The request as received, for healing, unless both clusters got bodies of tandem's.
    if (p.kept && !(p.side_rewritten[origin_side] && p.side_rewritten[target_side])) p.req_copy.assign(env.body);
    if (p.counted && p.write && to == destinations::both() && writes_async() && !journal_write(env.header, p, to, out)) return;
    for (int s : {origin_side, target_side}) {
        if (_shared) {
            if (to.has(s) && !p.write && p.journal_id == 0 && writes_async() && s == secondary() && !_w.pool->reachable(s)) {
                to = to.without(s);  // as below: what is not a write is the primary's alone
                continue;
            }
            if (to.has(s) && !_w.pool->can_take(s, _version, _req_ks)) {
                answer_error(p.client_stream, error_message::overloaded(shutting_down));
                release(p);
                return;
            }
            continue;
        }
        auto* l = _links[s];
        if (to.has(s) && !l && p.journal_id == 0 && writes_async() && s == secondary() && !p.write && _phase != phase::connecting) {
            // The secondary is gone (write_mode DUAL_ASYNC_ON_SECONDARY keeps the session): what
            // is not a write is the primary's alone (USE, PREPARE, REGISTER, OPTIONS).
            to = to.without(s);
            continue;
        }
        if (to.has(s) && (!l || !l->usable() || !l->has_free_id())) {
            answer_error(p.client_stream, error_message::overloaded(shutting_down));
            release(p);
            return;
        }
    }
    for (int s : {origin_side, target_side}) {
        if (to.has(s)) send_to(p, s, env, out);
    }
    // Back-pressure counts what the slot holds for the request: the request as received (queued
    // or referenced) and the slot's copies (kept for healing, each cluster's rewritten body).
    const size_t held = env.body.size() + p.req_copy.size() + p.side_bytes();
    const auto b = static_cast<uint32_t>(std::min<size_t>(held, UINT32_MAX));
    _inflight_bytes = _inflight_bytes - p.bytes + b;
    p.bytes = b;
    arm_timeout(p);
}

// origin_consistency_level / target_consistency_level: the side's body, with the cluster's level,
// in the slot's own string (kept for healing too). Nothing is copied without an override.
void client_session::override_consistency(const envelope_header& h, pending& p, destinations to, outbound& out) {
    if (h.op != opcode::query && h.op != opcode::execute && h.op != opcode::batch) return;
    for (int s : {origin_side, target_side}) {
        const auto& cl = _w.consistency_override[s];
        if (!cl || !to.has(s)) continue;
        const std::string_view message = out.rewritten[s] ? out.body[s].substr(_req_prefix.size()) : std::string_view(_req_message);
        auto changed = with_consistency(h.op, message, cql::effective_version(h.version), *cl);
        if (changed) rewrite_side(p, out, s, *changed);
    }
}

// The slot's own string (its capacity kept) holds what cluster `s` gets: the prefix, then
// `message` (which must not lie in that string).
void client_session::rewrite_side(pending& p, outbound& out, int s, std::string_view message) {
    std::string& b = p.side(s);
    b.assign(_req_prefix);
    b.append(message);
    p.side_rewritten[s] = true;
    out.body[s] = b;
    out.rewritten[s] = true;
}

// A dual write without a client timestamp gets one, the same on both clusters, so both hold
// identical cells. The common case (the driver sent one) is read from the flags, not decoded.
void client_session::assign_timestamp(const envelope_header& h, pending& p, outbound& out) {
    if (h.op != opcode::query && h.op != opcode::execute && h.op != opcode::batch) return;
    const uint8_t ver = cql::effective_version(h.version);
    auto message_of = [&](int s) {
        return out.rewritten[s] ? out.body[s].substr(_req_prefix.size()) : std::string_view(_req_message);
    };
    if (!needs_timestamp(h.op, message_of(origin_side), ver)) return;
    const int64_t ts = _w.next_write_timestamp();
    if (!out.rewritten[origin_side] && !out.rewritten[target_side]) {
        // Both clusters get the same bytes: encoded and kept once.
        if (!with_timestamp(h.op, _req_message, ver, ts, _timestamped)) return;
        rewrite_side(p, out, origin_side, _timestamped);
        p.target_same = true;
        p.side_rewritten[target_side] = true;
        out.body[target_side] = out.body[origin_side];
        out.rewritten[target_side] = true;
        return;
    }
    for (int s : {origin_side, target_side}) {
        // Encoded into the session's scratch (the message may lie in the slot's string), then
        // copied into the slot's string: both keep their capacity.
        if (!with_timestamp(h.op, message_of(s), ver, ts, _timestamped)) return;
        rewrite_side(p, out, s, _timestamped);
    }
}

bool client_session::writes_async() const { return _w.journal && _w.p.writes() == write_mode::dual_async_on_secondary; }

// A dual write in write_mode DUAL_ASYNC_ON_SECONDARY: the secondary's copy (with its ids and
// tandem's timestamp) is appended to the journal; the client will be answered once the primary
// answered and the record is durable (replies.cc). A secondary that cannot take it now (no
// connection, no free stream id) does not get it: the record is kept for the replayer. Not
// journaled: writes that are not safe to apply later (lightweight transactions, counters:
// both clusters, synchronously) and writes arriving while the journal is full (as DUAL_SYNC).
bool client_session::journal_write(const envelope_header& h, pending& p, destinations& to, const outbound& out) {
    const int sec = other_side(side_of(p.primary));
    auto* sl = _links[sec];
    if (!sl && !_shared) maybe_rejoin();
    const bool sec_there = _shared ? _w.pool->reachable(sec) : sl != nullptr;
    // A congested secondary (more than the send limit queued) does not get the copy either: the
    // client must not wait for it, and its queue must not grow without bound.
    const bool sec_usable = _shared ? sec_there && _w.pool->can_take(sec, _version, _req_ks) && !_w.pool->congested(sec)
                                    : sl && sl->usable() && sl->has_free_id() && !sl->conn->over_limit();
    const char* refused = nullptr;
    if (!_replayable) {
        bump(_w.counters.journal_sync_writes);
        if (!sec_there) refused = "lightweight transactions, counter and list updates and schema changes stay synchronous on both clusters";
    } else {
        const std::string_view message = out.rewritten[sec] ? out.body[sec].substr(_req_prefix.size()) : std::string_view(_req_message);
        _w.journal_scratch.clear();
        encode_journal_record(role_of(sec), cql::effective_version(h.version), h.op, _keyspace, _journal_refs.data(), _journal_refs.size(),
                              message, _w.journal_scratch);
        p.journal_id = _w.journal->append(_w.journal_listener, role_of(sec), _w.journal_scratch);
        if (p.journal_id == 0) {
            bump(_w.counters.journal_full);
            if (_w.journal_full_log.due(_w.w.now_ms())) {
                spdlog::warn("write journal {} is full (write_journal_max_bytes {}): writes wait for both clusters as in DUAL_SYNC until the "
                             "replayer catches up",
                             _w.journal->dir(), _w.p.cfg().write_journal_max_bytes);
            }
            if (!sec_there) refused = "the write journal is full";
        } else {
            bump(_w.counters.journaled_writes);
            if (!sec_usable) {
                to = to.without(sec);
                _w.journal->settle(p.journal_id, false);
                bump(_w.counters.journal_secondary_failed);
            }
        }
    }
    if (refused) {
        auto e = error_message::unavailable(p.cl, 1, 0);
        e.message = std::string("tandem: the ") + side_name(sec) + " cluster is unreachable and " + refused;
        answer_error(p.client_stream, e);
        release(p);
        return false;
    }
    return true;
}

void client_session::send_to(pending& p, int side, const inbound_envelope& env, const outbound& out) {
    if (_shared) {
        shared_send(p, side, env.header, out.rewritten[side] ? out.body[side] : _req_plain);
        return;
    }
    auto* l = _links[side];
    int id = l->take_id({p.index, p.gen});
    p.proxy_stream[side] = static_cast<int16_t>(id);
    p.expect = p.expect.with(side);
    envelope_header h = env.header;
    h.stream = static_cast<int16_t>(id);
    if (out.rewritten[side]) {
        h.flags &= static_cast<uint8_t>(~cql::envelope_flags::compression);
        l->send(h, out.body[side]);
    } else if (!env.owner.empty()) {
        l->send(h, env.owner.share());
    } else {
        l->send(h, env.body);
    }
}

}  // namespace tandem::core
