#include "core/migrate/schema.hh"

#include <algorithm>
#include <cstdio>

#include "cql/primitives.hh"
#include "cql/types.hh"

namespace tandem::core::migrate {

namespace {

std::string quoted(const std::string& name) { return "\"" + name + "\""; }

std::string text_of(const std::optional<std::string>& cell) { return cell ? *cell : std::string(); }

int32_t int_of(const std::optional<std::string>& cell) {
    return cell && cell->size() == 4 ? static_cast<int32_t>(cql::load_be32(cell->data())) : 0;
}

std::string token_of(const table_schema& t) {
    std::string s = "token(";
    for (size_t i = 0; i < t.partition_key.size(); ++i) s += (i ? ", " : "") + quoted(t.partition_key[i].name);
    return s + ")";
}

}  // namespace

bool table_schema::counters() const {
    return std::any_of(cells.begin(), cells.end(), [](const column& c) { return c.counter; });
}

std::string table_schema::qualified() const { return quoted(keyspace) + "." + quoted(name); }

namespace {

// One system_schema.columns row (table_name, column_name, clustering_order, kind, position,
// type) into its table.
void add_column(std::map<std::string, table_schema>& tables, const std::string& keyspace, const std::vector<std::optional<std::string>>& row) {
    auto& t = tables[text_of(row[0])];
    t.keyspace = keyspace;
    t.name = text_of(row[0]);
    column c;
    c.name = text_of(row[1]);
    c.descending = text_of(row[2]) == "desc";
    const std::string kind = text_of(row[3]);
    c.position = int_of(row[4]);
    c.type = text_of(row[5]);
    auto parsed = cql::parse_cql_type(c.type);
    const bool frozen = c.type.rfind("frozen<", 0) == 0;
    c.multi_cell = !frozen && parsed && (parsed->is_collection() || parsed->id == cql::type_id::udt);
    c.counter = c.type == "counter";
    if (kind == "partition_key") {
        c.kind = column_kind::partition_key;
        t.partition_key.push_back(c);
    } else if (kind == "clustering") {
        c.kind = column_kind::clustering;
        t.clustering.push_back(c);
    } else {
        c.kind = kind == "static" ? column_kind::static_ : column_kind::regular;
        t.cells.push_back(c);
    }
}

void sort_columns(std::map<std::string, table_schema>& tables) {
    auto by_position = [](const column& a, const column& b) { return a.position < b.position; };
    for (auto& [name, t] : tables) {
        std::sort(t.partition_key.begin(), t.partition_key.end(), by_position);
        std::sort(t.clustering.begin(), t.clustering.end(), by_position);
        std::sort(t.cells.begin(), t.cells.end(), [](const column& a, const column& b) { return a.name < b.name; });
    }
}

}  // namespace

std::map<std::string, table_schema> read_schema(client::blocking_session& s, const std::string& keyspace, std::string& error) {
    std::map<std::string, table_schema> out;
    auto r = s.query("SELECT table_name, column_name, clustering_order, kind, position, type FROM system_schema.columns WHERE keyspace_name = ?",
                     {keyspace}, cql::consistency::one);
    if (!r.ok()) {
        error = "cannot read the schema of keyspace " + keyspace + ": " + r.error;
        return out;
    }
    for (const auto& row : r.rows.rows) {
        if (row.size() >= 6) add_column(out, keyspace, row);
    }
    sort_columns(out);
    if (out.empty()) error = "keyspace " + keyspace + " has no tables (or does not exist)";
    return out;
}

std::map<std::string, std::map<std::string, table_schema>> read_all_schemas(client::blocking_session& s, std::string& error) {
    std::map<std::string, std::map<std::string, table_schema>> out;
    auto r = s.query("SELECT keyspace_name, table_name, column_name, clustering_order, kind, position, type FROM system_schema.columns", {},
                     cql::consistency::one);
    if (!r.ok()) {
        error = "cannot read system_schema.columns: " + r.error;
        return out;
    }
    for (const auto& row : r.rows.rows) {
        if (row.size() < 7) continue;
        const std::string ks = text_of(row[0]);
        add_column(out[ks], ks, std::vector<std::optional<std::string>>(row.begin() + 1, row.end()));
    }
    for (auto& [ks, tables] : out) sort_columns(tables);
    return out;
}

std::vector<std::string> schema_differences(const table_schema& o, const table_schema* t) {
    std::vector<std::string> out;
    const std::string name = o.keyspace + "." + o.name;
    if (!t) {
        out.push_back("table " + name + " does not exist on target");
        return out;
    }
    auto key_layout = [](const std::vector<column>& cs) {
        std::string s;
        for (const auto& c : cs) s += c.name + " " + c.type + (c.descending ? " desc" : "") + ", ";
        return s;
    };
    if (key_layout(o.partition_key) != key_layout(t->partition_key)) {
        out.push_back("table " + name + ": partition key (" + key_layout(o.partition_key) + ") differs on target (" + key_layout(t->partition_key) + ")");
    }
    if (key_layout(o.clustering) != key_layout(t->clustering)) {
        out.push_back("table " + name + ": clustering columns (" + key_layout(o.clustering) + ") differ on target (" + key_layout(t->clustering) + ")");
    }
    for (const auto& c : o.cells) {
        auto it = std::find_if(t->cells.begin(), t->cells.end(), [&](const column& x) { return x.name == c.name; });
        if (it == t->cells.end()) {
            out.push_back("table " + name + ": column " + c.name + " (" + c.type + ") does not exist on target");
        } else if (it->type != c.type || it->kind != c.kind) {
            out.push_back("table " + name + ": column " + c.name + " is " + c.type + (c.kind == column_kind::static_ ? " static" : "") +
                          " on origin, " + it->type + (it->kind == column_kind::static_ ? " static" : "") + " on target");
        }
    }
    return out;
}

read_plan plan_read(const table_schema& t, bool first) {
    read_plan p;
    std::string cols;
    size_t at = 0;
    for (const auto* keys : {&t.partition_key, &t.clustering}) {
        for (const auto& c : *keys) {
            cols += (at ? ", " : "") + quoted(c.name);
            ++at;
        }
    }
    p.key_columns = at;
    for (const auto& c : t.cells) {
        read_plan::cell_at a{at++};
        cols += ", " + quoted(c.name);
        if (!c.multi_cell && !c.counter) {
            cols += ", writetime(" + quoted(c.name) + "), ttl(" + quoted(c.name) + ")";
            a.writetime = static_cast<int>(at++);
            a.ttl = static_cast<int>(at++);
        }
        p.cells.push_back(a);
    }
    const std::string token = token_of(t);
    p.text = "SELECT " + cols + " FROM " + t.qualified() + " WHERE " + token + (first ? " >= ?" : " > ?") + " AND " + token + " <= ?";
    return p;
}

read_plan plan_key_read(const table_schema& t) {
    read_plan p = plan_read(t, true);
    std::string where;
    for (const auto* keys : {&t.partition_key, &t.clustering}) {
        for (const auto& c : *keys) where += (where.empty() ? "" : " AND ") + quoted(c.name) + " = ?";
    }
    p.text = p.text.substr(0, p.text.find(" WHERE ")) + " WHERE " + where;
    return p;
}

std::string insert_text(const table_schema& t, const std::vector<size_t>& columns, bool with_clustering, bool with_timestamp) {
    std::string names, markers;
    auto add = [&](const std::string& n) {
        names += (names.empty() ? "" : ", ") + quoted(n);
        markers += markers.empty() ? "?" : ", ?";
    };
    for (const auto& c : t.partition_key) add(c.name);
    if (with_clustering) {
        for (const auto& c : t.clustering) add(c.name);
    }
    for (size_t i : columns) add(t.cells[i].name);
    std::string s = "INSERT INTO " + t.qualified() + " (" + names + ") VALUES (" + markers + ")";
    if (with_timestamp) s += " USING TIMESTAMP ? AND TTL ?";
    return s;
}

std::string counter_update_text(const table_schema& t, const std::vector<size_t>& columns) {
    std::string set, where;
    for (size_t i : columns) set += (set.empty() ? "" : ", ") + quoted(t.cells[i].name) + " = " + quoted(t.cells[i].name) + " + ?";
    for (const auto* keys : {&t.partition_key, &t.clustering}) {
        for (const auto& c : *keys) where += (where.empty() ? "" : " AND ") + quoted(c.name) + " = ?";
    }
    return "UPDATE " + t.qualified() + " SET " + set + " WHERE " + where;
}

std::string display_value(const std::string& type, const std::optional<std::string>& b) {
    if (!b) return "null";
    const std::string& v = *b;
    char buf[64];
    if ((type == "int" && v.size() == 4)) return std::to_string(static_cast<int32_t>(cql::load_be32(v.data())));
    if ((type == "bigint" || type == "counter" || type == "timestamp") && v.size() == 8) {
        return std::to_string(static_cast<int64_t>(cql::load_be64(v.data())));
    }
    if (type == "smallint" && v.size() == 2) return std::to_string(static_cast<int16_t>(cql::load_be16(v.data())));
    if (type == "tinyint" && v.size() == 1) return std::to_string(static_cast<int8_t>(v[0]));
    if (type == "boolean" && v.size() == 1) return v[0] ? "true" : "false";
    if (type == "text" || type == "varchar" || type == "ascii") return v;
    if ((type == "uuid" || type == "timeuuid") && v.size() == 16) return cql::uuid_text(v);
    std::string s = "0x";
    for (char c : v) {
        std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>(static_cast<uint8_t>(c)));
        s += buf;
    }
    return s;
}

}  // namespace tandem::core::migrate
