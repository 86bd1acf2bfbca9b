#include "core/fleet/preflight.hh"

#include "core/client/token_ring.hh"
#include "cql/primitives.hh"

namespace tandem::core::fleet {

namespace {

std::string text_of(const std::optional<std::string>& c) { return c ? *c : std::string(); }

// A map<text, text> cell as "k=v,k=v" (keys in the order stored: Cassandra sorts them).
std::string text_map(const std::optional<std::string>& cell) {
    if (!cell || cell->size() < 4) return {};
    std::string out;
    const std::string& b = *cell;
    const uint32_t n = cql::load_be32(b.data());
    size_t at = 4;
    auto next = [&](std::string& v) {
        if (at + 4 > b.size()) return false;
        const auto len = static_cast<int32_t>(cql::load_be32(b.data() + at));
        at += 4;
        if (len < 0 || at + static_cast<size_t>(len) > b.size()) return false;
        v.assign(b.data() + at, static_cast<size_t>(len));
        at += static_cast<size_t>(len);
        return true;
    };
    for (uint32_t i = 0; i < n; ++i) {
        std::string k, v;
        if (!next(k) || !next(v)) break;
        out += (out.empty() ? "" : ",") + k + "=" + v;
    }
    return out;
}

std::string int_text(const std::optional<std::string>& c) {
    return c && c->size() == 4 ? std::to_string(static_cast<int32_t>(cql::load_be32(c->data()))) : "null";
}

}  // namespace

bool is_internal_keyspace(const std::string& name) {
    return name == "system" || name.rfind("system_", 0) == 0 || name.rfind("dse_", 0) == 0 || name == "solr_admin" || name == "OpsCenter" || name == "cqlsim";
}

cluster_schema read_cluster_schema(client::blocking_session& s, std::string& error) {
    cluster_schema out;
    auto ks = s.query("SELECT keyspace_name, replication FROM system_schema.keyspaces", {}, cql::consistency::one);
    if (!ks.ok()) {
        error = "cannot read system_schema.keyspaces: " + ks.error;
        return out;
    }
    for (const auto& row : ks.rows.rows) {
        if (row.size() < 2 || is_internal_keyspace(text_of(row[0]))) continue;
        out[text_of(row[0])].replication = text_map(row[1]);
    }
    auto tables = migrate::read_all_schemas(s, error);
    if (!error.empty()) return out;
    for (auto& [name, t] : tables) {
        if (out.count(name)) out[name].tables = std::move(t);
    }
    auto types = s.query("SELECT keyspace_name, type_name, field_names, field_types FROM system_schema.types", {}, cql::consistency::one);
    if (!types.ok()) {
        error = "cannot read system_schema.types: " + types.error;
        return out;
    }
    for (const auto& row : types.rows.rows) {
        if (row.size() < 4 || !out.count(text_of(row[0]))) continue;
        auto names = client::text_collection(row[2] ? std::optional<std::string_view>(*row[2]) : std::nullopt);
        auto kinds = client::text_collection(row[3] ? std::optional<std::string_view>(*row[3]) : std::nullopt);
        std::string fields;
        for (size_t i = 0; names && kinds && i < names->size() && i < kinds->size(); ++i) {
            fields += (fields.empty() ? "" : ", ") + (*names)[i] + " " + (*kinds)[i];
        }
        out[text_of(row[0])].udts[text_of(row[1])] = fields;
    }
    auto options = s.query("SELECT keyspace_name, table_name, default_time_to_live, gc_grace_seconds FROM system_schema.tables", {},
                           cql::consistency::one);
    if (options.ok()) {  // options are warnings only: a cluster that cannot list them is not stopped
        for (const auto& row : options.rows.rows) {
            if (row.size() < 4 || !out.count(text_of(row[0]))) continue;
            out[text_of(row[0])].table_options[text_of(row[1])] =
                "default_time_to_live=" + int_text(row[2]) + ", gc_grace_seconds=" + int_text(row[3]);
        }
    }
    return out;
}

schema_report schema_diff(const cluster_schema& origin, const cluster_schema& target) {
    schema_report r;
    for (const auto& [ks, o] : origin) {
        auto t_it = target.find(ks);
        if (t_it == target.end()) {
            r.errors.push_back("keyspace " + ks + " does not exist on target (" + std::to_string(o.tables.size()) + " tables on origin)");
            continue;
        }
        const keyspace_schema& t = t_it->second;
        if (o.replication != t.replication) {
            r.warnings.push_back("keyspace " + ks + ": replication is {" + o.replication + "} on origin, {" + t.replication + "} on target");
        }
        for (const auto& [name, fields] : o.udts) {
            auto u = t.udts.find(name);
            if (u == t.udts.end()) {
                r.errors.push_back("type " + ks + "." + name + " does not exist on target");
            } else if (u->second != fields) {
                r.errors.push_back("type " + ks + "." + name + " is (" + fields + ") on origin, (" + u->second + ") on target");
            }
        }
        for (const auto& [name, table] : o.tables) {
            auto tt = t.tables.find(name);
            for (auto& d : migrate::schema_differences(table, tt == t.tables.end() ? nullptr : &tt->second)) r.errors.push_back(d);
            if (tt == t.tables.end()) continue;
            auto oo = o.table_options.find(name), to = t.table_options.find(name);
            if (oo != o.table_options.end() && to != t.table_options.end() && oo->second != to->second) {
                r.warnings.push_back("table " + ks + "." + name + ": " + oo->second + " on origin, " + to->second + " on target");
            }
        }
    }
    return r;
}

}  // namespace tandem::core::fleet
