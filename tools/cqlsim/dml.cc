// Writes (INSERT, UPDATE, DELETE, lightweight transactions) and reads (SELECT with paging).
#include <algorithm>
#include <cstring>

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

// Cartesian product of per-column value lists.
std::vector<std::vector<std::string>> product(const std::vector<std::vector<std::string>>& lists) {
    std::vector<std::vector<std::string>> out{{}};
    for (auto& l : lists) {
        std::vector<std::vector<std::string>> next;
        for (auto& prefix : out) {
            for (auto& v : l) {
                auto p = prefix;
                p.push_back(v);
                next.push_back(std::move(p));
            }
        }
        out = std::move(next);
    }
    return out;
}

struct restrictions {
    std::vector<std::vector<std::string>> pk;  // allowed values per pk column
    bool pk_complete = true;
    std::optional<int64_t> token_lo, token_hi;
    bool token_lo_incl = false, token_hi_incl = true;
    std::vector<std::vector<std::string>> ck;  // allowed values per leading clustering column
    struct bound {
        std::string value;
        bool inclusive;
    };
    std::optional<bound> lo, hi;  // on clustering column ck.size()
    struct filter {
        int column;
        relation::op o;
        std::vector<std::string> values;
    };
    std::vector<filter> filters;
};

}  // namespace

// Evaluates WHERE relations into restrictions; returns false with `err` set on error.
static bool restrict(const table_def& d, const std::vector<relation>& where, const eval_context& ec, restrictions& r,
                     error_message& err, bool for_write) {
    r.pk.assign(d.pk.size(), {});
    std::vector<std::vector<std::string>> ck_eq(d.ck.size());
    std::vector<bool> ck_set(d.ck.size(), false);
    std::vector<bool> pk_set(d.pk.size(), false);
    std::optional<restrictions::bound> lo, hi;
    int range_col = -1;
    for (auto& rel : where) {
        std::string e;
        if (rel.token) {
            auto v = evaluate(rel.values.at(0), cql_type::simple(type_id::bigint), "partition key token", ec, e);
            if (!v || !v->bytes || v->bytes->size() != 8) {
                err = error_message::invalid(e.empty() ? "Invalid token value" : e);
                return false;
            }
            auto tk = static_cast<int64_t>(cql::load_be64(v->bytes->data()));
            if (rel.o == relation::op::gt || rel.o == relation::op::ge) {
                r.token_lo = tk;
                r.token_lo_incl = rel.o == relation::op::ge;
            } else if (rel.o == relation::op::lt || rel.o == relation::op::le) {
                r.token_hi = tk;
                r.token_hi_incl = rel.o == relation::op::le;
            } else {
                r.token_lo = r.token_hi = tk;
                r.token_lo_incl = r.token_hi_incl = true;
            }
            continue;
        }
        int ci = d.find(rel.columns.at(0));
        if (ci < 0) {
            err = error_message::invalid("Undefined column name " + rel.columns[0]);
            return false;
        }
        const column& col = d.columns[static_cast<size_t>(ci)];
        std::vector<std::string> values;
        if (rel.o == relation::op::in && rel.values.size() == 1 && rel.values[0].k == term::kind::marker) {
            auto v = evaluate(rel.values[0], cql_type::list_of(col.type), col.name, ec, e);
            if (!v) {
                err = error_message::invalid(e);
                return false;
            }
            if (v->bytes) {
                auto list = cql::decode_value(cql_type::list_of(col.type), *v->bytes);
                if (list) {
                    for (auto& item : std::get<cql::cql_list>(list->v)) {
                        std::string b;
                        (void)cql::encode_value(col.type, item, b);
                        values.push_back(b);
                    }
                }
            }
        } else {
            for (auto& t : rel.values) {
                auto v = evaluate(t, col.type, col.name, ec, e);
                if (!v) {
                    err = error_message::invalid(e);
                    return false;
                }
                if (v->unset) {
                    err = error_message::invalid("Invalid unset value for column " + col.name);
                    return false;
                }
                if (!v->bytes) {
                    err = error_message::invalid("Invalid null value in condition for column " + col.name);
                    return false;
                }
                values.push_back(*v->bytes);
            }
        }
        if (col.kind == column_kind::partition_key && (rel.o == relation::op::eq || rel.o == relation::op::in)) {
            r.pk[static_cast<size_t>(col.position)] = values;
            pk_set[static_cast<size_t>(col.position)] = true;
        } else if (col.kind == column_kind::clustering && (rel.o == relation::op::eq || rel.o == relation::op::in)) {
            ck_eq[static_cast<size_t>(col.position)] = values;
            ck_set[static_cast<size_t>(col.position)] = true;
        } else if (col.kind == column_kind::clustering && !values.empty()) {
            range_col = col.position;
            restrictions::bound b{values[0], rel.o == relation::op::ge || rel.o == relation::op::le};
            if (rel.o == relation::op::gt || rel.o == relation::op::ge) {
                lo = b;
            } else {
                hi = b;
            }
        } else {
            r.filters.push_back({ci, rel.o, values});
        }
    }
    r.pk_complete = std::all_of(pk_set.begin(), pk_set.end(), [](bool b) { return b; });
    if (!r.pk_complete && std::any_of(pk_set.begin(), pk_set.end(), [](bool b) { return b; })) {
        for (size_t i = 0; i < pk_set.size(); ++i) {
            if (!pk_set[i]) {
                err = error_message::invalid("Cannot execute this query as it might involve data filtering and thus may have "
                                             "unpredictable performance. If you want to execute this query despite the "
                                             "performance unpredictability, use ALLOW FILTERING");
                return false;
            }
        }
    }
    if (for_write && !r.pk_complete) {
        err = error_message::invalid("Some partition key parts are missing: " + d.columns[static_cast<size_t>(d.pk[0])].name);
        return false;
    }
    size_t prefix = 0;
    while (prefix < ck_set.size() && ck_set[prefix]) ++prefix;
    r.ck.assign(ck_eq.begin(), ck_eq.begin() + static_cast<long>(prefix));
    if (range_col >= 0) {
        if (static_cast<size_t>(range_col) != prefix) {
            err = error_message::invalid("Clustering column restrictions must follow the clustering key order");
            return false;
        }
        r.lo = lo;
        r.hi = hi;
    }
    return true;
}

execution cluster::run_write(exec_ctx& c, write_ref w, int64_t batch_ts) {
    execution e;
    error_message err;
    const std::string& ks = std::visit([](auto* x) -> const std::string& { return x->keyspace; }, w);
    const std::string& tname = std::visit([](auto* x) -> const std::string& { return x->table; }, w);
    auto t = find_table(ks, tname, c.s, err);
    if (!t) {
        e.error = err;
        return e;
    }
    if (t->def.keyspace == "cqlsim" && t->def.name == "requests") {
        e.error = error_message::invalid("cqlsim.requests is read-only");
        return e;
    }
    if (t->def.keyspace == "system" || t->def.keyspace == "system_schema") {
        e.error = error_message::make(cql::error_code::unauthorized, t->def.keyspace + " keyspace is not user-modifiable.");
        return e;
    }
    const table_def& d = t->def;
    eval_context ec{&c.b.values, c.now_us};
    const using_clause& u = std::visit([](auto* x) -> const using_clause& { return x->u; }, w);
    int64_t ts = batch_ts != INT64_MIN ? batch_ts : c.default_ts.value_or(c.now_us);
    int32_t ttl = 0;
    std::string ee;
    if (u.timestamp) {
        auto v = evaluate(*u.timestamp, cql_type::simple(type_id::bigint), "[timestamp]", ec, ee);
        if (!v || !v->bytes) {
            e.error = error_message::invalid(ee.empty() ? "Invalid null value of timestamp" : ee);
            return e;
        }
        ts = static_cast<int64_t>(cql::load_be64(v->bytes->data()));
    }
    if (u.ttl) {
        auto v = evaluate(*u.ttl, cql_type::simple(type_id::int_), "[ttl]", ec, ee);
        if (!v) {
            e.error = error_message::invalid(ee);
            return e;
        }
        if (v->bytes) ttl = static_cast<int32_t>(cql::load_be32(v->bytes->data()));
        if (ttl < 0) {
            e.error = error_message::invalid("A TTL must be greater or equal to 0, but was " + std::to_string(ttl));
            return e;
        }
    }
    int64_t expires = ttl > 0 ? now_s() + ttl : 0;

    // The rows this write touches: (pk components, ck components or none).
    std::vector<std::vector<std::string>> pks;
    std::vector<std::vector<std::string>> cks;
    std::vector<std::pair<int, evaluated>> values;  // column index → value
    std::vector<relation> conditions;
    bool if_not_exists = false, if_exists = false;
    bool static_only = false;  // a write of static columns only, without a clustering key
    if (auto* const* insp = std::get_if<const insert*>(&w)) {
        const insert* ins = *insp;
        if (ins->json) {
            e.error = error_message::invalid("cqlsim does not support INSERT JSON");
            return e;
        }
        std::vector<std::string> pk(d.pk.size()), ck(d.ck.size());
        std::vector<bool> pk_set(d.pk.size()), ck_set(d.ck.size());
        for (size_t i = 0; i < ins->columns.size(); ++i) {
            int ci = d.find(ins->columns[i]);
            if (ci < 0) {
                e.error = error_message::invalid("Undefined column name " + ins->columns[i]);
                return e;
            }
            const column& col = d.columns[static_cast<size_t>(ci)];
            auto v = evaluate(ins->values[i], col.type, col.name, ec, ee);
            if (!v) {
                e.error = error_message::invalid(ee);
                return e;
            }
            if (col.kind == column_kind::partition_key || col.kind == column_kind::clustering) {
                if (!v->bytes) {
                    e.error = error_message::invalid("Invalid null value in condition for column " + col.name);
                    return e;
                }
                (col.kind == column_kind::partition_key ? pk : ck)[static_cast<size_t>(col.position)] = *v->bytes;
                (col.kind == column_kind::partition_key ? pk_set : ck_set)[static_cast<size_t>(col.position)] = true;
            } else if (!v->unset) {
                values.emplace_back(ci, *v);
            }
        }
        for (size_t i = 0; i < pk_set.size(); ++i) {
            if (!pk_set[i]) {
                e.error = error_message::invalid("Some partition key parts are missing: " + d.columns[static_cast<size_t>(d.pk[i])].name);
                return e;
            }
        }
        // Only static columns and no clustering key: a write of the partition's statics, as
        // Cassandra allows.
        static_only = !ck_set.empty() && std::none_of(ck_set.begin(), ck_set.end(), [](bool b) { return b; }) && !values.empty() &&
                      std::all_of(values.begin(), values.end(), [&](auto& v) {
                          return d.columns[static_cast<size_t>(v.first & 0xFFFFFF)].kind == column_kind::static_;
                      });
        for (size_t i = 0; i < ck_set.size() && !static_only; ++i) {
            if (!ck_set[i]) {
                e.error = error_message::invalid("Some clustering keys are missing: " + d.columns[static_cast<size_t>(d.ck[i])].name);
                return e;
            }
        }
        pks.push_back(pk);
        cks.push_back(static_only ? std::vector<std::string>{} : ck);
        if_not_exists = ins->if_not_exists;
    } else {
        const auto& where = std::holds_alternative<const update*>(w) ? std::get<const update*>(w)->where : std::get<const delete_*>(w)->where;
        restrictions r;
        if (!restrict(d, where, ec, r, err, true)) {
            e.error = err;
            return e;
        }
        pks = product(r.pk);
        if (r.ck.size() == d.ck.size()) {
            cks = product(r.ck);
        } else if (std::holds_alternative<const update*>(w) && !d.ck.empty() && r.ck.empty() &&
                   std::all_of(std::get<const update*>(w)->set.begin(), std::get<const update*>(w)->set.end(), [&](auto& a) {
                       int ci = d.find(a.column);
                       return ci >= 0 && d.columns[static_cast<size_t>(ci)].kind == column_kind::static_;
                   })) {
            static_only = true;  // UPDATE ... SET static = ... WHERE partition key
            cks.push_back({});
        } else if (std::holds_alternative<const update*>(w) && !d.ck.empty()) {
            e.error = error_message::invalid("Some clustering keys are missing: " + d.columns[static_cast<size_t>(d.ck[r.ck.size()])].name);
            return e;
        } else if (!r.ck.empty()) {
            e.error = error_message::invalid("cqlsim deletes whole partitions or whole rows only");
            return e;
        }
        if (auto* const* upp = std::get_if<const update*>(&w)) {
            const update* up = *upp;
            conditions = up->conditions;
            if_exists = up->if_exists;
            for (auto& a : up->set) {
                int ci = d.find(a.column);
                if (ci < 0) {
                    e.error = error_message::invalid("Undefined column name " + a.column);
                    return e;
                }
                const column& col = d.columns[static_cast<size_t>(ci)];
                if (col.kind == column_kind::partition_key || col.kind == column_kind::clustering) {
                    e.error = error_message::invalid("PRIMARY KEY part " + col.name + " found in SET part");
                    return e;
                }
                cql_type vt = col.type.id == type_id::counter ? cql_type::simple(type_id::bigint) : col.type;
                if (a.o == assignment::op::set_element && col.type.id == type_id::list && a.element) {
                    // l[i] = v: the index and the new element travel as a one-element list
                    // [int index, element]; the apply step below replaces in place.
                    auto idx = evaluate(*a.element, cql_type::simple(type_id::int_), "idx(" + col.name + ")", ec, ee);
                    auto val = idx ? evaluate(a.value, col.type.params.at(0), col.name, ec, ee) : std::nullopt;
                    if (!idx || !val || !idx->bytes || !val->bytes) {
                        e.error = error_message::invalid(ee.empty() ? "Invalid null value for list element assignment" : ee);
                        return e;
                    }
                    evaluated packed;
                    packed.bytes = *idx->bytes + *val->bytes;
                    packed.unset = true;
                    values.emplace_back(ci | (static_cast<int>(assignment::op::set_element) << 24), packed);
                    continue;
                }
                if (a.o == assignment::op::set_element) {
                    // m[k] = v is m = m + {k: v}.
                    if (col.type.id != type_id::map || !a.element) {
                        e.error = error_message::invalid("Invalid operation (" + col.name + "[...] = ...) for non list/map column " + col.name);
                        return e;
                    }
                    term entry;
                    entry.k = term::kind::map;
                    entry.items = {*a.element, a.value};
                    auto v = evaluate(entry, col.type, col.name, ec, ee);
                    if (!v) {
                        e.error = error_message::invalid(ee);
                        return e;
                    }
                    v->unset = true;  // a delta, applied below
                    values.emplace_back(ci | (static_cast<int>(assignment::op::add) << 24), *v);
                    continue;
                }
                auto v = evaluate(a.value, vt, col.name, ec, ee);
                if (!v) {
                    e.error = error_message::invalid(ee);
                    return e;
                }
                if (v->unset) continue;
                // Collections and counters: read, modify, write (cell-level, not per element).
                if (a.o != assignment::op::set) {
                    evaluated merged = *v;
                    merged.unset = true;  // marks "delta" for the apply step below
                    values.emplace_back(ci | (static_cast<int>(a.o) << 24), merged);
                } else {
                    values.emplace_back(ci, *v);
                }
            }
        } else {
            auto& del = *std::get<const delete_*>(w);
            conditions = del.conditions;
            if_exists = del.if_exists;
            for (auto& name : del.columns) {
                int ci = d.find(name);
                if (ci < 0) {
                    e.error = error_message::invalid("Undefined column name " + name);
                    return e;
                }
                values.emplace_back(ci, evaluated{});
            }
        }
    }
    if (cks.empty()) cks.push_back({});

    bool lwt = if_not_exists || if_exists || !conditions.empty();
    int64_t now = now_s();
    auto get_partition = [&](const std::vector<std::string>& pk, bool create) -> partition* {
        std::string key = partition_key_bytes(pk);
        return create ? &t->get(key, pk) : t->find(key);
    };
    auto row_live = [&](const partition& p, const row& r) {
        int64_t del = std::max(p.deleted_ts, r.deleted_ts);
        if (r.marker_ts != INT64_MIN && r.marker_ts > del && (r.marker_expires_s == 0 || r.marker_expires_s > now)) return true;
        for (auto& cl : r.cells) {
            if (live(cl, now, del)) return true;
        }
        return false;
    };

    if (lwt) {
        // One row only, as Cassandra requires for conditional statements.
        if (pks.size() != 1 || cks.size() != 1) {
            e.error = error_message::invalid("IN on the partition key is not supported with conditional updates");
            return e;
        }
        partition* p = get_partition(pks[0], false);
        const row* existing = nullptr;
        if (p) {
            auto it = p->rows.find(compose(cks[0]));
            if (it != p->rows.end() && row_live(*p, it->second)) existing = &it->second;
        }
        bool applied;
        if (if_not_exists) {
            applied = existing == nullptr;
        } else if (if_exists) {
            applied = existing != nullptr;
        } else {
            applied = existing != nullptr;
            for (auto& cond : conditions) {
                int ci = d.find(cond.columns.at(0));
                if (ci < 0) {
                    e.error = error_message::invalid("Undefined column name " + cond.columns[0]);
                    return e;
                }
                const column& col = d.columns[static_cast<size_t>(ci)];
                auto v = evaluate(cond.values.at(0), col.type, col.name, ec, ee);
                if (!v) {
                    e.error = error_message::invalid(ee);
                    return e;
                }
                std::optional<std::string> current;
                if (existing && live(existing->cells[static_cast<size_t>(ci)], now, std::max(p->deleted_ts, existing->deleted_ts))) {
                    current = existing->cells[static_cast<size_t>(ci)].value;
                }
                bool ok;
                if (!v->bytes || !current) {
                    ok = (cond.o == relation::op::eq) == (!v->bytes && !current);
                } else {
                    int cmp = compare_values(col.type, *current, *v->bytes);
                    switch (cond.o) {
                        case relation::op::eq: ok = cmp == 0; break;
                        case relation::op::ne: ok = cmp != 0; break;
                        case relation::op::lt: ok = cmp < 0; break;
                        case relation::op::le: ok = cmp <= 0; break;
                        case relation::op::gt: ok = cmp > 0; break;
                        case relation::op::ge: ok = cmp >= 0; break;
                        default: ok = false; break;
                    }
                }
                applied = applied && ok;
            }
        }
        cql::rows_metadata md;
        md.columns.push_back({d.keyspace, d.name, "[applied]", cql_type::simple(type_id::boolean)});
        bool show_existing = !applied && existing;
        if (show_existing) {
            for (auto& col : d.columns) md.columns.push_back({d.keyspace, d.name, col.name, col.type});
        }
        md.column_count = static_cast<int32_t>(md.columns.size());
        cql::rows_writer rw(e.body, md, c.version);
        rw.cell(std::string(1, applied ? 1 : 0));
        if (show_existing) {
            for (size_t i = 0; i < d.columns.size(); ++i) {
                const column& col = d.columns[i];
                if (col.kind == column_kind::partition_key) {
                    rw.cell(pks[0][static_cast<size_t>(col.position)]);
                } else if (col.kind == column_kind::clustering) {
                    rw.cell(cks[0][static_cast<size_t>(col.position)]);
                } else if (live(existing->cells[i], now, std::max(p->deleted_ts, existing->deleted_ts))) {
                    rw.cell(*existing->cells[i].value);
                } else {
                    rw.cell(std::nullopt);
                }
            }
        }
        rw.end_row();
        rw.finish();
        if (!applied) return e;
    }

    for (auto& pk : pks) {
        for (auto& ck : cks) {
            bool is_delete = std::holds_alternative<const delete_*>(w);
            partition* p = get_partition(pk, !is_delete || true);
            if (is_delete && values.empty()) {
                if (d.ck.empty() || !ck.empty()) {
                    auto& r = p->rows[compose(ck)];
                    r.cells.resize(d.columns.size());
                    r.deleted_ts = std::max(r.deleted_ts, ts);
                } else {
                    p->deleted_ts = std::max(p->deleted_ts, ts);
                }
                continue;
            }
            row statics_only_row;  // a static-only write touches no row
            auto& r = static_only ? statics_only_row : p->rows[compose(ck)];
            r.cells.resize(d.columns.size());
            if (std::holds_alternative<const insert*>(w) && !static_only && ts >= r.marker_ts) {
                r.marker_ts = ts;
                r.marker_expires_s = expires;
            }
            for (auto& [packed, v] : values) {
                int ci = packed & 0xFFFFFF;
                auto o = static_cast<assignment::op>(packed >> 24);
                const column& col = d.columns[static_cast<size_t>(ci)];
                std::vector<cell>& cells = col.kind == column_kind::static_ ? p->statics : r.cells;
                cells.resize(d.columns.size());
                cell& target = cells[static_cast<size_t>(ci)];
                if (v.unset && v.bytes) {
                    // A delta: counters add, collections append/remove.
                    int64_t del = std::max(p->deleted_ts, r.deleted_ts);
                    std::optional<std::string> cur = live(target, now, del) ? target.value : std::nullopt;
                    std::string next;
                    if (o == assignment::op::set_element) {
                        // List element replacement: [int index][element bytes].
                        auto base = cur ? cql::decode_value(col.type, *cur) : cql::result<cql::cql_value>(cql::cql_value(cql::cql_list{}));
                        if (!base) continue;
                        auto& l = std::get<cql::cql_list>(base->v);
                        auto index = static_cast<int32_t>(cql::load_be32(v.bytes->data()));
                        if (index < 0 || static_cast<size_t>(index) >= l.size()) {
                            e.error = error_message::invalid("Invalid index " + std::to_string(index) + ", list has size " + std::to_string(l.size()));
                            return e;
                        }
                        auto element = cql::decode_value(col.type.params.at(0), std::string_view(*v.bytes).substr(4));
                        if (!element) continue;
                        l[static_cast<size_t>(index)] = std::move(*element);
                        if (!cql::encode_value(col.type, *base, next)) continue;
                        target = cell{next, ts, expires, ttl};
                        continue;
                    }
                    if (col.type.id == type_id::counter) {
                        int64_t base = cur && cur->size() == 8 ? static_cast<int64_t>(cql::load_be64(cur->data())) : 0;
                        int64_t delta = static_cast<int64_t>(cql::load_be64(v.bytes->data()));
                        int64_t sum = o == assignment::op::subtract ? base - delta : base + delta;
                        char b[8];
                        cql::store_be64(b, static_cast<uint64_t>(sum));
                        next.assign(b, 8);
                    } else {
                        auto base = cur ? cql::decode_value(col.type, *cur) : cql::result<cql::cql_value>(cql::cql_value(col.type.id == type_id::map ? cql::cql_value(cql::cql_map{}) : cql::cql_value(cql::cql_list{})));
                        auto delta = cql::decode_value(col.type, *v.bytes);
                        if (!base || !delta) continue;
                        if (col.type.id == type_id::map) {
                            auto& m = std::get<cql::cql_map>(base->v);
                            auto& dm = std::get<cql::cql_map>(delta->v);
                            for (auto& entry : dm) {
                                const auto& k = entry.first;
                                const auto& val = entry.second;
                                auto it = std::find_if(m.begin(), m.end(), [&](auto& kv) { return kv.first == k; });
                                if (o == assignment::op::subtract) {
                                    if (it != m.end()) m.erase(it);
                                } else if (it != m.end()) {
                                    it->second = val;
                                } else {
                                    m.emplace_back(k, val);
                                }
                            }
                        } else {
                            auto& l = std::get<cql::cql_list>(base->v);
                            auto& dl = std::get<cql::cql_list>(delta->v);
                            if (o == assignment::op::subtract) {
                                l.erase(std::remove_if(l.begin(), l.end(), [&](auto& x) { return std::find(dl.begin(), dl.end(), x) != dl.end(); }), l.end());
                            } else if (o == assignment::op::prepend) {
                                l.insert(l.begin(), dl.begin(), dl.end());
                            } else {
                                for (auto& x : dl) {
                                    if (col.type.id != type_id::set || std::find(l.begin(), l.end(), x) == l.end()) l.push_back(x);
                                }
                            }
                        }
                        if (!cql::encode_value(col.type, *base, next)) continue;
                    }
                    target = cell{next, ts, expires, ttl};
                    continue;
                }
                merge_cell(target, cell{v.bytes, ts, v.bytes ? expires : 0, v.bytes ? ttl : 0});
            }
        }
    }
    if (!lwt) {
        cql::result_message vr;
        vr.encode(e.body, c.version);
    }
    return e;
}

execution cluster::run_select(exec_ctx& c, const select& s, const prepared_statement* prep) {
    execution e;
    error_message err;
    auto t = find_table(s.keyspace, s.table, c.s, err);
    if (!t) {
        e.error = err;
        return e;
    }
    const table_def& d = t->def;
    eval_context ec{&c.b.values, c.now_us};
    restrictions r;
    if (!restrict(d, s.where, ec, r, err, false)) {
        e.error = err;
        return e;
    }
    for (auto& f : r.filters) {
        if (!s.allow_filtering && !(d.keyspace == "system_schema" || d.keyspace == "system")) {
            e.error = error_message::invalid("Cannot execute this query as it might involve data filtering and thus may have "
                                             "unpredictable performance. If you want to execute this query despite the "
                                             "performance unpredictability, use ALLOW FILTERING");
            return e;
        }
        (void)f;
    }
    int64_t limit = INT64_MAX, per_partition = INT64_MAX;
    std::string ee;
    if (s.limit) {
        auto v = evaluate(*s.limit, cql_type::simple(type_id::int_), "[limit]", ec, ee);
        if (!v || !v->bytes) {
            e.error = error_message::invalid(ee.empty() ? "Invalid null value of limit" : ee);
            return e;
        }
        limit = static_cast<int32_t>(cql::load_be32(v->bytes->data()));
        if (limit <= 0) {
            e.error = error_message::invalid("LIMIT must be strictly positive");
            return e;
        }
    }
    if (s.per_partition_limit) {
        auto v = evaluate(*s.per_partition_limit, cql_type::simple(type_id::int_), "[per_partition_limit]", ec, ee);
        if (v && v->bytes) per_partition = static_cast<int32_t>(cql::load_be32(v->bytes->data()));
    }
    bool reversed = false;
    if (!s.order_by.empty()) {
        int ci = d.find(s.order_by[0].first);
        if (ci < 0 || d.columns[static_cast<size_t>(ci)].kind != column_kind::clustering) {
            e.error = error_message::invalid("Order by is currently only supported on the clustered columns of the PRIMARY KEY, got " + s.order_by[0].first);
            return e;
        }
        reversed = s.order_by[0].second != d.columns[static_cast<size_t>(ci)].descending;
    }

    // The result columns.
    struct out_col {
        selector::kind k;
        int column;
    };
    std::vector<out_col> outs;
    cql::rows_metadata md;
    bool aggregate = false;
    for (auto& sel : s.selectors) {
        switch (sel.k) {
            case selector::kind::star:
                for (size_t i = 0; i < d.columns.size(); ++i) {
                    if (d.columns[i].name.rfind("\x01", 0) == 0) continue;
                    outs.push_back({selector::kind::column, static_cast<int>(i)});
                    md.columns.push_back({d.keyspace, d.name, d.columns[i].name, d.columns[i].type});
                }
                break;
            case selector::kind::column:
            case selector::kind::writetime:
            case selector::kind::ttl: {
                int ci = d.find(sel.column);
                if (ci < 0) {
                    e.error = error_message::invalid("Undefined column name " + sel.column);
                    return e;
                }
                outs.push_back({sel.k, ci});
                std::string name = sel.alias.empty() ? (sel.k == selector::kind::column ? sel.column
                                                         : sel.k == selector::kind::ttl ? "ttl(" + sel.column + ")"
                                                                                       : "writetime(" + sel.column + ")")
                                                     : sel.alias;
                cql_type ty = sel.k == selector::kind::column ? d.columns[static_cast<size_t>(ci)].type
                              : sel.k == selector::kind::ttl  ? cql_type::simple(type_id::int_)
                                                              : cql_type::simple(type_id::bigint);
                md.columns.push_back({d.keyspace, d.name, name, ty});
                break;
            }
            case selector::kind::count:
                aggregate = true;
                outs.push_back({selector::kind::count, -1});
                md.columns.push_back({d.keyspace, d.name, sel.alias.empty() ? "count" : sel.alias, cql_type::simple(type_id::bigint)});
                break;
            case selector::kind::function:
                e.error = error_message::invalid("cqlsim does not support the function " + sel.column + " in selections");
                return e;
        }
    }
    md.column_count = static_cast<int32_t>(md.columns.size());

    // Paging: the state is [int rows returned so far][short bytes partition key][short bytes
    // clustering key] of the last row sent; a new page starts after that row.
    int64_t returned_before = 0;
    std::optional<std::pair<std::string, std::string>> resume;
    if (c.paging_state && c.paging_state->size() >= 8) {
        cql::reader pr(*c.paging_state);
        returned_before = pr.read_int();
        auto pk = pr.read_short_bytes();
        auto ck = pr.read_short_bytes();
        if (pr.ok()) resume = std::make_pair(std::string(pk), std::string(ck));
    }
    int64_t page = c.page_size > 0 ? c.page_size : INT64_MAX;
    if (aggregate) page = INT64_MAX;

    int64_t now = now_s();
    std::vector<std::vector<std::optional<std::string>>> rows;
    int64_t count = 0;
    bool more = false;
    std::string last_pk, last_ck;
    bool skipping = resume.has_value();

    auto visit_partition = [&](partition& p) -> bool {  // false: stop everything
        int64_t in_partition = 0;
        auto emit = [&](const row* rw, const std::string& ck_key) -> bool {
            if (skipping) {
                if (p.key == resume->first && ck_key == resume->second) skipping = false;
                return true;
            }
            if (returned_before + count >= limit) return false;
            if (static_cast<int64_t>(rows.size()) >= page) {
                more = true;
                return false;
            }
            auto cks = decompose(ck_key);
            int64_t del = std::max(p.deleted_ts, rw ? rw->deleted_ts : INT64_MIN);
            // Filters on regular columns.
            for (auto& f : r.filters) {
                const column& col = d.columns[static_cast<size_t>(f.column)];
                std::optional<std::string> v;
                if (col.kind == column_kind::partition_key) {
                    v = p.components[static_cast<size_t>(col.position)];
                } else if (col.kind == column_kind::clustering) {
                    if (static_cast<size_t>(col.position) < cks.size()) v = std::string(cks[static_cast<size_t>(col.position)]);
                } else {
                    const auto& cells = col.kind == column_kind::static_ ? p.statics : rw->cells;
                    if (static_cast<size_t>(f.column) < cells.size() && live(cells[static_cast<size_t>(f.column)], now, p.deleted_ts)) {
                        v = cells[static_cast<size_t>(f.column)].value;
                    }
                }
                if (!v) return true;
                bool ok = false;
                for (auto& want : f.values) {
                    int cmp = compare_values(col.type, *v, want);
                    switch (f.o) {
                        case relation::op::eq: case relation::op::in: ok = ok || cmp == 0; break;
                        case relation::op::ne: ok = cmp != 0; break;
                        case relation::op::lt: ok = cmp < 0; break;
                        case relation::op::le: ok = cmp <= 0; break;
                        case relation::op::gt: ok = cmp > 0; break;
                        case relation::op::ge: ok = cmp >= 0; break;
                        default: break;
                    }
                }
                if (!ok) return true;
            }
            if (in_partition >= per_partition) return true;
            ++in_partition;
            ++count;
            last_pk = p.key;
            last_ck = ck_key;
            if (aggregate) return true;
            std::vector<std::optional<std::string>> out;
            for (auto& o : outs) {
                const column& col = d.columns[static_cast<size_t>(o.column)];
                const cell* cl = nullptr;
                if (col.kind == column_kind::partition_key) {
                    out.emplace_back(p.components[static_cast<size_t>(col.position)]);
                    continue;
                }
                if (col.kind == column_kind::clustering) {
                    if (static_cast<size_t>(col.position) < cks.size()) {
                        out.emplace_back(std::string(cks[static_cast<size_t>(col.position)]));
                    } else {
                        out.emplace_back(std::nullopt);
                    }
                    continue;
                }
                const auto& cells = col.kind == column_kind::static_ ? p.statics : (rw ? rw->cells : p.statics);
                if (static_cast<size_t>(o.column) < cells.size()) cl = &cells[static_cast<size_t>(o.column)];
                int64_t cdel = col.kind == column_kind::static_ ? p.deleted_ts : del;
                if (!cl || !live(*cl, now, cdel)) {
                    out.emplace_back(std::nullopt);
                    continue;
                }
                if (o.k == selector::kind::column) {
                    out.emplace_back(cl->value);
                } else if (o.k == selector::kind::writetime) {
                    char b[8];
                    cql::store_be64(b, static_cast<uint64_t>(cl->timestamp));
                    out.emplace_back(std::string(b, 8));
                } else if (cl->expires_s == 0) {
                    out.emplace_back(std::nullopt);
                } else {
                    char b[4];
                    cql::store_be32(b, static_cast<uint32_t>(cl->expires_s - now));
                    out.emplace_back(std::string(b, 4));
                }
            }
            rows.push_back(std::move(out));
            return true;
        };
        auto row_ok = [&](const std::string& key, const row& rw) {
            int64_t del = std::max(p.deleted_ts, rw.deleted_ts);
            bool alive = rw.marker_ts != INT64_MIN && rw.marker_ts > del && (rw.marker_expires_s == 0 || rw.marker_expires_s > now);
            for (size_t i = 0; !alive && i < rw.cells.size(); ++i) alive = live(rw.cells[i], now, del);
            if (!alive) return false;
            auto parts = decompose(key);
            for (size_t i = 0; i < r.ck.size(); ++i) {
                const column& col = d.columns[static_cast<size_t>(d.ck[i])];
                bool any = false;
                for (auto& v : r.ck[i]) any = any || compare_values(col.type, parts[i], v) == 0;
                if (!any) return false;
            }
            if (r.lo || r.hi) {
                const column& col = d.columns[static_cast<size_t>(d.ck[r.ck.size()])];
                int lo = r.lo ? compare_values(col.type, parts[r.ck.size()], r.lo->value) : 1;
                int hi = r.hi ? compare_values(col.type, parts[r.ck.size()], r.hi->value) : -1;
                if (lo < 0 || (lo == 0 && !r.lo->inclusive)) return false;
                if (hi > 0 || (hi == 0 && !r.hi->inclusive)) return false;
            }
            return true;
        };
        bool any_row = false;
        auto handle = [&](const std::string& key, const row& rw) -> bool {
            if (!row_ok(key, rw)) return true;
            any_row = true;
            return emit(&rw, key);
        };
        if (reversed) {
            for (auto it = p.rows.rbegin(); it != p.rows.rend(); ++it) {
                if (!handle(it->first, it->second)) return false;
            }
        } else {
            for (auto& [key, rw] : p.rows) {
                if (!handle(key, rw)) return false;
            }
        }
        if (!any_row && r.ck.empty() && !r.lo && !r.hi) {
            // A partition with only static cells still shows up, clustering columns null.
            bool statics = false;
            for (auto& cl : p.statics) statics = statics || live(cl, now, p.deleted_ts);
            if (statics) return emit(nullptr, std::string());
        }
        return true;
    };

    if (r.pk_complete && !d.pk.empty() && !r.pk.empty() && !r.pk[0].empty()) {
        for (auto& pk : product(r.pk)) {
            partition* p = t->find(partition_key_bytes(pk));
            if (!p) continue;
            if (!visit_partition(*p)) break;
        }
    } else {
        // The scan starts where it must (the token range's start, or the partition the previous
        // page ended in) instead of at the first partition: a token-range read or a later page
        // costs what it returns, not the table's size.
        std::pair<int64_t, std::string> from{INT64_MIN, std::string()};
        if (r.token_lo) from = std::max(from, std::pair<int64_t, std::string>{*r.token_lo, std::string()});
        if (resume) from = std::max(from, std::pair<int64_t, std::string>{cql::murmur3_token(resume->first), resume->first});
        auto it = t->partitions.lower_bound(from);
        if (resume && (it == t->partitions.end() || it->second.key != resume->first)) skipping = false;  // that partition is gone
        for (; it != t->partitions.end(); ++it) {
            const auto& id = it->first;
            if (r.token_hi && (id.first > *r.token_hi || (id.first == *r.token_hi && !r.token_hi_incl))) break;
            if (r.token_lo && (id.first < *r.token_lo || (id.first == *r.token_lo && !r.token_lo_incl))) continue;
            if (!visit_partition(it->second)) break;
        }
    }

    if (aggregate) {
        rows.clear();
        std::vector<std::optional<std::string>> out;
        for (size_t i = 0; i < outs.size(); ++i) {
            char b[8];
            cql::store_be64(b, static_cast<uint64_t>(count));
            out.emplace_back(std::string(b, 8));
        }
        rows.push_back(std::move(out));
    }
    if (more) {
        std::string state;
        cql::writer w(state);
        w.write_int(static_cast<int32_t>(returned_before + count));
        w.write_short_bytes(last_pk);
        w.write_short_bytes(last_ck);
        md.paging_state = state;
    }
    // A prepared statement executed with skip_metadata gets no column specs back.
    if (prep && c.skip_metadata) {
        md.no_metadata = true;
        md.column_count = static_cast<int32_t>(md.columns.size());
    }
    cql::rows_writer w(e.body, md, c.version);
    for (auto& row_values : rows) {
        for (auto& v : row_values) w.cell(v ? std::optional<std::string_view>(*v) : std::nullopt);
        w.end_row();
    }
    w.finish();
    return e;
}

}  // namespace tandem::cqlsim
