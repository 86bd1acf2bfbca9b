#pragma once
// A client's view of one cluster, on a net::worker (its thread only): connects to a contact
// point, discovers the nodes of its datacenter from system.local / system.peers (with their
// tokens: a token_ring), opens `connections_per_node` connections to each, prepares statements
// on every node (Cassandra keeps prepared statements per node; drivers prepare everywhere), and
// picks a connection per request: the owner of the routing key's token (token-aware), else
// round robin. A node that cannot be reached is marked down and its keys go to the next node of
// the ring. Paged reads follow `paging_state` to the last page.
//
// Used by cqlbench; the blocking façade (blocking.hh) wraps it for start-up code and tools.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/client/connection.hh"
#include "core/client/token_ring.hh"
#include "cql/query.hh"
#include "cql/result.hh"

namespace tandem::core::client {

struct cluster_options {
    std::string host = "127.0.0.1";  // the contact point
    uint16_t port = 9042;            // every node's
    connect_options connection;
    int connections_per_node = 1;
    bool discover = true;  // false: only the contact point
    std::string local_datacenter;  // empty: the contact point's
    std::function<void(const std::string&)> log;  // warnings (a node marked down), or none
};

struct node {
    std::string address;
    std::string datacenter, rack, host_id;
    bool up = true;
    std::vector<connection*> conns;
};

// A statement prepared on every reachable node (the same id everywhere: Cassandra derives it
// from the text and keyspace).
struct prepared_statement {
    std::string query;
    std::string id;
    std::string result_metadata_id;
    cql::prepared_metadata metadata;
    cql::rows_metadata result_metadata;
};

// Rows of a paged read, copied out of the replies.
struct rows_result {
    std::vector<cql::column_spec> columns;
    std::vector<std::vector<std::optional<std::string>>> rows;
};

class cluster {
public:
    using done_fn = std::function<void(const std::string& error)>;
    cluster(net::worker& w, cluster_options opts);
    ~cluster();
    cluster(const cluster&) = delete;
    cluster& operator=(const cluster&) = delete;

    // Contact point, discovery, then every node's connections; `done` once all were tried
    // (error: the contact point could not be used, or no node could be reached).
    void connect(done_fn done);
    // Prepares on every node that is up; `done` gets the statement or an error.
    void prepare(std::string query, std::function<void(std::shared_ptr<const prepared_statement>, const std::string& error)> done);
    // Every page of a QUERY (`params` without paging_state; page_size defaults to 5000), read
    // from a replica of `token` when given (a token range's reads), else round robin.
    void query_all(std::string query, cql::query_parameters params, std::function<void(rows_result, const std::string& error)> done,
                   std::optional<int64_t> token = std::nullopt);

    // The connection for a request: with a routing key, the owner of its token (or the next
    // node of the ring that is up and has room), the least loaded of its connections; without
    // one, round robin. Null when no connection has a free stream id.
    connection* pick(std::optional<std::string_view> routing_key = std::nullopt);
    // The same by token (a replica of `token`), or round robin without one.
    connection* pick_token(std::optional<int64_t> token);
    // Closes every connection.
    void close();

    const std::vector<node>& nodes() const { return _nodes; }
    const token_ring& ring() const { return _ring; }
    size_t connection_count() const { return _all.size(); }
    const std::vector<connection*>& all_connections() const { return _all; }
    uint8_t version() const { return _version; }
    const std::string& local_datacenter() const { return _dc; }

private:
    void discover(connection* c, done_fn done);
    void open_all(done_fn done);
    void joined(uint32_t node_index, connection* c);
    void fetch_page(const std::shared_ptr<struct paging>& pg);

    net::worker& _w;
    cluster_options _opts;
    std::vector<node> _nodes;  // [0]: the contact point
    token_ring _ring;
    std::vector<connection*> _all;
    size_t _next = 0;  // round robin
    uint8_t _version = 0;
    std::string _dc;
    std::shared_ptr<bool> _alive = std::make_shared<bool>(true);
};

// Values (each serialized, or null) as a value_list that views `storage`.
cql::value_list bind_values(const std::vector<std::optional<std::string>>& values, std::string& storage);
// A QUERY body for `text` without values.
std::string query_body(std::string_view text, uint8_t version, cql::consistency cl = cql::consistency::one);
// A RESULT reply as columns and owned cells (none unless it is Rows); nullopt with `error` set
// for an ERROR or a malformed reply. `paging_state` gets the next page's state, if any.
std::optional<rows_result> read_rows(const reply& r, std::string& error, std::optional<std::string>* paging_state = nullptr);

// The value of a partition key for token-aware routing: the single column's bytes, or the
// composite encoding of several (each [short length][bytes][0]).
std::string routing_key(const std::vector<std::string_view>& components);

}  // namespace tandem::core::client
