#include "tools/cqlsim/cluster.hh"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "cql/envelope.hh"
#include "cql/murmur3.hh"
#include "cql/values.hh"
#include "tools/cqlsim/keys.hh"
#include "tools/cqlsim/values.hh"

namespace tandem::cqlsim {

using cql::cql_type;
using cql::error_message;
using cql::type_id;

namespace {

// The schema of the system tables drivers read, written as CQL and parsed like any DDL.
const char* const system_tables[] = {
    "CREATE TABLE system.local (key text PRIMARY KEY, bootstrapped text, broadcast_address inet, broadcast_port int, "
    "cluster_name text, cql_version text, data_center text, gossip_generation int, host_id uuid, listen_address inet, "
    "listen_port int, native_protocol_version text, partitioner text, rack text, release_version text, rpc_address inet, "
    "rpc_port int, schema_version uuid, tokens set<text>, truncated_at map<uuid, blob>)",
    "CREATE TABLE system.peers (peer inet PRIMARY KEY, data_center text, host_id uuid, preferred_ip inet, rack text, "
    "release_version text, rpc_address inet, schema_version uuid, tokens set<text>)",
    "CREATE TABLE system.peers_v2 (peer inet, peer_port int, data_center text, host_id uuid, native_address inet, "
    "native_port int, preferred_ip inet, preferred_port int, rack text, release_version text, schema_version uuid, "
    "tokens set<text>, PRIMARY KEY (peer, peer_port))",
    "CREATE TABLE system_schema.keyspaces (keyspace_name text PRIMARY KEY, durable_writes boolean, "
    "replication frozen<map<text, text>>)",
    "CREATE TABLE system_schema.tables (keyspace_name text, table_name text, bloom_filter_fp_chance double, "
    "caching frozen<map<text, text>>, comment text, compaction frozen<map<text, text>>, "
    "compression frozen<map<text, text>>, crc_check_chance double, default_time_to_live int, "
    "extensions frozen<map<text, blob>>, flags frozen<set<text>>, gc_grace_seconds int, id uuid, "
    "max_index_interval int, memtable_flush_period_in_ms int, min_index_interval int, speculative_retry text, "
    "PRIMARY KEY (keyspace_name, table_name))",
    "CREATE TABLE system_schema.columns (keyspace_name text, table_name text, column_name text, clustering_order text, "
    "column_name_bytes blob, kind text, position int, type text, PRIMARY KEY (keyspace_name, table_name, column_name))",
    "CREATE TABLE system_schema.types (keyspace_name text, type_name text, field_names frozen<list<text>>, "
    "field_types frozen<list<text>>, PRIMARY KEY (keyspace_name, type_name))",
    "CREATE TABLE system_schema.functions (keyspace_name text, function_name text, argument_types frozen<list<text>>, "
    "argument_names frozen<list<text>>, body text, called_on_null_input boolean, language text, return_type text, "
    "PRIMARY KEY (keyspace_name, function_name, argument_types))",
    "CREATE TABLE system_schema.aggregates (keyspace_name text, aggregate_name text, argument_types frozen<list<text>>, "
    "final_func text, initcond text, return_type text, state_func text, state_type text, "
    "PRIMARY KEY (keyspace_name, aggregate_name, argument_types))",
    "CREATE TABLE system_schema.indexes (keyspace_name text, table_name text, index_name text, kind text, "
    "options frozen<map<text, text>>, PRIMARY KEY (keyspace_name, table_name, index_name))",
    "CREATE TABLE system_schema.triggers (keyspace_name text, table_name text, trigger_name text, "
    "options frozen<map<text, text>>, PRIMARY KEY (keyspace_name, table_name, trigger_name))",
    "CREATE TABLE system_schema.views (keyspace_name text, view_name text, base_table_id uuid, base_table_name text, "
    "include_all_columns boolean, where_clause text, PRIMARY KEY (keyspace_name, view_name))",
    // cqlsim's own keyspace: what each node received, and faults to inject.
    "CREATE TABLE cqlsim.requests (node int, seq bigint, at_us bigint, opcode text, statement text, consistency text, "
    "client_timestamp bigint, connection bigint, PRIMARY KEY (node, seq))",
    "CREATE TABLE cqlsim.faults (node int, kind text, action text, value int, PRIMARY KEY (node, kind))",
    "CREATE TABLE cqlsim.nodes (node int PRIMARY KEY, up boolean)",
    // TRUNCATE cqlsim.prepared makes the cluster forget its prepared statements.
    "CREATE TABLE cqlsim.prepared (id blob PRIMARY KEY)",
};

int64_t wall_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string be32(int32_t v) {
    char b[4];
    cql::store_be32(b, static_cast<uint32_t>(v));
    return std::string(b, 4);
}
std::string be64(int64_t v) {
    char b[8];
    cql::store_be64(b, static_cast<uint64_t>(v));
    return std::string(b, 8);
}
std::string uuid_bytes_str(const cql::uuid_bytes& u) { return std::string(reinterpret_cast<const char*>(u.data()), 16); }

std::string encode(const cql_type& t, const cql::cql_value& v) {
    std::string out;
    (void)cql::encode_value(t, v, out);
    return out;
}

const cql_type text_t = cql_type::simple(type_id::varchar);

}  // namespace

partition& table::get(const std::string& key, const std::vector<std::string>& components) {
    if (partition* p = find(key)) return *p;
    auto& p = partitions[{cql::murmur3_token(key), key}];
    p.key = key;
    p.components = components;
    p.rows = std::map<std::string, row, clustering_less>(clustering_less{&def});
    p.statics.resize(def.columns.size());
    index[key] = &p;
    return p;
}

int table_def::find(const std::string& col) const {
    for (size_t i = 0; i < columns.size(); ++i) {
        if (columns[i].name == col) return static_cast<int>(i);
    }
    return -1;
}

bool clustering_less::operator()(const std::string& a, const std::string& b) const {
    auto pa = decompose(a);
    auto pb = decompose(b);
    for (size_t i = 0; i < def->ck.size() && i < pa.size() && i < pb.size(); ++i) {
        const column& c = def->columns[static_cast<size_t>(def->ck[i])];
        int r = compare_values(c.type, pa[i], pb[i]);
        if (r != 0) return c.descending ? r > 0 : r < 0;
    }
    return pa.size() < pb.size();
}

// ---- tables ----------------------------------------------------------------------------

std::shared_ptr<table> make_table(const create_table& ct, const std::string& ks, std::string& err) {
    auto t = std::make_shared<table>();
    t->def.keyspace = ks;
    t->def.name = ct.name;
    t->def.id = random_uuid();
    auto find_def = [&](const std::string& n) -> const column_def* {
        for (auto& c : ct.columns) {
            if (c.name == n) return &c;
        }
        return nullptr;
    };
    for (size_t i = 0; i < ct.partition_key.size(); ++i) {
        auto* c = find_def(ct.partition_key[i]);
        if (!c) {
            err = "Unknown definition " + ct.partition_key[i] + " referenced in PRIMARY KEY";
            return nullptr;
        }
        t->def.columns.push_back({c->name, c->type, column_kind::partition_key, static_cast<int>(i), false});
    }
    for (size_t i = 0; i < ct.clustering_key.size(); ++i) {
        auto* c = find_def(ct.clustering_key[i]);
        if (!c) {
            err = "Unknown definition " + ct.clustering_key[i] + " referenced in PRIMARY KEY";
            return nullptr;
        }
        bool desc = false;
        for (auto& [col, d] : ct.clustering_order) {
            if (col == c->name) desc = d;
        }
        t->def.columns.push_back({c->name, c->type, column_kind::clustering, static_cast<int>(i), desc});
    }
    std::vector<const column_def*> rest;
    for (auto& c : ct.columns) {
        bool key = std::find(ct.partition_key.begin(), ct.partition_key.end(), c.name) != ct.partition_key.end() ||
                   std::find(ct.clustering_key.begin(), ct.clustering_key.end(), c.name) != ct.clustering_key.end();
        if (!key) rest.push_back(&c);
    }
    std::sort(rest.begin(), rest.end(), [](auto* a, auto* b) { return a->name < b->name; });
    for (auto* c : rest) {
        if (c->is_static && ct.clustering_key.empty()) {
            err = "Static columns are only useful (and thus allowed) if the table has at least one clustering column";
            return nullptr;
        }
        t->def.columns.push_back({c->name, c->type, c->is_static ? column_kind::static_ : column_kind::regular, -1, false});
    }
    for (size_t i = 0; i < t->def.columns.size(); ++i) {
        if (t->def.columns[i].kind == column_kind::partition_key) t->def.pk.push_back(static_cast<int>(i));
        if (t->def.columns[i].kind == column_kind::clustering) t->def.ck.push_back(static_cast<int>(i));
    }
    return t;
}

cluster::cluster(cluster_config cfg) : _cfg(std::move(cfg)) {
    _schema_version = random_uuid();
    for (auto& n : _cfg.nodes) {
        if (n.host_id == cql::uuid_bytes{}) n.host_id = random_uuid();
    }
    keyspace_def sys{"system", {{"class", "org.apache.cassandra.locator.LocalStrategy"}}, true, {}, {}};
    keyspace_def schema{"system_schema", {{"class", "org.apache.cassandra.locator.LocalStrategy"}}, true, {}, {}};
    _keyspaces["system"] = sys;
    _keyspaces["system_schema"] = schema;
    _keyspaces["cqlsim"] = keyspace_def{"cqlsim", {{"class", "org.apache.cassandra.locator.LocalStrategy"}}, true, {}, {}};
    for (const char* ddl : system_tables) {
        auto parsed = parse_statement(ddl);
        auto& st = std::get<statement>(parsed);
        auto& ct = std::get<create_table>(st.s);
        std::string err;
        auto t = make_table(ct, ct.keyspace, err);
        _keyspaces[ct.keyspace].tables[ct.name] = t;
    }
    rebuild_schema_tables();
}

std::string cluster::release_version() const {
    if (_cfg.version == "3.11") return "3.11.16";
    if (_cfg.version == "5.0") return "5.0.2";
    return "4.1.5";
}

int64_t cluster::now_s() const { return wall_us() / 1'000'000 + _clock_offset_s; }

void cluster::log_request(int node, logged_request r) {
    auto& log = _logs[node];
    if (log.size() >= request_log_max) log.pop_front();
    log.push_back(std::move(r));
}

std::string cluster::prepared_text(std::string_view id) const {
    auto it = _prepared.find(std::string(id));
    return it == _prepared.end() ? std::string() : it->second.query;
}

fault cluster::fault_for(int node, const std::string& kind) {
    auto& t = *_keyspaces["cqlsim"].tables["faults"];
    fault out;
    if (t.partitions.empty()) return out;
    int best = -1;
    int64_t now = now_s();
    for (auto& [id, p] : t.partitions) {
        int rule_node = static_cast<int32_t>(cql::load_be32(p.components[0].data()));
        if (rule_node != node + 1 && rule_node != -1) continue;
        for (auto& [ck, r] : p.rows) {
            auto parts = decompose(ck);
            std::string rule_kind(parts.empty() ? std::string_view() : parts[0]);
            if (rule_kind != kind && rule_kind != "any") continue;
            int score = (rule_node == node + 1 ? 2 : 0) + (rule_kind == kind ? 1 : 0);
            int action_col = t.def.find("action"), value_col = t.def.find("value");
            const cell& a = r.cells[static_cast<size_t>(action_col)];
            if (!live(a, now, std::max(p.deleted_ts, r.deleted_ts)) || score <= best) continue;
            const std::string& act = *a.value;
            fault f;
            if (act == "latency") f.a = fault::action::latency;
            else if (act == "write_timeout") f.a = fault::action::write_timeout;
            else if (act == "read_timeout") f.a = fault::action::read_timeout;
            else if (act == "unavailable") f.a = fault::action::unavailable;
            else if (act == "overloaded") f.a = fault::action::overloaded;
            else if (act == "server_error") f.a = fault::action::server_error;
            else if (act == "drop") f.a = fault::action::drop;
            else if (act == "close") f.a = fault::action::close;
            const cell& v = r.cells[static_cast<size_t>(value_col)];
            if (live(v, now, std::max(p.deleted_ts, r.deleted_ts)) && v.value->size() == 4) {
                f.value = static_cast<int32_t>(cql::load_be32(v.value->data()));
            }
            best = score;
            out = f;
        }
    }
    return out;
}

bool cluster::node_up(int node) {
    auto& t = *_keyspaces["cqlsim"].tables["nodes"];
    if (t.partitions.empty()) return true;
    partition* p = t.find(be32(node + 1));
    if (!p) return true;
    for (auto& [ck, r] : p->rows) {
        int up_col = t.def.find("up");
        const cell& c = r.cells[static_cast<size_t>(up_col)];
        if (live(c, now_s(), std::max(p->deleted_ts, r.deleted_ts))) return c.value->size() == 1 && (*c.value)[0] != 0;
    }
    return true;
}

void cluster::bump_schema() {
    _schema_version = random_uuid();
    rebuild_schema_tables();
}

namespace {

// Writes one row of literal values into a system table (timestamp 0, never expires).
void put_row(table& t, const std::vector<std::pair<std::string, std::string>>& values) {
    std::vector<std::string> pk, ck;
    for (int i : t.def.pk) {
        for (auto& [n, v] : values) {
            if (n == t.def.columns[static_cast<size_t>(i)].name) pk.push_back(v);
        }
    }
    for (int i : t.def.ck) {
        for (auto& [n, v] : values) {
            if (n == t.def.columns[static_cast<size_t>(i)].name) ck.push_back(v);
        }
    }
    auto& p = t.get(partition_key_bytes(pk), pk);
    auto& r = p.rows[compose(ck)];
    r.cells.resize(t.def.columns.size());
    r.marker_ts = 0;
    for (auto& [n, v] : values) {
        int idx = t.def.find(n);
        if (idx >= 0 && t.def.columns[static_cast<size_t>(idx)].kind == column_kind::regular) {
            r.cells[static_cast<size_t>(idx)] = cell{v, 0, 0, 0};
        }
    }
}

std::string text_set(const std::vector<std::string>& items) {
    cql::cql_list l;
    for (auto& i : items) l.emplace_back(i);
    return encode(cql_type::set_of(text_t), cql::cql_value(std::move(l)));
}
std::string text_list(const std::vector<std::string>& items) {
    cql::cql_list l;
    for (auto& i : items) l.emplace_back(i);
    return encode(cql_type::list_of(text_t), cql::cql_value(std::move(l)));
}
std::string text_map(const std::vector<std::pair<std::string, std::string>>& items) {
    cql::cql_map m;
    for (auto& [k, v] : items) m.emplace_back(cql::cql_value(k), cql::cql_value(v));
    return encode(cql_type::map_of(text_t, text_t), cql::cql_value(std::move(m)));
}
std::string inet_bytes(const std::string& addr) {
    auto a = cql::inet_address::parse(addr);
    return a ? std::string(a->address()) : std::string();
}

}  // namespace

void cluster::rebuild_schema_tables() {
    auto& s = _keyspaces["system_schema"];
    for (auto& [name, t] : s.tables) t->clear();
    for (auto& [ksname, ks] : _keyspaces) {
        put_row(*s.tables["keyspaces"], {{"keyspace_name", ksname},
                                         {"durable_writes", std::string(1, ks.durable_writes ? 1 : 0)},
                                         {"replication", text_map(ks.replication)}});
        for (auto& [tname, t] : ks.tables) {
            put_row(*s.tables["tables"],
                    {{"keyspace_name", ksname},
                     {"table_name", tname},
                     {"bloom_filter_fp_chance", encode(cql_type::simple(type_id::double_), 0.01)},
                     {"caching", text_map({{"keys", "ALL"}, {"rows_per_partition", "NONE"}})},
                     {"comment", ""},
                     {"compaction", text_map({{"class", "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy"}})},
                     {"compression", text_map({{"chunk_length_in_kb", "16"}, {"class", "org.apache.cassandra.io.compress.LZ4Compressor"}})},
                     {"crc_check_chance", encode(cql_type::simple(type_id::double_), 1.0)},
                     {"default_time_to_live", be32(0)},
                     {"flags", text_set({"compound"})},
                     {"gc_grace_seconds", be32(864000)},
                     {"id", uuid_bytes_str(t->def.id)},
                     {"max_index_interval", be32(2048)},
                     {"memtable_flush_period_in_ms", be32(0)},
                     {"min_index_interval", be32(128)},
                     {"speculative_retry", "99p"}});
            for (auto& c : t->def.columns) {
                const char* kind = c.kind == column_kind::partition_key ? "partition_key"
                                   : c.kind == column_kind::clustering  ? "clustering"
                                   : c.kind == column_kind::static_     ? "static"
                                                                        : "regular";
                put_row(*s.tables["columns"],
                        {{"keyspace_name", ksname},
                         {"table_name", tname},
                         {"column_name", c.name},
                         {"clustering_order", c.kind == column_kind::clustering ? (c.descending ? "desc" : "asc") : "none"},
                         {"column_name_bytes", c.name},
                         {"kind", kind},
                         {"position", be32(c.position)},
                         {"type", cql::to_cql_string(c.type)}});
            }
        }
        for (auto& [tyname, ty] : ks.types) {
            std::vector<std::string> names, types;
            for (auto& [f, ft] : ty.fields) {
                names.push_back(f);
                types.push_back(cql::to_cql_string(ft));
            }
            put_row(*s.tables["types"], {{"keyspace_name", ksname},
                                         {"type_name", tyname},
                                         {"field_names", text_list(names)},
                                         {"field_types", text_list(types)}});
        }
    }
}

// system.local / peers / peers_v2 as the node `node` sees them.
void cluster::system_rows(table& t, int node) {
    t.clear();
    auto tokens_of = [](const node_info& n) {
        std::vector<std::string> out;
        for (auto tk : n.tokens) out.push_back(std::to_string(tk));
        return text_set(out);
    };
    const std::string version = release_version();
    const std::string schema = uuid_bytes_str(_schema_version);
    if (t.def.name == "local") {
        const auto& n = _cfg.nodes[static_cast<size_t>(node)];
        put_row(t, {{"key", "local"},
                    {"bootstrapped", "COMPLETED"},
                    {"broadcast_address", inet_bytes(n.address)},
                    {"broadcast_port", be32(7000)},
                    {"cluster_name", _cfg.cluster_name},
                    {"cql_version", "3.4.5"},
                    {"data_center", n.datacenter},
                    {"gossip_generation", be32(1700000000)},
                    {"host_id", uuid_bytes_str(n.host_id)},
                    {"listen_address", inet_bytes(n.address)},
                    {"listen_port", be32(7000)},
                    {"native_protocol_version", _cfg.version == "3.11" ? "4" : "5"},
                    {"partitioner", "org.apache.cassandra.dht.Murmur3Partitioner"},
                    {"rack", n.rack},
                    {"release_version", version},
                    {"rpc_address", inet_bytes(n.address)},
                    {"rpc_port", be32(n.port)},
                    {"schema_version", schema},
                    {"tokens", tokens_of(n)}});
        return;
    }
    for (size_t i = 0; i < _cfg.nodes.size(); ++i) {
        if (static_cast<int>(i) == node) continue;
        const auto& n = _cfg.nodes[i];
        if (t.def.name == "peers") {
            put_row(t, {{"peer", inet_bytes(n.address)},
                        {"data_center", n.datacenter},
                        {"host_id", uuid_bytes_str(n.host_id)},
                        {"preferred_ip", inet_bytes(n.address)},
                        {"rack", n.rack},
                        {"release_version", version},
                        {"rpc_address", inet_bytes(n.address)},
                        {"schema_version", schema},
                        {"tokens", tokens_of(n)}});
        } else {
            put_row(t, {{"peer", inet_bytes(n.address)},
                        {"peer_port", be32(7000)},
                        {"data_center", n.datacenter},
                        {"host_id", uuid_bytes_str(n.host_id)},
                        {"native_address", inet_bytes(n.address)},
                        {"native_port", be32(n.port)},
                        {"preferred_ip", inet_bytes(n.address)},
                        {"preferred_port", be32(7000)},
                        {"rack", n.rack},
                        {"release_version", version},
                        {"schema_version", schema},
                        {"tokens", tokens_of(n)}});
        }
    }
}

std::shared_ptr<table> cluster::find_table(const std::string& ks_in, const std::string& name, const session& s,
                                           error_message& err) {
    std::string ks = ks_in.empty() ? s.keyspace : ks_in;
    if (ks.empty()) {
        err = error_message::invalid("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename");
        return nullptr;
    }
    auto k = _keyspaces.find(ks);
    if (k == _keyspaces.end()) {
        err = error_message::invalid("Keyspace " + ks + " does not exist");
        return nullptr;
    }
    auto t = k->second.tables.find(name);
    if (t == k->second.tables.end()) {
        if (ks == "system" && name == "peers_v2" && _cfg.version == "3.11") {
            err = error_message::invalid("unconfigured table peers_v2");
            return nullptr;
        }
        err = error_message::invalid("unconfigured table " + name);
        return nullptr;
    }
    if (ks == "cqlsim" && name == "requests") {
        // Built from the logs on each read.
        auto& requests = *k->second.tables["requests"];
        requests.clear();
        for (auto& [node, log] : _logs) {
            int64_t seq = 0;
            for (auto& r : log) {
                std::vector<std::pair<std::string, std::string>> values = {
                    {"node", be32(node + 1)},       {"seq", be64(seq++)},          {"at_us", be64(r.at_us)},
                    {"opcode", r.opcode},           {"statement", r.statement},    {"consistency", r.consistency},
                    {"connection", be64(r.connection)}};
                if (r.client_timestamp) values.emplace_back("client_timestamp", be64(*r.client_timestamp));
                put_row(requests, values);
            }
        }
    }
    if (ks == "system" && (name == "local" || name == "peers" || name == "peers_v2")) {
        if (name == "peers_v2" && _cfg.version == "3.11") {
            err = error_message::invalid("unconfigured table peers_v2");
            return nullptr;
        }
        system_rows(*t->second, s.node);
    }
    return t->second;
}

}  // namespace tandem::cqlsim
