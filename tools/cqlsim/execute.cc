// Statement execution: DDL, writes, reads with paging, batches, prepared statements.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>

#include "cql/envelope.hh"
#include "cql/murmur3.hh"
#include "cql/values.hh"
#include "tools/cqlsim/cluster.hh"
#include "tools/cqlsim/keys.hh"
#include "tools/cqlsim/values.hh"

namespace tandem::cqlsim {

using cql::cql_type;
using cql::error_message;
using cql::type_id;

namespace {

int64_t wall_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

cql::column_spec spec(const table_def& d, std::string name, cql_type t) { return {d.keyspace, d.name, std::move(name), std::move(t)}; }

// The types of bind markers, found by walking a statement against its table.
struct marker_typer {
    const table_def& d;
    std::vector<std::optional<cql::column_spec>>& out;

    void term_of(const term& t, const cql_type& type, const std::string& name) {
        if (t.k == term::kind::marker) {
            if (static_cast<size_t>(t.marker_index) < out.size()) {
                out[static_cast<size_t>(t.marker_index)] = spec(d, t.marker_name.empty() ? name : t.marker_name, type);
            }
            return;
        }
        if ((t.k == term::kind::list || t.k == term::kind::set) && !type.params.empty()) {
            for (auto& i : t.items) term_of(i, type.params[0], name);
        } else if (t.k == term::kind::map && type.id == type_id::map) {
            for (size_t i = 0; i < t.items.size(); ++i) term_of(t.items[i], type.params[i % 2], name);
        } else if (t.k == term::kind::tuple) {
            for (size_t i = 0; i < t.items.size() && i < type.params.size(); ++i) term_of(t.items[i], type.params[i], name);
        }
    }
    const cql_type* type_of(const std::string& col) {
        int i = d.find(col);
        return i < 0 ? nullptr : &d.columns[static_cast<size_t>(i)].type;
    }
    void relations(const std::vector<relation>& rs) {
        for (auto& r : rs) {
            if (r.token) {
                for (auto& v : r.values) term_of(v, cql_type::simple(type_id::bigint), "partition key token");
                continue;
            }
            const cql_type* t = type_of(r.columns.at(0));
            if (!t) continue;
            if (r.o == relation::op::in && r.values.size() == 1 && r.values[0].k == term::kind::marker) {
                term_of(r.values[0], cql_type::list_of(*t), "in(" + r.columns[0] + ")");
            } else {
                for (auto& v : r.values) term_of(v, *t, r.columns[0]);
            }
        }
    }
    void using_of(const using_clause& u) {
        if (u.ttl) term_of(*u.ttl, cql_type::simple(type_id::int_), "[ttl]");
        if (u.timestamp) term_of(*u.timestamp, cql_type::simple(type_id::bigint), "[timestamp]");
    }
};

// A pk bound entirely by markers gives the driver its routing key.
std::vector<uint16_t> pk_indexes_of(const table_def& d, const std::vector<std::pair<std::string, const term*>>& eqs) {
    std::vector<uint16_t> out;
    for (int i : d.pk) {
        const std::string& name = d.columns[static_cast<size_t>(i)].name;
        const term* found = nullptr;
        for (auto& [col, t] : eqs) {
            if (col == name) found = t;
        }
        if (!found || found->k != term::kind::marker) return {};
        out.push_back(static_cast<uint16_t>(found->marker_index));
    }
    return out;
}

}  // namespace

// ---- entry points --------------------------------------------------------------------------

execution cluster::query(session& s, std::string_view text, const cql::query_parameters& p) {
    auto parsed = parse_statement(text);
    execution e;
    if (auto* err = std::get_if<parse_error>(&parsed)) {
        e.error = error_message::syntax(err->message);
        return e;
    }
    auto& st = std::get<statement>(parsed);
    bound b;
    for (const auto& v : p.values) b.values.push_back(v.value);
    if (static_cast<int>(b.values.size()) != st.marker_count && !(st.marker_count == 0 && b.values.empty())) {
        e.error = error_message::invalid("There were " + std::to_string(st.marker_count) + " markers(?) in CQL but " +
                                         std::to_string(b.values.size()) + " bound variables");
        return e;
    }
    int64_t ts_now = std::max(wall_us(), _last_ts_us + 1);
    _last_ts_us = ts_now;
    exec_ctx c{s, b, ts_now, p.timestamp, s.version, p.page_size.value_or(-1),
               p.paging_state ? std::optional<std::string>(std::string(*p.paging_state)) : std::nullopt, false};
    if (p.keyspace) s.keyspace = std::string(*p.keyspace);
    return run(c, st, nullptr);
}

execution cluster::prepare(session& s, std::string_view text, std::optional<std::string_view> keyspace) {
    execution e;
    auto parsed = parse_statement(text);
    if (auto* err = std::get_if<parse_error>(&parsed)) {
        e.error = error_message::syntax(err->message);
        return e;
    }
    std::string ks = keyspace ? std::string(*keyspace) : s.keyspace;
    prepared_statement ps;
    ps.query = std::string(text);
    ps.keyspace = ks;
    ps.parsed = std::get<statement>(std::move(parsed));
    // Cassandra's id: MD5 of the keyspace (when set) and the query text, so two clusters of the
    // same version hand out the same id (unless --prepared-id-salt says otherwise).
    ps.id = md5(config().prepared_id_salt + ks + ps.query);
    std::vector<std::optional<cql::column_spec>> specs(static_cast<size_t>(ps.parsed.marker_count));
    session probe = s;
    probe.keyspace = ks;
    auto typed_table = [&](const std::string& tks, const std::string& tname) -> std::shared_ptr<table> {
        error_message err;
        auto t = find_table(tks, tname, probe, err);
        if (!t) e.error = err;
        return t;
    };
    std::visit(
        [&](auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, insert>) {
                auto t = typed_table(x.keyspace, x.table);
                if (!t) return;
                marker_typer m{t->def, specs};
                std::vector<std::pair<std::string, const term*>> eqs;
                for (size_t i = 0; i < x.columns.size(); ++i) {
                    if (auto* ty = m.type_of(x.columns[i])) m.term_of(x.values[i], *ty, x.columns[i]);
                    eqs.emplace_back(x.columns[i], &x.values[i]);
                }
                m.using_of(x.u);
                ps.pk_indexes = pk_indexes_of(t->def, eqs);
            } else if constexpr (std::is_same_v<T, update> || std::is_same_v<T, delete_>) {
                auto t = typed_table(x.keyspace, x.table);
                if (!t) return;
                marker_typer m{t->def, specs};
                m.using_of(x.u);
                if constexpr (std::is_same_v<T, update>) {
                    for (auto& a : x.set) {
                        auto* ty = m.type_of(a.column);
                        if (!ty) continue;
                        if (a.element && ty->id == type_id::map) {
                            m.term_of(*a.element, ty->params[0], "key(" + a.column + ")");
                            m.term_of(a.value, ty->params[1], "value(" + a.column + ")");
                        } else if (a.element && ty->id == type_id::list) {
                            m.term_of(*a.element, cql_type::simple(type_id::int_), "idx(" + a.column + ")");
                            m.term_of(a.value, ty->params[0], "value(" + a.column + ")");
                        } else if (ty->id == type_id::counter) {
                            m.term_of(a.value, cql_type::simple(type_id::bigint), a.column);
                        } else {
                            m.term_of(a.value, *ty, a.column);
                        }
                    }
                }
                m.relations(x.where);
                m.relations(x.conditions);
                std::vector<std::pair<std::string, const term*>> eqs;
                for (auto& r : x.where) {
                    if (!r.token && r.o == relation::op::eq && r.columns.size() == 1) eqs.emplace_back(r.columns[0], &r.values[0]);
                }
                ps.pk_indexes = pk_indexes_of(t->def, eqs);
            } else if constexpr (std::is_same_v<T, select>) {
                auto t = typed_table(x.keyspace, x.table);
                if (!t) return;
                marker_typer m{t->def, specs};
                m.relations(x.where);
                if (x.limit) m.term_of(*x.limit, cql_type::simple(type_id::int_), "[limit]");
                if (x.per_partition_limit) m.term_of(*x.per_partition_limit, cql_type::simple(type_id::int_), "[per_partition_limit]");
                std::vector<std::pair<std::string, const term*>> eqs;
                for (auto& r : x.where) {
                    if (!r.token && r.o == relation::op::eq && r.columns.size() == 1) eqs.emplace_back(r.columns[0], &r.values[0]);
                }
                ps.pk_indexes = pk_indexes_of(t->def, eqs);
                // Result metadata: run the select machinery's column list.
                for (auto& sel : x.selectors) {
                    switch (sel.k) {
                        case selector::kind::star:
                            for (auto& c : t->def.columns) ps.result.push_back(spec(t->def, c.name, c.type));
                            break;
                        case selector::kind::column: {
                            int i = t->def.find(sel.column);
                            if (i < 0) {
                                e.error = error_message::invalid("Undefined column name " + sel.column);
                                return;
                            }
                            ps.result.push_back(spec(t->def, sel.alias.empty() ? sel.column : sel.alias, t->def.columns[static_cast<size_t>(i)].type));
                            break;
                        }
                        case selector::kind::count:
                            ps.result.push_back(spec(t->def, sel.alias.empty() ? "count" : sel.alias, cql_type::simple(type_id::bigint)));
                            break;
                        case selector::kind::writetime:
                            ps.result.push_back(spec(t->def, sel.alias.empty() ? "writetime(" + sel.column + ")" : sel.alias, cql_type::simple(type_id::bigint)));
                            break;
                        case selector::kind::ttl:
                            ps.result.push_back(spec(t->def, sel.alias.empty() ? "ttl(" + sel.column + ")" : sel.alias, cql_type::simple(type_id::int_)));
                            break;
                        case selector::kind::function:
                            ps.result.push_back(spec(t->def, sel.alias.empty() ? sel.column : sel.alias, cql_type::simple(type_id::blob)));
                            break;
                    }
                }
            } else if constexpr (std::is_same_v<T, batch>) {
                for (auto& child : x.statements) {
                    std::visit(
                        [&](auto& w) {
                            auto t = typed_table(w.keyspace, w.table);
                            if (!t) return;
                            marker_typer m{t->def, specs};
                            m.using_of(w.u);
                            using W = std::decay_t<decltype(w)>;
                            if constexpr (std::is_same_v<W, insert>) {
                                for (size_t i = 0; i < w.columns.size(); ++i) {
                                    if (auto* ty = m.type_of(w.columns[i])) m.term_of(w.values[i], *ty, w.columns[i]);
                                }
                            } else {
                                if constexpr (std::is_same_v<W, update>) {
                                    for (auto& a : w.set) {
                                        if (auto* ty = m.type_of(a.column)) m.term_of(a.value, ty->id == type_id::counter ? cql_type::simple(type_id::bigint) : *ty, a.column);
                                    }
                                }
                                m.relations(w.where);
                            }
                        },
                        child);
                }
            }
        },
        ps.parsed.s);
    if (e.error) return e;
    for (size_t i = 0; i < specs.size(); ++i) {
        if (!specs[i]) {
            e.error = error_message::invalid("cqlsim cannot type bind marker " + std::to_string(i) + " in this statement");
            return e;
        }
        ps.bind.push_back(*specs[i]);
    }
    cql::result_message r;
    r.kind = cql::result_kind::prepared;
    r.prepared_id = ps.id;
    std::string meta_text;
    for (auto& c : ps.result) meta_text += c.name + ":" + cql::to_cql_string(c.type) + ";";
    r.result_metadata_id = md5(meta_text);
    r.prepared.pk_indexes = ps.pk_indexes;
    r.prepared.columns = ps.bind;
    r.result_metadata.columns = ps.result;
    r.result_metadata.column_count = static_cast<int32_t>(ps.result.size());
    r.encode(e.body, s.version);
    _prepared[ps.id] = std::move(ps);
    return e;
}

execution cluster::execute(session& s, std::string_view id, const cql::query_parameters& p) {
    execution e;
    auto it = _prepared.find(std::string(id));
    if (it == _prepared.end()) {
        e.error = error_message::unprepared(id, "Prepared query with ID " + cql::to_hex(id) +
                                                    " not found (either the query was not prepared on this host (maybe "
                                                    "the host has been restarted?) or you have prepared too many queries "
                                                    "and it has been evicted from the internal cache)");
        return e;
    }
    const prepared_statement& ps = it->second;
    bound b;
    for (const auto& v : p.values) b.values.push_back(v.value);
    if (b.values.size() != ps.bind.size()) {
        e.error = error_message::invalid("There were " + std::to_string(ps.bind.size()) + " markers(?) in CQL but " +
                                         std::to_string(b.values.size()) + " bound variables");
        return e;
    }
    session inner = s;
    if (!ps.keyspace.empty()) inner.keyspace = ps.keyspace;
    int64_t ts_now = std::max(wall_us(), _last_ts_us + 1);
    _last_ts_us = ts_now;
    exec_ctx c{inner, b, ts_now, p.timestamp, s.version, p.page_size.value_or(-1),
               p.paging_state ? std::optional<std::string>(std::string(*p.paging_state)) : std::nullopt, p.skip_metadata};
    auto r = run(c, ps.parsed, &ps);
    if (std::holds_alternative<use_keyspace>(ps.parsed.s)) s.keyspace = inner.keyspace;
    return r;
}

execution cluster::run_batch(session& s, const cql::batch_message& m) {
    execution e;
    int64_t ts_now = std::max(wall_us(), _last_ts_us + 1);
    _last_ts_us = ts_now;
    int64_t batch_ts = m.timestamp.value_or(ts_now);
    // Validate every child first: a batch applies entirely or not at all.
    struct child {
        statement st;
        bound b;
        session sess;
    };
    std::vector<child> children;
    for (const auto& ch : m.children) {
        child c{{}, {}, s};
        for (const auto& v : ch.values) c.b.values.push_back(v.value);
        if (ch.prepared) {
            auto it = _prepared.find(std::string(ch.query_or_id));
            if (it == _prepared.end()) {
                e.error = error_message::unprepared(ch.query_or_id, "Prepared query with ID " + cql::to_hex(ch.query_or_id) + " not found");
                return e;
            }
            c.st = it->second.parsed;
            if (!it->second.keyspace.empty()) c.sess.keyspace = it->second.keyspace;
        } else {
            auto parsed = parse_statement(ch.query_or_id);
            if (auto* err = std::get_if<parse_error>(&parsed)) {
                e.error = error_message::syntax(err->message);
                return e;
            }
            c.st = std::get<statement>(std::move(parsed));
        }
        if (!std::holds_alternative<insert>(c.st.s) && !std::holds_alternative<update>(c.st.s) &&
            !std::holds_alternative<delete_>(c.st.s)) {
            e.error = error_message::invalid("Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed.");
            return e;
        }
        children.push_back(std::move(c));
    }
    for (auto& c : children) {
        exec_ctx ctx{c.sess, c.b, ts_now, batch_ts, s.version, -1, std::nullopt, false};
        write_ref w;
        if (auto* i = std::get_if<insert>(&c.st.s)) w = i;
        if (auto* u = std::get_if<update>(&c.st.s)) w = u;
        if (auto* d = std::get_if<delete_>(&c.st.s)) w = d;
        auto r = run_write(ctx, w, batch_ts);
        if (r.error) return r;
    }
    cql::result_message vr;
    vr.encode(e.body, s.version);
    return e;
}

execution cluster::run(exec_ctx& c, const statement& st, const prepared_statement* prep) {
    if (auto* sel = std::get_if<select>(&st.s)) return run_select(c, *sel, prep);
    if (auto* i = std::get_if<insert>(&st.s)) return run_write(c, i, INT64_MIN);
    if (auto* u = std::get_if<update>(&st.s)) return run_write(c, u, INT64_MIN);
    if (auto* d = std::get_if<delete_>(&st.s)) return run_write(c, d, INT64_MIN);
    if (auto* b = std::get_if<batch>(&st.s)) {
        int64_t ts = c.default_ts.value_or(c.now_us);
        if (b->u.timestamp) {
            std::string err;
            eval_context ec{&c.b.values, c.now_us};
            auto v = evaluate(*b->u.timestamp, cql_type::simple(type_id::bigint), "[timestamp]", ec, err);
            if (v && v->bytes) ts = static_cast<int64_t>(cql::load_be64(v->bytes->data()));
        }
        for (auto& child : b->statements) {
            write_ref w = std::visit([](auto& x) -> write_ref { return &x; }, child);
            auto r = run_write(c, w, ts);
            if (r.error) return r;
        }
        execution e;
        cql::result_message vr;
        vr.encode(e.body, c.version);
        return e;
    }
    if (auto* u = std::get_if<use_keyspace>(&st.s)) {
        execution e;
        if (!_keyspaces.count(u->name)) {
            e.error = error_message::invalid("Keyspace '" + u->name + "' does not exist");
            return e;
        }
        c.s.keyspace = u->name;
        cql::result_message r;
        r.kind = cql::result_kind::set_keyspace;
        r.keyspace = u->name;
        r.encode(e.body, c.version);
        return e;
    }
    return ddl(c, st);
}

execution cluster::ddl(exec_ctx& c, const statement& st) {
    execution e;
    cql::schema_change change;
    auto done = [&](cql::schema_change ch) {
        bump_schema();
        cql::result_message r;
        r.kind = cql::result_kind::schema_change;
        r.change = ch;
        r.encode(e.body, c.version);
        e.change = ch;
        return e;
    };
    auto no_change = [&] {
        cql::result_message r;
        r.encode(e.body, c.version);
        return e;
    };
    auto resolve_ks = [&](const std::string& ks) { return ks.empty() ? c.s.keyspace : ks; };
    if (auto* k = std::get_if<create_keyspace>(&st.s)) {
        if (_keyspaces.count(k->name)) {
            if (k->if_not_exists) return no_change();
            e.error = error_message::already_exists(k->name, "", "Keyspace " + k->name + " already exists");
            return e;
        }
        bool has_class = false;
        for (auto& [key, v] : k->replication) has_class = has_class || key == "class";
        if (!has_class) {
            e.error = error_message::make(cql::error_code::config_error, "Missing mandatory replication strategy class");
            return e;
        }
        keyspace_def def;
        def.name = k->name;
        for (auto [key, v] : k->replication) {
            if (key == "class" && v.find('.') == std::string::npos) v = "org.apache.cassandra.locator." + v;
            def.replication.emplace_back(key, v);
        }
        def.durable_writes = k->durable_writes;
        _keyspaces[k->name] = std::move(def);
        return done({"CREATED", "KEYSPACE", k->name, "", {}});
    }
    if (auto* t = std::get_if<create_table>(&st.s)) {
        std::string ks = resolve_ks(t->keyspace);
        auto kit = _keyspaces.find(ks);
        if (ks.empty() || kit == _keyspaces.end()) {
            e.error = error_message::invalid(ks.empty() ? "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename"
                                                        : "Keyspace " + ks + " doesn't exist");
            return e;
        }
        if (kit->second.tables.count(t->name)) {
            if (t->if_not_exists) return no_change();
            e.error = error_message::already_exists(ks, t->name, "Cannot add already existing table \"" + t->name + "\" to keyspace \"" + ks + "\"");
            return e;
        }
        create_table resolved = *t;
        for (auto& col : resolved.columns) {
            // Resolve user-defined types of this keyspace.
            std::function<bool(cql_type&)> fix = [&](cql_type& ty) {
                if (ty.id == type_id::udt && ty.params.empty()) {
                    auto uit = kit->second.types.find(ty.name);
                    if (uit == kit->second.types.end()) return false;
                    std::vector<std::pair<std::string, cql_type>> fields(uit->second.fields.begin(), uit->second.fields.end());
                    ty = cql_type::udt_of(ks, ty.name, fields);
                }
                for (auto& p : ty.params) {
                    if (!fix(p)) return false;
                }
                return true;
            };
            if (!fix(col.type)) {
                e.error = error_message::invalid("Unknown type " + ks + "." + col.type.name);
                return e;
            }
        }
        std::string err;
        auto tbl = make_table(resolved, ks, err);
        if (!tbl) {
            e.error = error_message::invalid(err);
            return e;
        }
        kit->second.tables[t->name] = tbl;
        return done({"CREATED", "TABLE", ks, t->name, {}});
    }
    if (auto* ty = std::get_if<create_type>(&st.s)) {
        std::string ks = resolve_ks(ty->keyspace);
        auto kit = _keyspaces.find(ks);
        if (kit == _keyspaces.end()) {
            e.error = error_message::invalid("Keyspace " + ks + " doesn't exist");
            return e;
        }
        if (kit->second.types.count(ty->name)) {
            if (ty->if_not_exists) return no_change();
            e.error = error_message::already_exists(ks, ty->name, "A user type of name " + ks + "." + ty->name + " already exists");
            return e;
        }
        kit->second.types[ty->name] = *ty;
        return done({"CREATED", "TYPE", ks, ty->name, {}});
    }
    if (auto* d = std::get_if<drop>(&st.s)) {
        if (d->w == drop::what::keyspace) {
            if (!_keyspaces.count(d->name)) {
                if (d->if_exists) return no_change();
                e.error = error_message::make(cql::error_code::config_error, "Cannot drop non existing keyspace '" + d->name + "'.");
                return e;
            }
            _keyspaces.erase(d->name);
            return done({"DROPPED", "KEYSPACE", d->name, "", {}});
        }
        std::string ks = resolve_ks(d->keyspace);
        auto kit = _keyspaces.find(ks);
        bool exists = kit != _keyspaces.end() &&
                      (d->w == drop::what::table ? kit->second.tables.count(d->name) > 0 : kit->second.types.count(d->name) > 0);
        if (!exists) {
            if (d->if_exists) return no_change();
            e.error = error_message::invalid(d->w == drop::what::table ? "Table '" + ks + "." + d->name + "' doesn't exist"
                                                                       : "Type '" + ks + "." + d->name + "' doesn't exist");
            return e;
        }
        if (d->w == drop::what::table) {
            kit->second.tables.erase(d->name);
            return done({"DROPPED", "TABLE", ks, d->name, {}});
        }
        kit->second.types.erase(d->name);
        return done({"DROPPED", "TYPE", ks, d->name, {}});
    }
    if (auto* a = std::get_if<alter_table>(&st.s)) {
        error_message err;
        auto t = find_table(a->keyspace, a->name, c.s, err);
        if (!t) {
            e.error = err;
            return e;
        }
        if (a->with_only) return done({"UPDATED", "TABLE", t->def.keyspace, t->def.name, {}});
        for (auto& col : a->add) {
            if (t->def.find(col.name) >= 0) {
                e.error = error_message::invalid("Column with name '" + col.name + "' already exists");
                return e;
            }
            t->def.columns.push_back({col.name, col.type, col.is_static ? column_kind::static_ : column_kind::regular, -1, false});
        }
        for (auto& name : a->drop) {
            int i = t->def.find(name);
            if (i < 0) {
                e.error = error_message::invalid("Column " + name + " was not found in table " + t->def.name);
                return e;
            }
            if (t->def.columns[static_cast<size_t>(i)].kind == column_kind::partition_key ||
                t->def.columns[static_cast<size_t>(i)].kind == column_kind::clustering) {
                e.error = error_message::invalid("Cannot drop PRIMARY KEY part " + name);
                return e;
            }
            // Keep the slot (cells are stored by index) but hide the column under a name no
            // statement can write.
            t->def.columns[static_cast<size_t>(i)].name = "\x01dropped:" + name;
        }
        return done({"UPDATED", "TABLE", t->def.keyspace, t->def.name, {}});
    }
    if (auto* tr = std::get_if<truncate_table>(&st.s)) {
        error_message err;
        auto t = find_table(tr->keyspace, tr->name, c.s, err);
        if (!t) {
            e.error = err;
            return e;
        }
        t->clear();
        // TRUNCATE cqlsim.prepared: the cluster forgets every prepared statement, as a restarted
        // Cassandra does (drivers and proxies must re-prepare on UNPREPARED).
        if (t->def.keyspace == "cqlsim" && t->def.name == "prepared") _prepared.clear();
        return no_change();
    }
    e.error = error_message::invalid("cqlsim cannot run this statement");
    return e;
}

}  // namespace tandem::cqlsim
