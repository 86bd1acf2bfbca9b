#pragma once
// cqlsim's cluster: the schema, the data (one store shared by every node: replication is not
// simulated), the nodes, and statement execution. Single-threaded: it lives on the worker
// thread that serves every node of the cluster.
//
// Semantics follow Cassandra where a migration proxy can tell the difference: every cell keeps
// its write timestamp and the newest write wins (ties: a tombstone, then the greater value),
// deletes are tombstones, TTLs expire, an INSERT gives the row a liveness marker.

#include <cstdint>
#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cql/error_body.hh"
#include "cql/primitives.hh"
#include "cql/query.hh"
#include "cql/result.hh"
#include "cql/types.hh"
#include "tools/cqlsim/statement.hh"

namespace tandem::cqlsim {

enum class column_kind : uint8_t { partition_key, clustering, regular, static_ };

struct column {
    std::string name;
    cql::cql_type type;
    column_kind kind = column_kind::regular;
    int position = -1;  // within the partition or clustering key
    bool descending = false;
};

struct table_def {
    std::string keyspace, name;
    cql::uuid_bytes id{};
    std::vector<column> columns;  // partition key, clustering key, then the rest by name
    std::vector<int> pk, ck;      // indexes into columns
    int find(const std::string& col) const;
};

struct keyspace_def {
    std::string name;
    std::vector<std::pair<std::string, std::string>> replication;
    bool durable_writes = true;
    std::map<std::string, std::shared_ptr<struct table>> tables;
    std::map<std::string, create_type> types;
};

struct cell {
    std::optional<std::string> value;  // nullopt: a tombstone
    int64_t timestamp = INT64_MIN;
    int64_t expires_s = 0;  // 0: never
    int32_t ttl = 0;
};

struct row {
    std::vector<cell> cells;  // by column index
    int64_t marker_ts = INT64_MIN;
    int64_t marker_expires_s = 0;
    int64_t deleted_ts = INT64_MIN;
};

// Orders clustering keys as the table's clustering types and orders do.
struct clustering_less {
    const table_def* def = nullptr;
    bool operator()(const std::string& a, const std::string& b) const;
};

struct partition {
    std::string key;  // the serialized partition key (composite form for several columns)
    std::vector<std::string> components;
    std::vector<cell> statics;
    int64_t deleted_ts = INT64_MIN;
    std::map<std::string, row, clustering_less> rows;
};

struct table {
    table_def def;
    // By (token, key): the order of a token() scan. Point lookups go through `index` (the
    // ordered map alone cost a fifth of an end-to-end EXECUTE, measured with perf).
    std::map<std::pair<int64_t, std::string>, partition> partitions;
    std::unordered_map<std::string, partition*> index;

    partition* find(const std::string& key) {
        auto it = index.find(key);
        return it == index.end() ? nullptr : it->second;
    }
    // Creates an empty partition for `key` when there is none.
    partition& get(const std::string& key, const std::vector<std::string>& components);
    void clear() {
        partitions.clear();
        index.clear();
    }
};

struct node_info {
    std::string address;  // "127.0.0.1"
    uint16_t port = 9042;
    std::string datacenter = "datacenter1";
    std::string rack = "rack1";
    cql::uuid_bytes host_id{};
    std::vector<int64_t> tokens;
};

struct cluster_config {
    std::string cluster_name = "cqlsim";
    std::string version = "4.1";  // 3.11, 4.1, 5.0
    int vnodes = 16;
    std::vector<node_info> nodes;
    // Mixed into prepared ids: two clusters that hand out different ids for the same statement
    // (different Cassandra versions do), to exercise a proxy's id rewriting.
    std::string prepared_id_salt;
};

// One request, as a node's log remembers it (readable as cqlsim.requests).
struct logged_request {
    int64_t at_us = 0;
    std::string opcode;     // QUERY, PREPARE, EXECUTE, BATCH
    std::string statement;  // query text; for EXECUTE the prepared statement's text
    std::string consistency;
    std::optional<int64_t> client_timestamp;
    int64_t connection = 0;  // which connection it came on: numbered from 1 per cqlsim process, in accept order
};

// A fault a node injects into matching requests (set in cqlsim.faults).
struct fault {
    enum class action : uint8_t { none, latency, write_timeout, read_timeout, unavailable, overloaded, server_error, drop, close };
    action a = action::none;
    int32_t value = 0;  // latency: milliseconds
};

struct prepared_statement {
    std::string id;
    std::string query;
    std::string keyspace;
    statement parsed;
    std::vector<cql::column_spec> bind;
    std::vector<uint16_t> pk_indexes;
    std::vector<cql::column_spec> result;
};

// What a connection contributes to executing a statement.
struct session {
    std::string keyspace;
    int node = 0;
    uint8_t version = 4;
};

struct execution {
    std::optional<cql::error_message> error;
    std::string body;              // RESULT body when no error
    std::optional<cql::schema_change> change;  // to push as an event
};

class cluster {
public:
    explicit cluster(cluster_config cfg);

    const cluster_config& config() const { return _cfg; }
    std::string release_version() const;
    const cql::uuid_bytes& schema_version() const { return _schema_version; }

    execution query(session& s, std::string_view text, const cql::query_parameters& p);
    execution prepare(session& s, std::string_view text, std::optional<std::string_view> keyspace);
    execution execute(session& s, std::string_view id, const cql::query_parameters& p);
    execution run_batch(session& s, const cql::batch_message& b);

    size_t prepared_count() const { return _prepared.size(); }

    // Request log, bounded per node.
    static constexpr size_t request_log_max = 10000;
    void log_request(int node, logged_request r);
    // The text of a prepared statement (for logs and fault matching); empty when unknown.
    std::string prepared_text(std::string_view id) const;
    // The fault for a request of `kind` ("read", "write", "ddl", "other") on `node`: rules for
    // the node win over rules for every node (-1), a kind over "any".
    fault fault_for(int node, const std::string& kind);
    bool node_up(int node);
    // Overrides "now" for tests of TTL expiry (seconds since the epoch); 0 = the real clock.
    void set_clock_offset_s(int64_t off) { _clock_offset_s = off; }

private:
    struct bound {
        std::vector<cql::value_ref> values;  // by marker index
    };
    struct exec_ctx {
        session& s;
        const bound& b;
        int64_t now_us;
        std::optional<int64_t> default_ts;
        uint8_t version;
        int32_t page_size = -1;
        std::optional<std::string> paging_state;
        bool skip_metadata = false;
    };

    execution run(exec_ctx& c, const statement& st, const prepared_statement* prep);
    execution run_select(exec_ctx& c, const select& s, const prepared_statement* prep);
    // A write statement, by pointer: executing must not copy the statement tree.
    using write_ref = std::variant<const insert*, const update*, const delete_*>;
    execution run_write(exec_ctx& c, write_ref w, int64_t batch_ts);
    execution ddl(exec_ctx& c, const statement& st);
    std::shared_ptr<table> find_table(const std::string& ks, const std::string& name, const session& s,
                                      cql::error_message& err);
    void bump_schema();
    void rebuild_schema_tables();
    void system_rows(table& t, int node);
    int64_t now_s() const;

    cluster_config _cfg;
    cql::uuid_bytes _schema_version{};
    std::map<std::string, keyspace_def> _keyspaces;
    std::unordered_map<std::string, prepared_statement> _prepared;
    int64_t _clock_offset_s = 0;
    std::map<int, std::deque<logged_request>> _logs;
    int64_t _last_ts_us = 0;

};

// Builds a table from CREATE TABLE; `err` says why not (unknown key column, misplaced static).
std::shared_ptr<table> make_table(const create_table& ct, const std::string& ks, std::string& err);

}  // namespace tandem::cqlsim
